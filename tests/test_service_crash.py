"""The full service (`assist serve`, a real process) is SIGKILLed while summaries are on their way to the
CRM and started again: every call's summary reaches the CRM, none is recorded twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from assist.stream.simulate import simulate
from tests.conftest import CallAudio
from tests.crm_fakes.base import Fault
from tests.crm_fakes.webhook import WebhookReceiver
from tests.test_restart import ROOT, _free_port, _healthy

SECRET = "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
N = 6


def _spawn(data: Path, port: int, crm_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ASSIST_PORT": str(port),
        "ASSIST_HOST": "127.0.0.1",
        "ASSIST_DATA_DIR": str(data),
        "ASSIST_VOSK_MODEL": "",
        "ASSIST_AUDIOSOCKET_PORT": "",
        "ASSIST_RTP_PORTS": "",
        "ASSIST_LOG_FORMAT": "json",
        "ASSIST_SYNC_TARGETS": "webhook",
        "ASSIST_SYNC_WEBHOOK_URL": crm_url + "/hook",
        "ASSIST_SYNC_WEBHOOK_SECRET": SECRET,
        "ASSIST_SYNC_GRACE_MINUTES": "0",
        "ASSIST_SYNC_POLL_SECONDS": "0.2",
        "ASSIST_SYNC_BACKOFF_BASE": "0.5",
        "ASSIST_SYNC_WORKER_ID": "crash-test-node",
    }
    log = (data / f"server-{port}.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "assist.cli", "serve"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log
    )


async def _all_stored(url: str, call_ids: list[str]) -> None:
    async with aiohttp.ClientSession() as s:
        for _ in range(200):
            async with s.get(url + "/api/calls?limit=50") as r:
                stored = {c["call_id"] for c in (await r.json())["calls"]}
            if set(call_ids) <= stored:
                return
            await asyncio.sleep(0.05)
    raise AssertionError("the calls were not stored")


async def test_sigkill_during_deliveries(tmp_path: Path, call8k: CallAudio) -> None:
    async with WebhookReceiver(SECRET) as crm:
        # the CRM stores each summary, then takes a while to answer: a kill lands between store and ack
        crm.set_mode("hook", Fault(delay=1.5, after=True))
        port = _free_port()
        proc = _spawn(tmp_path, port, crm.url)
        try:
            await _healthy(f"http://127.0.0.1:{port}")
            call_ids = []
            for i in range(N):
                call_ids.append(
                    await simulate(
                        call8k.path,
                        "twilio",
                        f"127.0.0.1:{port}",
                        fast=True,
                        agent=f"agent-{i}",
                        account=f"acct-{i}",
                        language="zh-CN",
                    )
                )
            # the phone side's close returns at once and the server stores each call a moment later: kill only
            # once every call the phone system finished is stored (what the service owes a summary for)
            await _all_stored(f"http://127.0.0.1:{port}", call_ids)
            for _ in range(200):
                if crm.inflight > 0:
                    break
                await asyncio.sleep(0.05)
            assert crm.inflight > 0, "no delivery in flight to interrupt"
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
        acked_before = len(crm.order)
        crm.set_mode("hook", None)

        proc = _spawn(tmp_path, port, crm.url)
        try:
            await _healthy(f"http://127.0.0.1:{port}")
            for _ in range(600):
                got = {s.get("call_id") for s in crm.summaries.values()}
                if all(c in got for c in call_ids):
                    break
                await asyncio.sleep(0.1)
            got_calls = [str(s.get("call_id")) for s in crm.summaries.values()]
            assert sorted(got_calls) == sorted(call_ids), "every summary arrives, each once"
            assert len(crm.order) == N, "the CRM stored one record per summary"
            assert acked_before < N, "the kill interrupted deliveries"
        finally:
            proc.terminate()
            proc.wait(20)
