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
        check=True,
        capture_output=True,
    ).stdout
    out = subprocess.run(
        # -R: sox dithers when it resamples, with a random seed unless told to be repeatable
        [
            "sox",
            "-R",
            "-t",
            "wav",
            "-",
            "-t",
            "raw",
            "-r",
            str(rate),
            "-c",
            "1",
            "-b",
            "16",
            "-e",
            "signed-integer",
            "-L",
            "-",
        ],
        input=raw,
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(out, dtype="<i2").astype(np.int32)


def make_call(
    path: Path,
    turns: list[Turn] | None = None,
    *,
    rate: int = 8000,
    gap: float = 0.9,
    lead: float = 0.5,
    tail: float = 1.5,
    seed: int = 7,
    noise: float = 6.0,
    gap_jitter: float = 0.0,
) -> list[tuple[str, float, float, str]]:
    """Write a stereo call WAV; return the timeline [(speaker, start, end, text)].

    `noise` is the line hiss (standard deviation in 16-bit units); `gap_jitter` adds a random
    0..gap_jitter seconds to each pause after a turn."""
    turns = turns or DEFAULT_TURNS
    rng = np.random.default_rng(seed)
    clips = [(t, render(t.text, t.speaker, rate)) for t in turns]
    gaps = [gap + (float(rng.uniform(0, gap_jitter)) if gap_jitter else 0.0) for _ in clips]
    total = int((lead + tail + sum(len(c) / rate for _, c in clips) + sum(gaps)) * rate)
    chans = {"customer": np.zeros(total, np.int32), "agent": np.zeros(total, np.int32)}
    timeline = []
    pos = int(lead * rate)
    for (t, clip), pause in zip(clips, gaps, strict=True):
        chans[t.speaker][pos : pos + len(clip)] += clip
        timeline.append((t.speaker, pos / rate, (pos + len(clip)) / rate, t.text))
        pos += len(clip) + int(pause * rate)
    for ch in chans.values():  # a quiet line hiss, as a phone line has
        ch += rng.normal(0, noise, size=total).astype(np.int32)
    stereo = np.stack([chans["customer"], chans["agent"]], axis=1).clip(-32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(stereo.tobytes())
    return timeline


# A bank of collection-call sentences for varied test calls (benchmarks of transcript stability).
AGENT_LINES = [
    "안녕하세요 고객님 저는 은행 고객센터 상담원입니다",
    "이 통화는 녹음되고 있습니다",
    "연체된 대출 금액에 대해 말씀드리려고 전화드렸습니다",
    "현재 원금은 삼백만 원이고 이자는 이십만 원입니다",
    "연체료는 오만 원이 추가되었습니다",
    "이번 달 말까지 입금하지 않으시면 신용 기록에 남을 수 있습니다",
    "분할 납부도 가능하니 편하신 방법을 말씀해 주세요",
    "매달 오십만 원씩 여섯 번 나누어 내실 수 있습니다",
    "입금은 고객님 명의의 계좌로만 해 주셔야 합니다",
    "다음 주 금요일까지 오십만 원을 입금해 주세요",
    "어려운 사정이 있으시면 저희가 함께 방법을 찾아 보겠습니다",
    "약속하신 날짜에 다시 확인 전화를 드리겠습니다",
]
CUSTOMER_LINES = [
    "네 안녕하세요 무슨 일이세요",
    "지금은 돈이 없어서 다음 주에 갚겠습니다",
    "요즘 회사 사정이 안 좋아서 월급이 늦게 나왔어요",
    "이자가 너무 많은 것 같은데 다시 확인해 주세요",
    "한 번에 다 갚기는 어렵고 나눠서 내고 싶어요",
    "병원에 입원해 있어서 연락을 못 받았습니다",
    "왜 이렇게 자주 전화하세요 정말 불편합니다",
    "알겠습니다 이번 주 안에 일부라도 보내 드릴게요",
    "계좌 번호를 문자로 보내 주실 수 있나요",
    "네 감사합니다 안녕히 계세요",
    "가족한테는 이 일을 말하지 말아 주세요",
    "월말에 돈이 들어오면 바로 입금하겠습니다",
]


def varied_turns(seed: int, n: int = 12) -> list[Turn]:
    """A call of n alternating turns drawn from the sentence bank (the agent opens)."""
    rng = np.random.default_rng(seed)
    turns = []
    for i in range(n):
        speaker = "agent" if i % 2 == 0 else "customer"
        bank = AGENT_LINES if speaker == "agent" else CUSTOMER_LINES
        turns.append(Turn(speaker, bank[int(rng.integers(len(bank)))]))
    return turns
