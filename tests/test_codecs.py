"""G.711 tables against the standard's known values and formulas; PCM16 helpers; resampling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from assist.stream import codecs


def pcm(values: list[int] | np.ndarray) -> bytes:
    return np.asarray(values, dtype="<i2").tobytes()


def samples(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2").astype(np.int64)


ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int64)


# ------------------------------------------------------------------------------------------- μ-law


def test_ulaw_known_decodes() -> None:
    # 0xFF and 0x7F are the two zeros; 0x00 / 0x80 the extremes (±32124); 0xF0 the first positive step
    assert samples(codecs.ulaw_decode(bytes([0xFF, 0x7F, 0x00, 0x80, 0xFE, 0x7E]))).tolist() == [
        0,
        0,
        -32124,
        32124,
        8,
        -8,
    ]


def test_ulaw_decode_follows_segment_formula() -> None:
    for code in range(256):
        u = ~code & 0xFF
        exponent, mantissa = (u >> 4) & 7, u & 0x0F
        magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
        expected = -magnitude if u & 0x80 else magnitude
        assert samples(codecs.ulaw_decode(bytes([code])))[0] == expected, hex(code)


@pytest.mark.parametrize("name", ["ulaw", "alaw"])
def test_decode_of_a_buffer_matches_the_table_code_by_code(name: str) -> None:
    decode = getattr(codecs, f"{name}_decode")
    table = getattr(codecs, f"{name.upper()}_DECODE")
    data = bytes(np.random.default_rng(7).integers(0, 256, 4000, dtype=np.uint8)) + bytes(range(256))
    assert samples(decode(data)).tolist() == [int(table[b]) for b in data]
    assert decode(memoryview(data)[:10]) == decode(data[:10])  # RTP hands over slices
    assert decode(b"") == b""


def test_ulaw_known_encodes() -> None:
    assert codecs.ulaw_encode(pcm([0, -1, 32767, -32768, 8, -8])) == bytes([0xFF, 0x7F, 0x80, 0x00, 0xFE, 0x7E])


def test_ulaw_is_close_to_the_continuous_mu_law_curve() -> None:
    # F(x) = ln(1 + 255|x|) / ln(256): the 8 segments x 16 steps approximate it within ~1.5 %
    decoded = samples(codecs.ulaw_decode(bytes(range(0x80, 0x100))))  # positive half, largest first
    companded = np.arange(127, -1, -1) / 127.0  # code 0x80 -> 1.0 ... 0xFF -> 0.0
    x = decoded / 32124.0
    curve = np.log1p(255 * np.abs(x)) / math.log(256)
    assert np.max(np.abs(curve - companded)) < 0.015


# ------------------------------------------------------------------------------------------- A-law


def test_alaw_known_values() -> None:
    assert samples(codecs.alaw_decode(bytes([0xD5, 0x55, 0xAA, 0x2A]))).tolist() == [8, -8, 32256, -32256]
    assert codecs.alaw_encode(pcm([0, -1, 32767, -32768])) == bytes([0xD5, 0x55, 0xAA, 0x2A])


def test_alaw_decode_follows_segment_formula() -> None:
    for code in range(256):
        a = code ^ 0x55
        exponent, mantissa = (a >> 4) & 7, a & 0x0F
        magnitude = (mantissa << 4) + 8 if exponent == 0 else ((mantissa << 4) + 0x108) << (exponent - 1)
        expected = magnitude if a & 0x80 else -magnitude
        assert samples(codecs.alaw_decode(bytes([code])))[0] == expected, hex(code)


def test_alaw_is_close_to_the_continuous_a_law_curve() -> None:
    # F(x) = A|x|/(1+ln A) below 1/A, (1+ln(A|x|))/(1+ln A) above, A = 87.6
    a_const = 87.6
    # wire code = companded value (sign bit set = positive) XOR 0x55
    decoded = samples(codecs.alaw_decode(bytes(c ^ 0x55 for c in range(0x80, 0x100))))
    x = decoded / 32768.0
    curve = np.where(
        x < 1 / a_const,
        a_const * x / (1 + math.log(a_const)),
        (1 + np.log(np.maximum(a_const * x, 1e-9))) / (1 + math.log(a_const)),
    )
    companded = np.arange(128) / 128.0
    assert np.max(np.abs(curve - companded)) < 0.02


# ------------------------------------------------------------------------------------------- both laws


@pytest.mark.parametrize(
    ("name", "peak", "slack", "codes"),
    [
        ("ulaw", 32124, 5, bytes(c for c in range(256) if c != 0x7F)),  # all codes but the duplicate zero
        ("alaw", 32256, 8, bytes(range(256))),
    ],
)
def test_round_trip_error_bound(name: str, peak: int, slack: int, codes: bytes) -> None:
    encode, decode = getattr(codecs, f"{name}_encode"), getattr(codecs, f"{name}_decode")
    decoded = samples(decode(encode(pcm(ALL_SAMPLES))))
    inside = np.abs(ALL_SAMPLES) <= peak
    error = np.abs(decoded - ALL_SAMPLES)[inside]
    # the quantisation step is about |x|/16: half of it, about |x|/32, plus the rounding of the segment's bias
    assert np.all(error <= np.abs(ALL_SAMPLES[inside]) / 32 + slack)
    assert set(np.abs(decoded[~inside]).tolist()) == {peak}  # beyond the largest step: clipped to it
    # encoding a decoded value gives the same code back
    assert encode(decode(codes)) == codes


def test_encode_rejects_odd_pcm() -> None:
    with pytest.raises(ValueError, match="even number of bytes, got 3"):
        codecs.ulaw_encode(b"\x00\x01\x02")


# ------------------------------------------------------------------------------------------- PCM helpers


def test_swap16() -> None:
    assert codecs.swap16(bytes([0x01, 0x02, 0xFF, 0x7F])) == bytes([0x02, 0x01, 0x7F, 0xFF])
    assert samples(codecs.swap16(bytes([0x7F, 0xFF, 0x80, 0x00]))).tolist() == [32767, -32768]  # BE -> LE
    with pytest.raises(ValueError, match="even number"):
        codecs.swap16(b"\x01")


def test_interleave_and_deinterleave() -> None:
    left, right = pcm([1, 2, 3]), pcm([-1, -2, -3])
    both = codecs.interleave([left, right])
    assert samples(both).tolist() == [1, -1, 2, -2, 3, -3]
    assert codecs.deinterleave(both, 2) == [left, right]
    assert codecs.interleave([b"ab", b"AB"], width=1) == b"aAbB"
    assert codecs.deinterleave(b"aAbB", 2, width=1) == [b"ab", b"AB"]
    with pytest.raises(ValueError, match="not a whole number of 2-channel sample frames of 4 bytes"):
        codecs.deinterleave(b"\x00" * 6, 2)
    with pytest.raises(ValueError, match="differ in length"):
        codecs.interleave([b"\x00\x00", b""])


def test_rms_dbfs() -> None:
    assert codecs.rms_dbfs(pcm([32767, -32768] * 100)) == pytest.approx(0.0, abs=0.01)
    t = np.arange(8000)
    sine = np.round(32767 * 0.5 * np.sin(2 * np.pi * 440 * t / 8000)).astype("<i2").tobytes()
    assert codecs.rms_dbfs(sine) == pytest.approx(20 * math.log10(0.5 / math.sqrt(2)), abs=0.05)
    assert codecs.rms_dbfs(b"") == codecs.SILENCE_DBFS
    assert codecs.rms_dbfs(pcm([0] * 80)) == codecs.SILENCE_DBFS


def test_resample_keeps_a_tone_and_the_duration() -> None:
    rate = 44100
    t = np.arange(rate) / rate
    tone = np.round(10000 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()
    down = samples(codecs.resample(tone, rate, 8000))
    assert len(down) == 8000
    spectrum = np.abs(np.fft.rfft(down))
    assert int(np.argmax(spectrum)) == 440  # 1 s of audio: bin = Hz
    assert codecs.rms_dbfs(codecs.resample(tone, rate, 8000)) == pytest.approx(codecs.rms_dbfs(tone), abs=0.3)
    # an alias-prone 6 kHz tone must be filtered away when going down to 8 kHz (Nyquist 4 kHz)
    high = np.round(10000 * np.sin(2 * np.pi * 6000 * t)).astype("<i2").tobytes()
    assert codecs.rms_dbfs(codecs.resample(high, rate, 8000)) < codecs.rms_dbfs(high) - 20
    up = codecs.resample(codecs.resample(tone, rate, 8000), 8000, 16000)
    assert len(up) == 2 * 16000
    assert codecs.resample(tone, rate, rate) == tone
