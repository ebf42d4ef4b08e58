"""Overload: the policy (levels, shedding, capacity from measurements) and the engine acting on it with
real vosk decoding more audio than it can keep up with."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import numpy as np

from assist.events import AudioFrame, TranscriptSegment
from assist.stream.overload import Capacity, Governor, Level
from assist.stream.recognition import AsrEngine
from tests.support.speech import render


def _run(gov: Governor, backlog: float, start: float, seconds: float, step: float = 0.5) -> list[float]:
    """Feed a constant backlog; the times at which a shed was asked for."""
    sheds = []
    t = start
    while t < start + seconds:
        if gov.observe(t, backlog):
            sheds.append(t)
        t += step
    return sheds


def test_levels_step_up_one_at_a_time_after_a_sustained_excess() -> None:
    gov = Governor(max_lag=1.0, raise_after=2.0)
    assert _run(gov, 0.4, 0, 10) == [] and gov.level == Level.NORMAL
    _run(gov, 1.4, 10, 1.5)
    assert gov.level == Level.NORMAL, "a short excess changes nothing"
    _run(gov, 1.4, 11.5, 3)
    assert gov.level == Level.NO_PARTIALS and not gov.partials and gov.admitting
    _run(gov, 5.0, 20, 2.5)
    assert gov.level == Level.GATE_HARDER and gov.gate_harder and not gov.admitting
    sheds = _run(gov, 5.0, 22.5, 12)
    assert gov.level == Level.SHED
    assert sheds and all(b - a >= gov.shed_cooldown for a, b in itertools.pairwise(sheds))


def test_levels_step_down_after_a_sustained_recovery() -> None:
    gov = Governor(max_lag=1.0, raise_after=0.5, lower_after=5.0)
    _run(gov, 5.0, 0, 3)
    assert gov.level == Level.SHED
    _run(gov, 0.8, 3, 20)  # below the first threshold but not below recover_ratio of it: stay
    assert gov.level == Level.SHED
    _run(gov, 0.2, 23, 5.5)
    assert gov.level == Level.GATE_HARDER
    _run(gov, 0.2, 28.5, 20)
    assert gov.level == Level.NORMAL and gov.partials and gov.admitting


def test_no_shed_below_the_shed_threshold() -> None:
    gov = Governor(max_lag=1.0, raise_after=0.5)
    assert _run(gov, 2.5, 0, 30) == []
    assert gov.level == Level.GATE_HARDER


def test_capacity_follows_measured_cost() -> None:
    cap = Capacity(cores=2, utilisation=0.8, min_audio=60)
    cap.add(3.0, 30.0)
    assert cap.streams() is None, "not trusted before a minute of audio"
    cap.add(3.0, 30.0)
    cap.add(3.0, 30.0)
    assert cap.cost is not None and abs(cap.cost - 0.1) < 1e-9
    assert cap.streams() == 16
    for _ in range(40):  # the host gets slower (another tenant, thermal limits): the estimate follows
        cap.add(12.0, 30.0)
    fewer = cap.streams()
    assert fewer is not None and fewer <= 5


def _speech_pcm(rate: int) -> bytes:
    words = render("연체된 대출 금액에 대해 말씀드리려고 전화드렸습니다", "agent", rate)
    pause = np.zeros(rate // 2, dtype=np.int32)
    return np.clip(np.concatenate([words, pause] * 12), -32768, 32767).astype("<i2").tobytes()


async def test_engine_sheds_the_newest_call_when_it_cannot_keep_up(model_dir: Path) -> None:
    """Eight calls at real time on one decode thread that decodes everything (no gate) cannot keep up:
    the engine stops partials, hardens the gate, refuses new calls and asks for the newest call to be shed.
    A stream sent faster than real time does not count as the host falling behind."""
    rate = 8000
    engine = AsrEngine(model_dir, workers=1, vad="off", max_streams=16, max_lag=0.3)
    await engine.start()
    shed: list[tuple[str, str]] = []
    engine.on_shed = lambda call_id, why: shed.append((call_id, why))
    segs: list[TranscriptSegment] = []
    try:
        pcm = _speech_pcm(rate)
        streams = []
        for i in range(8):
            s = engine.open_stream(f"call-{i}", "customer", rate, "ko-KR", segs.append)
            assert s is not None
            streams.append(s)
            await asyncio.sleep(0.01)  # distinct opening times: call-7 is the newest
        step = rate // 10 * 2  # 100 ms of audio per stream, every 100 ms
        levels = set()
        t0 = time.monotonic()
        for n, off in enumerate(range(0, len(pcm), step)):
            for i, s in enumerate(streams):
                s.feed(
                    AudioFrame(
                        call_id=f"call-{i}",
                        speaker="customer",
                        start=off / 2 / rate,
                        sample_rate=rate,
                        pcm=pcm[off : off + step],
                        received_at=time.monotonic(),
                    )
                )
            await asyncio.sleep(max(0.0, t0 + (n + 1) * 0.1 - time.monotonic()))
            levels.add(engine.governor.level)
            if shed:
                break
        assert shed, f"nothing shed; levels seen {levels}, backlog {engine.status()['backlog']}"
        assert shed[0][0] == "call-7" and "overloaded" in shed[0][1]
        assert {Level.NO_PARTIALS, Level.GATE_HARDER, Level.SHED} <= levels
        why = engine.admission(2)
        assert why is not None and "overloaded" in why
        assert engine.status()["overload_level"] == "SHED" and engine.status()["shed"] >= 1
    finally:
        await engine.stop()


async def test_a_burst_sender_is_not_overload(model_dir: Path) -> None:
    """One stream sent ten times faster than real time queues its own audio; the host is not behind."""
    rate = 8000
    engine = AsrEngine(model_dir, workers=1, vad="off", max_streams=4, max_lag=0.4)
    await engine.start()
    try:
        pcm = _speech_pcm(rate)
        s = engine.open_stream("burst", "customer", rate, "ko-KR", lambda seg: None)
        assert s is not None
        step = rate * 2  # a second of audio every 100 ms
        for off in range(0, len(pcm), step):
            s.feed(
                AudioFrame(
                    call_id="burst",
                    speaker="customer",
                    start=off / 2 / rate,
                    sample_rate=rate,
                    pcm=pcm[off : off + step],
                    received_at=time.monotonic(),
                )
            )
            await asyncio.sleep(0.1)
        now = time.monotonic()
        assert not s.paced(now), "ten times real time is not a live call"
        assert engine.backlog(now) == 0.0
        assert engine.governor.level == Level.NORMAL
    finally:
        await engine.stop()


def test_harder_gate_and_back() -> None:
    engine = AsrEngine(None, workers=1)
    from assist.stream.recognition import SpeakerStream

    s = SpeakerStream(engine, "c", "customer", 8000, "ko-KR", lambda seg: None)
    gate = s._gate
    assert gate is not None
    floor_db, tail = gate.above_floor_db, gate.tail_frames
    s._harden_gate(True)
    assert gate.above_floor_db == floor_db + 6 and gate.tail_frames == max(1, tail // 2)
    s._harden_gate(True)  # idempotent
    assert gate.above_floor_db == floor_db + 6
    s._harden_gate(False)
    assert (gate.above_floor_db, gate.tail_frames) == (floor_db, tail)


async def test_a_shed_call_hangs_up_with_the_protocol_and_ends_as_overload() -> None:
    from assist.events import CallEnded, CallRefused
    from assist.stream.calls import CallManager
    from assist.stream.protocols.base import CallStart

    events: list[object] = []
    manager = CallManager(AsrEngine(None, workers=1), events.append)
    call = manager.start_call("twilio", CallStart(external_id="CA1", sample_rate=8000))
    told: list[tuple[str, str]] = []
    call.hangups.append(lambda reason, detail: told.append((reason, detail)))
    manager.shed("CA1", "overloaded: test")
    for _ in range(50):
        if "CA1" not in manager.live:
            break
        await asyncio.sleep(0.01)
    assert told == [("overload", "overloaded: test")]
    refused = [e for e in events if isinstance(e, CallRefused)]
    ended = [e for e in events if isinstance(e, CallEnded)]
    assert refused and refused[0].reason == "overloaded: test"
    assert ended and ended[0].reason == "overload"
    assert manager.counters["calls_shed"] == 1
    manager.shed("CA1", "again")  # an ended call is not shed twice
    assert manager.counters["calls_shed"] == 1


def test_a_shed_call_is_not_shed_again_and_its_backlog_is_dropped() -> None:
    """Found by bench/overload.py: a shed call's streams stayed among the engine's streams while they decoded
    their whole backlog, so every later shed picked the same (already ended) call and ended nothing, and that
    backlog kept the level at SHED.  Now a shed call's queued audio is dropped, it no longer counts in the
    backlog, and the next shed picks the next newest call."""
    from assist.stream.recognition import SpeakerStream

    engine = AsrEngine(None, workers=1)
    shed: list[str] = []
    engine.on_shed = lambda call_id, why: shed.append(call_id)
    now = time.monotonic()
    streams = []
    for i in range(3):
        for speaker in ("customer", "agent"):
            s = SpeakerStream(engine, f"call-{i}", speaker, 8000, "ko-KR", lambda seg: None)
            s.opened_at = now - 30 + i  # call-2 is the newest
            s.feed(
                AudioFrame(
                    call_id=f"call-{i}",
                    speaker=speaker,
                    start=0.0,
                    sample_rate=8000,
                    pcm=bytes(1600),
                    received_at=now - 10,
                )
            )
            engine.streams.add(s)
            streams.append(s)
    assert engine.backlog(now) > 9.0
    engine._shed(10.0)
    assert shed == ["call-2"]
    dropped = [s for s in streams if s.call_id == "call-2"]
    assert all(s.shed and s.backlog(now) == 0.0 and not s._queue for s in dropped)
    dropped[0].feed(
        AudioFrame(call_id="call-2", speaker="customer", start=0.1, sample_rate=8000, pcm=bytes(1600), received_at=now)
    )
    assert not dropped[0]._queue, "audio of a shed call is ignored"
    engine._shed(10.0)
    assert shed == ["call-2", "call-1"], "the next shed ends the next newest call, not the same one again"


def test_no_second_shed_while_the_backlog_comes_down() -> None:
    """After a shed the next one waits until the backlog stops falling, not just for the cooldown."""
    gov = Governor(max_lag=1.0, raise_after=0.5, shed_cooldown=5.0)
    sheds = _run(gov, 6.0, 0, 3)
    assert gov.level == Level.SHED and len(sheds) == 1
    t, backlog = 3.0, 6.0
    while t < 20:  # draining slowly, still far above the shed threshold
        backlog -= 0.1
        assert not gov.observe(t, backlog), f"shed again at {t} while the backlog fell to {backlog:.1f}"
        t += 0.5
    assert gov.level == Level.SHED
    assert _run(gov, 6.5, 20, 1), "a backlog growing again past the last shed's sheds the next call"


def test_the_next_shed_waits_as_long_as_the_backlog_was() -> None:
    """Decodes in flight at a shed hold audio up to the backlog old: the shed cannot show before they return."""
    gov = Governor(max_lag=1.0, raise_after=0.5, shed_cooldown=5.0)
    sheds = _run(gov, 12.0, 0, 2)
    assert len(sheds) == 1
    later = _run(gov, 13.0, 2, 30)  # still rising: shed again, but not before 12 s have passed
    assert later and later[0] - sheds[0] >= 12.0


def test_one_decode_takes_at_most_a_second_of_queued_audio() -> None:
    """A stream that fell behind catches up in steps of at most MAX_DECODE_SECONDS, oldest audio first."""
    from assist.stream.recognition import MAX_DECODE_SECONDS, SpeakerStream

    engine = AsrEngine(None, workers=1)
    s = SpeakerStream(engine, "c", "customer", 8000, "ko-KR", lambda seg: None)
    frame = b"\x00\x01" * 160  # 20 ms
    for i in range(250):  # 5 s queued
        s.feed(
            AudioFrame(
                call_id="c", speaker="customer", start=i * 0.02, sample_rate=8000, pcm=frame, received_at=float(i)
            )
        )
    steps = []
    while s._queue:
        batch = s._take_batch()
        steps.append(sum(len(pcm) for _, pcm, _ in batch) / 2 / 8000)
        assert s._queued_bytes == sum(len(pcm) for _, pcm, _ in s._queue)
    assert steps == [MAX_DECODE_SECONDS] * 5


async def test_short_noise_only_connections_do_not_turn_real_calls_away(model_dir: Path) -> None:
    """Twenty connections that each dump three seconds of loud noise at once (a scanner, a fuzzer, a
    misconfigured PBX) queue decode work of their own making; a real call arriving meanwhile is admitted
    (issue 15, defect 7: 440 real calls were refused behind such connections)."""
    rate = 8000
    engine = AsrEngine(model_dir, workers=1, vad="energy", max_streams=64, max_lag=0.5)
    await engine.start()
    try:
        rng = np.random.default_rng(7)
        noise = (rng.normal(0, 6000, rate * 3)).clip(-32768, 32767).astype("<i2").tobytes()
        streams = []
        for i in range(20):
            s = engine.open_stream(f"noise-{i}", "customer", rate, "ko-KR", lambda seg: None)
            assert s is not None
            streams.append(s)
            step = rate * 2 // 5  # 200 ms frames, all at once
            for off in range(0, len(noise), step):
                s.feed(
                    AudioFrame(
                        call_id=f"noise-{i}",
                        speaker="customer",
                        start=off / 2 / rate,
                        sample_rate=rate,
                        pcm=noise[off : off + step],
                        received_at=time.monotonic(),
                    )
                )
        worst: str | None = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(x._queue or x._decoding_since for x in streams):
            await asyncio.sleep(0.2)
            why = engine.admission(2, active=0)
            if why is not None and not why.startswith("at capacity"):
                worst = why
                break
        assert worst is None, f"a real call was turned away behind noise-only connections: {worst}"
        assert engine.governor.level == Level.NORMAL
    finally:
        for s in streams:
            await s.close()
        await engine.stop()
