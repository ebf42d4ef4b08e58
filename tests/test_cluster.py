"""Several `assist serve` nodes on one PostgreSQL database (and one Redis), behind real HAProxy: nothing about a
call depends on the node that took its audio (issue 16).

- A node SIGKILLed in the middle of its CRM deliveries (the CRM failing with 503, then hanging) leaves leases
  that expire; the other node delivers every summary, each exactly once at the CRM.
- A rolling restart (each node drained with SIGTERM and started again) under live calls through HAProxy loses
  no call, no transcript and no summary, and refuses no caller.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest_asyncio

from assist.stream.simulate import SimulationError, simulate
from tests.conftest import MODEL_CACHE, MODEL_SPEC, CallAudio
from tests.crm_fakes.base import Fault
from tests.crm_fakes.webhook import WebhookReceiver
from tests.support.cluster import Balancer, Node, until
from tests.support.databases import postgres_schema

SECRET = "cluster-secret"


@pytest_asyncio.fixture
async def database() -> AsyncIterator[str]:
    async with postgres_schema() as url:
        yield url


def delivering_env(database: str, crm: WebhookReceiver) -> dict[str, str]:
    """A node on the shared database whose outbox delivers to `crm` at once, retries fast and leases briefly (a dead
    node's claims come free after 3 s)."""
    return {
        "ASSIST_DATABASE_URL": database,
        "ASSIST_SYNC_TARGETS": "webhook",
        "ASSIST_SYNC_WEBHOOK_URL": crm.url + "/hook",
        "ASSIST_SYNC_WEBHOOK_SECRET": SECRET,
        "ASSIST_SYNC_GRACE_MINUTES": "0",
        "ASSIST_SYNC_POLL_SECONDS": "0.2",
        "ASSIST_SYNC_LEASE_SECONDS": "3",
        "ASSIST_SYNC_BACKOFF_BASE": "0.3",
        "ASSIST_SYNC_BACKOFF_CAP": "1",
        "ASSIST_SYNC_CIRCUIT_FAILURES": "1000",
        "ASSIST_SYNC_HTTP_TIMEOUT": "120",
    }


async def _outbox(database: str) -> dict[str, int]:
    conn = await asyncpg.connect(database)
    try:
        rows = await conn.fetch("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status")
    finally:
        await conn.close()
    return {r["status"]: int(r["n"]) for r in rows}


async def _delivered_by(database: str) -> dict[str, int]:
    """Successful attempts per worker (a worker id is `<node id>/<random>`)."""
    conn = await asyncpg.connect(database)
    try:
        rows = await conn.fetch(
            "SELECT worker, COUNT(*) AS n FROM outbox_attempts WHERE outcome='delivered' GROUP BY worker"
        )
    finally:
        await conn.close()
    return {str(r["worker"]).split("/")[0]: int(r["n"]) for r in rows}


async def test_a_node_killed_mid_delivery_leaves_its_summaries_to_the_other(
    tmp_path: Path, database: str, call8k: CallAudio
) -> None:
    async with WebhookReceiver(SECRET) as crm:
        crm.set_mode("hook", Fault(status=503, body={"error": "maintenance"}))
        a = Node("node-a", tmp_path / "a", delivering_env(database, crm))
        b = Node("node-b", tmp_path / "b", delivering_env(database, crm))
        try:
            a.start()
            await a.ready()
            calls = [await simulate(call8k.path, "twilio", a.url, fast=True, call_id=f"kill-{i}") for i in range(4)]

            async def four_rows_tried() -> bool:
                return sum((await _outbox(database)).values()) == 4 and crm.count("hook") >= 4

            await until(four_rows_tried, 60, "node A trying its four summaries against the failing CRM")
            # the CRM stops answering: node A's deliveries hang in flight, under its leases; then it is killed
            crm.set_mode("hook", Fault(delay=600))

            async def in_flight() -> bool:
                return (await _outbox(database)).get("inflight", 0) >= 2

            await until(in_flight, 60, "node A holding deliveries in flight")
            a.kill()
            assert await a.wait_exit(30) != 0
            assert crm.summaries == {}  # nothing reached the CRM so far

            crm.set_mode("hook", None)  # the CRM is back; node B starts and takes over what node A left
            b.start()
            await b.ready()

            async def all_delivered() -> bool:
                return (await _outbox(database)).get("done", 0) == 4

            await until(all_delivered, 90, "node B delivering the four summaries")
        finally:
            a.close()
            b.close()
        stored = crm.stored_per_summary()
        assert len(stored) == 4 and set(stored.values()) == {1}, stored  # each summary version stored once
        assert sorted(d["call_id"] for d in crm.summaries.values()) == sorted(calls)
        assert crm.rejected == []
        assert await _delivered_by(database) == {"node-b": 4}  # node A delivered nothing; node B all four


async def _calls(database: str) -> dict[str, dict[str, object]]:
    conn = await asyncpg.connect(database)
    try:
        rows = await conn.fetch(
            """SELECT c.call_id, c.status, c.end_reason, (SELECT COUNT(*) FROM segments s WHERE s.call_id=c.call_id)
                      AS segments, (SELECT COUNT(*) FROM summaries m WHERE m.call_id=c.call_id) AS summaries
               FROM calls c"""
        )
    finally:
        await conn.close()
    return {r["call_id"]: dict(r) for r in rows}


async def test_a_rolling_restart_under_live_calls_loses_nothing(
    tmp_path: Path, database: str, call8k: CallAudio
) -> None:
    """Two nodes with the speech model behind HAProxy; four calls at real-time pace, then each node in turn is
    drained (SIGTERM), waited for and started again while more calls arrive through the balancer.  Every call
    runs to its end with its transcript, every summary reaches the CRM once, and no caller is refused."""
    async with WebhookReceiver(SECRET) as crm:
        env = {
            **delivering_env(database, crm),
            "ASSIST_VOSK_MODEL": MODEL_SPEC,
            "ASSIST_MODEL_CACHE": str(MODEL_CACHE),
            "ASSIST_DRAIN_SECONDS": "120",
            "ASSIST_DRAIN_ADMIT_SECONDS": "6",
            "ASSIST_MAX_LAG": "10",  # about restarts, not overload: a busy test machine must not refuse calls
        }
        nodes = [Node("node1", tmp_path / "n1", env), Node("node2", tmp_path / "n2", env)]
        balancer = Balancer(
            tmp_path / "lb", ((nodes[0].port, nodes[0].audiosocket_port), (nodes[1].port, nodes[1].audiosocket_port))
        )
        errors: list[str] = []
        calls: list[str] = []

        async def call(i: int) -> None:
            call_id = f"roll-{i}"
            calls.append(call_id)
            try:
                await simulate(call8k.path, "twilio", balancer.url, fast=False, call_id=call_id)
            except SimulationError as exc:
                errors.append(f"{call_id}: {exc}")

        try:
            for n in nodes:
                n.start()
            await asyncio.gather(*(n.ready() for n in nodes))
            balancer.start()
            await balancer.wait_states({"node1": "UP", "node2": "UP"})
            running = [asyncio.create_task(call(i)) for i in range(4)]
            await asyncio.sleep(3)
            k = 4
            for n in nodes:
                n.signal(signal.SIGTERM)  # drain: not ready at once, calls it has run to their end
                await asyncio.sleep(1)
                running += [asyncio.create_task(call(k)), asyncio.create_task(call(k + 1))]  # the balancer still
                k += 2  # sends some here during the admit window; later ones go to the other node
                assert await n.wait_exit(150) == 0, n.log_text()[-2000:]
                n.start()
                await n.ready()
                await balancer.wait_states({"node1": "UP", "node2": "UP"})
            await asyncio.gather(*running)
            assert errors == []

            async def all_done() -> bool:
                rows = await _calls(database)
                return len(rows) == len(calls) and all(r["status"] == "ended" and r["summaries"] for r in rows.values())

            await until(all_done, 60, "every call ended and summarised")
            await until(lambda: _done(database, len(calls)), 60, "every summary delivered")
        finally:
            balancer.stop()
            for n in nodes:
                n.close()
        rows = await _calls(database)
        assert sorted(rows) == sorted(calls)
        assert all(r["end_reason"] != "shutdown" and int(str(r["segments"])) > 0 for r in rows.values()), rows
        stored = crm.stored_per_summary()
        assert len(stored) == len(calls) and set(stored.values()) == {1}, stored


async def _done(database: str, n: int) -> bool:
    return (await _outbox(database)).get("done", 0) == n
