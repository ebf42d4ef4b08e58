"""Crash safety: the worker process (`python -m assist.sync.worker`) is SIGKILLed while deliveries are in
flight and started again.  No summary is lost, and neither CRM records any summary twice (on SQLite and on
PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import assist
from assist.store.db import Database
from tests.crm_fakes.base import Fault
from tests.crm_fakes.harness import SECRET, open_db, submit_call
from tests.crm_fakes.salesforce import FakeSalesforce
from tests.crm_fakes.webhook import WebhookReceiver

N = 24
REPO = Path(assist.__file__).resolve().parents[1]


async def _wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def _start(database_url: str, env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "assist.sync.worker",
            "--db",
            database_url,
            "--log-format",
            "json",
            env=env,
            stdout=out,
            stderr=out,
            cwd=str(REPO),
        )


async def _open_rows(db: Database) -> dict[str, int]:
    rows = await db.fetchall("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status")
    return {r["status"]: r["n"] for r in rows}


async def test_sigkill_mid_delivery_then_restart(tmp_path: Path, database_url: str) -> None:
    db = await open_db(database_url)
    now = time.time()
    for i in range(N):
        call_id = f"crash-{i:03d}"
        await submit_call(db, call_id, ["webhook", "salesforce"], ended_at=now - i, now=now)

    async with WebhookReceiver(SECRET) as rx, FakeSalesforce() as sf:
        # both CRMs store the data, then take 0.4 s to answer: a kill lands between the two
        rx.set_mode("hook", Fault(delay=0.4, after=True))
        sf.set_mode("upsert", Fault(delay=0.4, after=True))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ASSIST_")},
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
            "ASSIST_SYNC_TARGETS": "webhook,salesforce",
            "ASSIST_SYNC_WEBHOOK_URL": rx.url + "/hook",
            "ASSIST_SYNC_WEBHOOK_SECRET": SECRET,
            "ASSIST_SYNC_SALESFORCE_INSTANCE_URL": sf.url,
            "ASSIST_SYNC_SALESFORCE_LOGIN_URL": sf.url,
            "ASSIST_SYNC_SALESFORCE_ACCESS_TOKEN": "tok-0",
            "ASSIST_SYNC_SALESFORCE_CLIENT_ID": "cid",
            "ASSIST_SYNC_SALESFORCE_CLIENT_SECRET": "csecret",
            "ASSIST_SYNC_SALESFORCE_REFRESH_TOKEN": "rtok",
            "ASSIST_SYNC_CONCURRENCY": "4",
            "ASSIST_SYNC_POLL_SECONDS": "0.1",
            "ASSIST_SYNC_WORKER_ID": "node-a",
        }
        log = tmp_path / "worker.log"
        first = await _start(database_url, env, log)
        try:
            await _wait(
                lambda: len(rx.records) + len(sf.tasks) >= 8 and rx.inflight > 0 and sf.inflight > 0,
                30,
                "deliveries in flight",
            )
            first.send_signal(signal.SIGKILL)
            assert await first.wait() == -signal.SIGKILL
        finally:
            if first.returncode is None:
                first.kill()
        stored_before_restart = (len(rx.records), len(sf.tasks))
        counts = await _open_rows(db)
        assert counts.get("inflight", 0) >= 1, counts  # killed with work leased
        assert counts.get("done", 0) < 2 * N

        second = await _start(database_url, env, log)
        try:
            done = False
            deadline = time.monotonic() + 60
            while not done:
                assert time.monotonic() < deadline, (await _open_rows(db), log.read_text()[-3000:])
                done = (await _open_rows(db)).get("done", 0) == 2 * N
                await asyncio.sleep(0.1)
            second.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(second.wait(), 15) == 0  # graceful stop
        finally:
            if second.returncode is None:
                second.kill()

    # nothing lost
    assert set(rx.summaries) == {f"sum_crash-{i:03d}" for i in range(N)}
    assert set(sf.tasks) == {f"crash-{i:03d}" for i in range(N)}
    # nothing recorded twice: the webhook receiver stored each summary version once, Salesforce created one
    # Task per call; what the dead worker had sent was sent again and recognised as the same record
    assert rx.stored_per_summary() == {f"sum_crash-{i:03d}:v1": 1 for i in range(N)}
    assert sf.created == N
    assert rx.duplicates + sf.updated >= 1, stored_before_restart
    assert "re-claimed deliveries interrupted by a restart" in log.read_text()
    await db.close()
