"""The overload benchmark's machinery (bench/overload.py `run_load`) at tiny scale against a real in-process
server: three short calls of real speech at real-time pace, room for one call.  It checks the accounting,
not timings: every offered call ends in exactly one outcome, and every refused call was announced."""

from __future__ import annotations

from pathlib import Path

from bench.overload import refusal_kind, run_load
from tests.conftest import start_server
from tests.support.speech import DEFAULT_TURNS, make_call


def test_refusal_kinds_follow_the_engine_reasons() -> None:
    assert refusal_kind("at capacity: 2 of 2 recognition streams busy") == "stream limit"
    assert refusal_kind("overloaded: recognition is shedding load (level GATE_HARDER)") == "overload level"
    assert refusal_kind("overloaded: recognition is 5.1s behind with 4 streams; the newest call is ended") == "shed"
    assert refusal_kind("recognition is lagging 2.00s behind (limit 1.50s)") == "lag"


async def test_accounting_adds_up_at_tiny_scale(tmp_path: Path) -> None:
    wav = tmp_path / "call.wav"
    make_call(wav, DEFAULT_TURNS[:2])  # two turns: a few seconds of call
    runner, srv = await start_server(tmp_path, max_streams=2)  # room for one call (two speaker streams)
    try:
        # all three start within a second: the first is admitted, the other two find it still running
        out = await run_load(srv.url, wav, calls=3, ramp=1.0, protocols=["twilio", "audiofork"], tail=2.0)
    finally:
        await runner.cleanup()
    assert out["offered"] == 3
    assert out["admitted"] + out["refused"] + out["failed"] == out["offered"]
    assert out["completed"] + out["shed"] <= out["admitted"]
    assert out["failed"] == 0, out["calls"]
    assert out["admitted"] >= 1 and out["refused"] >= 1
    assert out["refused_alerted"] == out["refused"], "every refused call got a call_refused event"
    assert out["shed_alerted"] == out["shed"]
    assert out["calls_refused_counter"] == out["refused"]
    assert sum(out["refused_by"].values()) == out["refused"]
    for call in out["calls"]:
        if call["outcome"] == "refused":
            assert call["refused_events"] and call["error"], call
    assert out["samples"], "/healthz was sampled"
