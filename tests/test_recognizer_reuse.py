"""A recycled recogniser decodes the same audio exactly as a new one: nothing of the previous call's
audio (vosk's online CMVN and i-vector adaptation) is carried into the next call.

Real vosk, real espeak speech.  The earlier calls end in every state a stream can leave its recogniser
in: an utterance still open at hang-up, one closed by vosk's own endpointer on the very last chunk, and
long noise before the speech (which moves the adaptation the most).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from assist.events import AudioFrame, TranscriptSegment
from assist.stream.models import endpoint_overlay
from assist.stream.recognition import AsrEngine
from tests.conftest import MODEL_CACHE
from tests.support.speech import render

RATE = 8000


def _pcm(*parts: np.ndarray) -> bytes:
    return np.clip(np.concatenate(parts), -32768, 32767).astype("<i2").tobytes()


async def _decode(engine: AsrEngine, call_id: str, pcm: bytes) -> list[tuple[str, list[float]]]:
    """One customer channel fed in 20 ms frames; the finals as (text, word start times)."""
    segs: list[TranscriptSegment] = []
    stream = engine.open_stream(call_id, "customer", RATE, "ko-KR", segs.append)
    assert stream is not None
    frame = RATE // 50 * 2
    for off in range(0, len(pcm), frame):
        stream.feed(
            AudioFrame(
                call_id=call_id,
                speaker="customer",
                start=off / 2 / RATE,
                sample_rate=RATE,
                pcm=pcm[off : off + frame],
                received_at=time.monotonic(),
            )
        )
    await stream.close()
    return [(s.text, [round(w.start, 2) for w in s.words]) for s in segs if s.final and s.text]


@pytest.fixture(scope="module")
def audio() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {
        "speech": render("연체된 대출 금액에 대해 말씀드리려고 전화드렸습니다", "agent", RATE),
        "other": render("지금은 돈이 없어서 다음 주에 갚겠습니다 오십만 원", "customer", RATE),
        "noise": rng.normal(0, 300, RATE * 12).astype(np.int32),
        "quiet": np.zeros(RATE, dtype=np.int32),
    }


def _endpoint_cut(model: Path, pcm: bytes) -> bytes:
    """`pcm` cut right after the 100 ms chunk on which vosk's endpointer closes the speech in it: a
    stream fed exactly this ends with its recogniser in vosk's endpoint state."""
    import vosk

    rec = vosk.KaldiRecognizer(vosk.Model(str(model)), RATE)
    step = RATE // 10 * 2
    for off in range(0, len(pcm), step):
        if rec.AcceptWaveform(pcm[off : off + step]) and json.loads(rec.Result()).get("text"):
            return pcm[: off + step]
    raise AssertionError("vosk never found the end of the speech")


async def test_recycled_recogniser_decodes_like_a_new_one(
    model_dir: Path, tmp_path: Path, audio: dict[str, np.ndarray]
) -> None:
    model = endpoint_overlay(model_dir, (0.3, 0.6, 1.0), MODEL_CACHE)
    reference = _pcm(audio["quiet"], audio["speech"], audio["quiet"], audio["other"], audio["quiet"])
    earlier_calls = [
        _pcm(audio["noise"][: RATE * 8], audio["other"]),  # hung up mid-utterance
        _endpoint_cut(model, _pcm(audio["noise"][: RATE * 4], audio["other"], audio["quiet"])),
        _endpoint_cut(model, _pcm(audio["noise"], audio["other"], audio["quiet"])),
        _pcm(audio["noise"], audio["other"], audio["quiet"], audio["quiet"]),
    ]

    fresh = AsrEngine(model, workers=1, vad="off", max_streams=1)
    await fresh.start()
    try:
        expected = await _decode(fresh, "fresh", reference)
    finally:
        await fresh.stop()
    assert expected, "the reference audio gave no words"

    engine = AsrEngine(model, workers=1, vad="off", max_streams=1)
    await engine.start()
    try:
        differ = []
        for i, earlier in enumerate(earlier_calls):
            await _decode(engine, f"earlier-{i}", earlier)
            got = await _decode(engine, f"again-{i}", reference)
            if got != expected:
                differ.append((i, got))
        assert engine.pool.created == 1, "every call ran on the one recycled recogniser"
        assert engine.pool.reused == 2 * len(earlier_calls) - 1
        assert not differ, f"recycled recogniser decoded the reference differently, expected {expected}: {differ}"
    finally:
        await engine.stop()
