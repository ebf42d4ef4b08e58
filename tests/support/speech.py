"""Real synthetic speech for the pipeline tests: espeak-ng voices rendered into call WAVs.

Two voices (agent and customer) speak Korean, the language of the test model; turns are laid on a
timeline with pauses, each voice on its own channel of a stereo WAV (left = customer, right = agent).
"""

from __future__ import annotations

import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

VOICES = {"customer": ("ko", 150, 45), "agent": ("ko+f3", 160, 60)}  # voice, words/min, pitch


@dataclass
class Turn:
    speaker: str
    text: str


DEFAULT_TURNS = [
    Turn("agent", "안녕하세요 고객님 저는 은행 고객센터 상담원입니다"),
    Turn("customer", "네 안녕하세요 무슨 일이세요"),
    Turn("agent", "연체된 대출 금액에 대해 말씀드리려고 전화드렸습니다"),
    Turn("customer", "지금은 돈이 없어서 다음 주에 갚겠습니다"),
    Turn("agent", "알겠습니다 다음 주 금요일까지 오십만 원을 입금해 주세요"),
    Turn("customer", "네 감사합니다 안녕히 계세요"),
]


def render(text: str, speaker: str, rate: int) -> np.ndarray:
    voice, speed, pitch = VOICES[speaker]
    raw = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text],
        check=True, capture_output=True,
    ).stdout
    out = subprocess.run(
        ["sox", "-t", "wav", "-", "-t", "raw", "-r", str(rate), "-c", "1", "-b", "16", "-e", "signed-integer",
         "-L", "-"],
        input=raw, check=True, capture_output=True,
    ).stdout
    return np.frombuffer(out, dtype="<i2").astype(np.int32)


def make_call(path: Path, turns: list[Turn] | None = None, *, rate: int = 8000, gap: float = 0.9,
              lead: float = 0.5, tail: float = 1.5, seed: int = 7) -> list[tuple[str, float, float, str]]:
    """Write a stereo call WAV; return the timeline [(speaker, start, end, text)]."""
    turns = turns or DEFAULT_TURNS
    rng = np.random.default_rng(seed)
    clips = [(t, render(t.text, t.speaker, rate)) for t in turns]
    total = int((lead + tail + sum(len(c) / rate + gap for _, c in clips)) * rate)
    chans = {"customer": np.zeros(total, np.int32), "agent": np.zeros(total, np.int32)}
    timeline = []
    pos = int(lead * rate)
    for t, clip in clips:
        chans[t.speaker][pos:pos + len(clip)] += clip
        timeline.append((t.speaker, pos / rate, (pos + len(clip)) / rate, t.text))
        pos += len(clip) + int(gap * rate)
    for ch in chans.values():  # a quiet line hiss, as a phone line has
        ch += rng.normal(0, 6, size=total).astype(np.int32)
    stereo = np.stack([chans["customer"], chans["agent"]], axis=1).clip(-32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(stereo.tobytes())
    return timeline
