"""Feed a stereo call straight into the recognition engine (no server, no protocol), as fast as it decodes.

Recognition is deterministic, so the transcript is the one a live call of the same audio gets; tests of
the recognition modes and bench/vad_quality.py use this."""

from __future__ import annotations

import asyncio
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assist.events import AudioFrame, Speaker, TranscriptSegment
from assist.stream.recognition import AsrEngine, SpeakerStream

SPEAKERS: tuple[Speaker, ...] = ("customer", "agent")  # left, right


@dataclass
class Decoded:
    segments: list[TranscriptSegment]
    streams: list[SpeakerStream]
    seconds: float  # call length

    def text(self, speaker: str) -> str:
        """The speaker's finals joined, spaces removed (for character error rates)."""
        return "".join(s.text.replace(" ", "") for s in self.segments if s.final and s.speaker == speaker)

    @property
    def decode_cpu(self) -> float:
        return sum(s.stats.decode_cpu for s in self.streams)

    @property
    def decoded_seconds(self) -> float:
        return sum(s.stats.decoded_seconds for s in self.streams)


def read_stereo(path: Path) -> tuple[int, np.ndarray]:
    with wave.open(str(path)) as w:
        return w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, w.getnchannels())


def read_channels(path: Path) -> tuple[int, list[bytes]]:
    """The WAV's rate and each channel as PCM16 LE bytes (left = customer, right = agent)."""
    rate, a = read_stereo(path)
    return rate, [a[:, c].copy().tobytes() for c in range(a.shape[1])]


async def decode_call(engine: AsrEngine, call_id: str, path: Path, language: str = "ko-KR") -> Decoded:
    """Feed both channels in 20 ms frames, close the streams, return what came out."""
    rate, audio = read_stereo(path)
    segs: list[TranscriptSegment] = []
    streams: list[SpeakerStream] = []
    for sp in SPEAKERS:
        s = engine.open_stream(call_id, sp, rate, language, segs.append)
        if s is None:
            raise RuntimeError("the engine has no model")
        streams.append(s)
    n = rate // 50
    for i in range(0, len(audio), n):
        for ch, s in enumerate(streams):
            s.feed(
                AudioFrame(
                    call_id=call_id,
                    speaker=s.speaker,
                    start=i / rate,
                    sample_rate=rate,
                    pcm=audio[i : i + n, ch].copy().tobytes(),
                    received_at=time.monotonic(),
                )
            )
        if i % (n * 25) == 0:
            await asyncio.sleep(0)  # let the decode tasks run
    for s in streams:
        await s.close()
    return Decoded(segs, streams, len(audio) / rate)
