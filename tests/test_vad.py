"""The energy gate (sans-I/O) and the three recognition modes on real speech with real vosk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assist.stream.models import endpoint_overlay, resolve
from assist.stream.recognition import AsrEngine
from assist.stream.vad import EnergyGate, Run
from tests.conftest import MODEL_CACHE, MODEL_SPEC, CallAudio
from tests.support.engine import decode_call

RATE = 8000


def tone(seconds: float, dbfs: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    amp = 32768 * 10 ** (dbfs / 20) * np.sqrt(2)
    return (amp * np.sin(2 * np.pi * 440 * t)).astype("<i2")


def hiss(seconds: float, sigma: float, seed: int = 1, rate: int = RATE) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, sigma, int(seconds * rate)).astype("<i2")


def push_all(gate: EnergyGate, pcm: np.ndarray, piece: int) -> list[Run]:
    data = pcm.tobytes()
    runs: list[Run] = []
    for off in range(0, len(data), piece * 2):
        runs += gate.push(data[off : off + piece * 2], off / 2 / gate.rate)
    return runs


def merged(runs: list[Run], rate: int = RATE) -> list[tuple[float, float, bool]]:
    """(start, end, closes) of contiguous speech, however the runs were cut."""
    out: list[list[Any]] = []
    for r in runs:
        end = r.start + len(r.pcm) / 2 / rate
        if out and not out[-1][2] and abs(out[-1][1] - r.start) < 1e-6:
            out[-1][1] = end
            out[-1][2] = r.closes
        elif r.pcm:
            out.append([r.start, end, r.closes])
        elif r.closes and out:
            out[-1][2] = True
    return [(round(a, 3), round(b, 3), c) for a, b, c in out]


def test_silence_passes_nothing() -> None:
    gate = EnergyGate(RATE)
    assert push_all(gate, hiss(5.0, 6), 160) == []
    assert gate.frames_out == 0 and gate.frames_in == 250


@pytest.mark.parametrize(("tail", "passed_until"), [(0.2, 3.2), (None, 3.52)])
def test_speech_with_pre_roll_tail_and_hangover(tail: float | None, passed_until: float) -> None:
    gate = EnergyGate(RATE, pre_roll=0.3, hangover=0.5, tail=tail)
    pcm = np.concatenate([hiss(2.0, 6), tone(1.0, -20) + hiss(1.0, 6, 2), hiss(3.0, 6, 3)])
    runs = push_all(gate, pcm, 160)
    ((start, end, closes),) = merged(runs)
    assert start == pytest.approx(1.7, abs=0.021)  # 0.3 s of pre-roll before the speech at 2.0 s
    # the decoder gets `tail` seconds after the speech stops at 3.0 s (all of the hangover when None)
    assert end == pytest.approx(passed_until, abs=0.041)
    assert closes, "the gate says where the utterance ended"
    close = next(r for r in runs if r.closes)  # either way, speech has stopped once the hangover is over
    assert close.start + len(close.pcm) / 2 / RATE == pytest.approx(3.52, abs=0.041)
    assert gate.frames_out / gate.frames_in < 0.4


def test_pause_shorter_than_the_hangover_keeps_the_utterance_open() -> None:
    """A 0.45 s pause (hangover 0.5) does not end the utterance; the decoder gets its first 0.2 s (tail) and
    its last 0.1 s (pre-roll before the speech resumes), not the 0.15 s between."""
    gate = EnergyGate(RATE, pre_roll=0.1, hangover=0.5, tail=0.2)
    pcm = np.concatenate([hiss(2.0, 6), tone(1.0, -20), hiss(0.45, 6, 3), tone(0.6, -20), hiss(2.0, 6, 4)])
    spans = merged(push_all(gate, pcm, 160))
    assert [c for *_, c in spans] == [False, True], "one utterance, closed once"
    (s1, e1, _), (s2, e2, _) = spans
    assert s1 == pytest.approx(1.9, abs=0.021) and e1 == pytest.approx(3.2, abs=0.021)
    assert s2 == pytest.approx(3.35, abs=0.021) and e2 == pytest.approx(4.25, abs=0.041)
    # a pause no longer than tail + pre-roll reaches the decoder whole
    gate = EnergyGate(RATE, pre_roll=0.3, hangover=0.5, tail=0.2)
    pcm = np.concatenate([hiss(2.0, 6), tone(1.0, -20), hiss(0.44, 6, 3), tone(0.6, -20), hiss(2.0, 6, 4)])
    ((s, e, closes),) = merged(push_all(gate, pcm, 160))
    assert s == pytest.approx(1.7, abs=0.021) and e == pytest.approx(4.24, abs=0.041) and closes


@pytest.mark.parametrize("piece", [7, 160, 800, 2400, 16000])
def test_runs_do_not_depend_on_how_audio_is_cut(piece: int) -> None:
    pcm = np.concatenate([hiss(1.0, 6), tone(0.7, -25), hiss(1.5, 6, 4), tone(1.2, -30), hiss(2.0, 6, 5)])
    ref = merged(push_all(EnergyGate(RATE), pcm, 160))
    assert len(ref) == 2 and all(c for *_, c in ref)
    assert merged(push_all(EnergyGate(RATE), pcm, piece)) == ref

    def closes_at(runs: list[Run]) -> list[float]:  # where the `endpoint` mode cuts the audio
        return [round(r.start + len(r.pcm) / 2 / RATE, 3) for r in runs if r.closes]

    assert closes_at(push_all(EnergyGate(RATE), pcm, piece)) == closes_at(push_all(EnergyGate(RATE), pcm, 160))


@pytest.mark.parametrize("piece", [160, 800, 2400])
def test_runs_carry_their_power(piece: int) -> None:
    """The gate measures each frame anyway; a run carries the mean square of its samples so recognition
    need not measure loudness again, and joining runs weights their powers by length."""
    pcm = np.concatenate([hiss(1.0, 6), tone(0.8, -20), hiss(0.4, 30, 6), tone(0.5, -32), hiss(2.0, 6, 7)])
    runs = [r for r in push_all(EnergyGate(RATE), pcm, piece) if r.pcm]
    assert runs
    for r in runs:
        a = np.frombuffer(r.pcm, dtype="<i2").astype(np.float64)
        assert r.power == pytest.approx(float(np.mean(a * a)), rel=1e-4)
    whole = runs[0]
    for r in runs[1:]:
        whole = whole.joined(r)
    a = np.frombuffer(whole.pcm, dtype="<i2").astype(np.float64)
    assert whole.power == pytest.approx(float(np.mean(a * a)), rel=1e-4)
    assert Run(0.0, b"\x01\x00").joined(Run(0.0, b"\x02\x00", power=4.0)).power is None  # one unknown: unknown
    end = whole.joined(Run(whole.start + len(whole.pcm) / 2 / RATE, b"", closes=True))  # the gate's end marker
    assert end.closes and end.power == whole.power


def test_floor_follows_a_noisy_line() -> None:
    """Loud steady hiss (-45 dBFS) is not speech once the floor has learnt it; speech above it is."""
    gate = EnergyGate(RATE)
    noisy = hiss(3.0, 200)
    pcm = np.concatenate(
        [noisy, (tone(1.0, -20).astype(np.int32) + hiss(1.0, 200, 7)).astype("<i2"), hiss(3.0, 200, 8)]
    )
    runs = merged(push_all(gate, pcm, 160))
    assert gate.noise_floor == pytest.approx(-45, abs=2)  # the hiss (sigma 200 = -44 dBFS), learnt
    # the floor is learnt within the first second; after that only the speech (+ padding) passes
    late = [r for r in runs if r[1] > 1.0]
    assert len(late) == 1, runs
    start, end, closes = late[0]
    assert 2.6 <= start <= 3.0 and 4.0 <= end <= 4.6 and closes, runs


# ---- the three modes on real speech, through the recognition engine -----------------------------


@pytest.mark.parametrize("vad", ["off", "endpoint", "energy"])
async def test_mode_keeps_words_on_the_call_timeline(tmp_path: Path, call8k: CallAudio, vad: str) -> None:
    base = resolve(MODEL_SPEC)
    assert base is not None
    model = endpoint_overlay(base, (0.3, 0.6, 1.0), MODEL_CACHE)
    engine = AsrEngine(model, workers=1, vad=vad, max_streams=2)
    await engine.start()
    try:
        out = await decode_call(engine, "c", call8k.path)
    finally:
        await engine.stop()
    finals = [s for s in out.segments if s.final]
    for speaker in ("customer", "agent"):
        turns = [t for t in call8k.timeline if t[0] == speaker]
        mine = [s for s in finals if s.speaker == speaker]
        assert len(mine) >= len(turns) - 1, f"{vad}: {len(mine)} finals for {len(turns)} {speaker} turns"
        for s in mine:  # skipped silence must not shift word times: every word lies on a turn
            for w in s.words:
                assert any(t[1] - 0.35 <= w.start and w.end <= t[2] + 0.35 for t in turns), (vad, w, turns)
    share = out.decoded_seconds / (2 * out.seconds)
    if vad == "energy":
        assert share < 0.75, f"the gate should hold back the silence; decoded {share:.0%} of the audio"
    else:
        assert share == pytest.approx(1.0, abs=0.01)
