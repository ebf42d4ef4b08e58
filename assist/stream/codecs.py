"""Audio sample codecs and PCM16 helpers for the phone protocols.

* G.711 μ-law and A-law decode/encode through lookup tables (the stdlib `audioop` is gone in
  Python 3.13), built once at import from the G.711 segment rules.  Encoding indexes a 65536-entry
  numpy table by the sample's 16-bit pattern; decoding, which runs on every 20 ms frame a phone system
  sends, is two `bytes.translate` passes (low and high byte of each sample) written into alternate
  bytes: no numpy call per frame.
* PCM16 byte-order swap (RTP L16 is big-endian, everything inside assist is little-endian).
* Interleave / de-interleave of multi-channel frames (any sample width).
* `rms_dbfs` loudness and a small windowed-sinc `resample` used by the simulator.

All functions take and return `bytes`; PCM16 means signed 16-bit little-endian unless named otherwise.
"""

from __future__ import annotations

import math

import numpy as np

SILENCE_DBFS = -120.0  # what rms_dbfs reports for empty input or digital silence (keeps JSON finite)

_ULAW_BIAS = 0x84
_ULAW_CLIP = 32635
_ALAW_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)


def _build_ulaw_decode() -> np.ndarray:
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = code & 0x80
    exponent = (code >> 4) & 0x07
    mantissa = code & 0x0F
    magnitude = (((mantissa << 3) + _ULAW_BIAS) << exponent) - _ULAW_BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _build_ulaw_encode() -> np.ndarray:
    sample = np.arange(-32768, 32768, dtype=np.int32)
    sign = np.where(sample < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(sample), _ULAW_CLIP) + _ULAW_BIAS  # 132 .. 32767
    _, bit_length = np.frexp(magnitude.astype(np.float64))  # magnitude < 2**bit_length
    exponent = bit_length.astype(np.int32) - 8  # 0 .. 7
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    code = ~(sign | (exponent << 4) | mantissa) & 0xFF
    table = np.empty(65536, dtype=np.uint8)
    table[sample & 0xFFFF] = code  # index = the sample's 16-bit pattern
    return table


def _build_alaw_decode() -> np.ndarray:
    code = np.arange(256, dtype=np.int32) ^ 0x55
    sign = code & 0x80
    exponent = (code >> 4) & 0x07
    mantissa = code & 0x0F
    magnitude = np.where(
        exponent == 0,
        (mantissa << 4) + 8,
        ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0),
    )
    return np.where(sign != 0, magnitude, -magnitude).astype(np.int16)  # A-law: sign bit set = positive


def _build_alaw_encode() -> np.ndarray:
    sample = np.arange(-32768, 32768, dtype=np.int32)
    positive = sample >= 0
    mask = np.where(positive, 0xD5, 0x55)
    value = sample >> 3  # 13-bit
    value = np.where(positive, value, -value - 1)
    segment = np.searchsorted(_ALAW_SEG_END, value, side="left").astype(np.int32)
    shift = np.where(segment < 2, 1, segment)
    code = (np.minimum(segment, 7) << 4) | ((value >> shift) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    table = np.empty(65536, dtype=np.uint8)
    table[sample & 0xFFFF] = (code ^ mask) & 0xFF
    return table


ULAW_DECODE: np.ndarray = _build_ulaw_decode()
ULAW_ENCODE: np.ndarray = _build_ulaw_encode()
ALAW_DECODE: np.ndarray = _build_alaw_decode()
ALAW_ENCODE: np.ndarray = _build_alaw_encode()


def _byte_tables(decode: np.ndarray) -> tuple[bytes, bytes]:
    """`bytes.translate` tables giving the low and the high byte of each code's PCM16 sample."""
    pattern = decode.astype("<i2").view(np.uint8).reshape(256, 2)
    return pattern[:, 0].tobytes(), pattern[:, 1].tobytes()


_ULAW_LO, _ULAW_HI = _byte_tables(ULAW_DECODE)
_ALAW_LO, _ALAW_HI = _byte_tables(ALAW_DECODE)


def _decode_g711(data: bytes, lo: bytes, hi: bytes) -> bytes:
    if not isinstance(data, bytes | bytearray):
        data = bytes(data)  # a memoryview has no translate()
    out = bytearray(2 * len(data))
    out[0::2] = data.translate(lo)
    out[1::2] = data.translate(hi)
    return bytes(out)


def _samples(pcm: bytes) -> np.ndarray:
    if len(pcm) % 2:
        raise ValueError(f"PCM16 needs an even number of bytes, got {len(pcm)}")
    return np.frombuffer(pcm, dtype="<i2")


def ulaw_decode(data: bytes) -> bytes:
    """G.711 μ-law bytes -> PCM16 LE (one sample per byte)."""
    return _decode_g711(data, _ULAW_LO, _ULAW_HI)


def ulaw_encode(pcm: bytes) -> bytes:
    """PCM16 LE -> G.711 μ-law (values beyond ±32635 clip)."""
    return ULAW_ENCODE[_samples(pcm).view("<u2")].tobytes()


def alaw_decode(data: bytes) -> bytes:
    """G.711 A-law bytes -> PCM16 LE."""
    return _decode_g711(data, _ALAW_LO, _ALAW_HI)


def alaw_encode(pcm: bytes) -> bytes:
    """PCM16 LE -> G.711 A-law."""
    return ALAW_ENCODE[_samples(pcm).view("<u2")].tobytes()


def swap16(pcm: bytes) -> bytes:
    """Swap the byte order of 16-bit samples (LE <-> BE)."""
    if len(pcm) % 2:
        raise ValueError(f"16-bit samples need an even number of bytes, got {len(pcm)}")
    return np.frombuffer(pcm, dtype=np.uint16).byteswap().tobytes()


def interleave(channels: list[bytes], width: int = 2) -> bytes:
    """Interleave equal-length mono channels sample by sample (`width` bytes per sample)."""
    if not channels:
        return b""
    lengths = {len(c) for c in channels}
    if len(lengths) != 1:
        raise ValueError(f"channels differ in length: {[len(c) for c in channels]}")
    n = lengths.pop()
    if n % width:
        raise ValueError(f"channel of {n} bytes is not a whole number of {width}-byte samples")
    dtype = np.dtype(f"V{width}")
    stacked = np.stack([np.frombuffer(c, dtype=dtype) for c in channels], axis=1)
    return stacked.tobytes()


def deinterleave(data: bytes, channels: int, width: int = 2) -> list[bytes]:
    """Split an interleaved frame into `channels` mono channels (`width` bytes per sample)."""
    frame = channels * width
    if len(data) % frame:
        raise ValueError(
            f"{len(data)} bytes is not a whole number of {channels}-channel sample frames of {frame} bytes"
        )
    if channels == 1:
        return [bytes(data)]
    grid = np.frombuffer(data, dtype=np.dtype(f"V{width}")).reshape(-1, channels)
    return [grid[:, i].tobytes() for i in range(channels)]


def rms_dbfs(pcm: bytes) -> float:
    """RMS level of PCM16 LE in dB relative to full scale (a full-scale square wave is 0 dBFS).

    Empty input and digital silence give `SILENCE_DBFS` (-120) rather than -inf.
    """
    samples = _samples(pcm)
    if samples.size == 0:
        return SILENCE_DBFS
    rms = math.sqrt(float(np.mean(np.square(samples, dtype=np.float64))))
    if rms == 0.0:
        return SILENCE_DBFS
    return max(SILENCE_DBFS, 20.0 * math.log10(rms / 32768.0))


def _lowpass_kernel(cutoff: float, taps: int = 63) -> np.ndarray:
    """Windowed-sinc low-pass FIR; `cutoff` is a fraction of the sample rate (0 < cutoff < 0.5)."""
    n = np.arange(taps) - (taps - 1) / 2
    kernel = 2 * cutoff * np.sinc(2 * cutoff * n) * np.hanning(taps)
    return kernel / kernel.sum()


def resample(pcm: bytes, src_rate: int, dst_rate: int) -> bytes:
    """Resample mono PCM16 LE: windowed-sinc anti-alias filter (when going down) + linear interpolation.

    Good enough for simulated telephone audio; not a mastering-grade converter.
    """
    if src_rate <= 0 or dst_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {src_rate} -> {dst_rate}")
    samples = _samples(pcm)
    if src_rate == dst_rate or samples.size == 0:
        return samples.astype("<i2").tobytes()
    x = samples.astype(np.float64)
    if dst_rate < src_rate:
        kernel = _lowpass_kernel(0.45 * dst_rate / src_rate)
        x = np.convolve(x, kernel, mode="same")
    n_out = samples.size * dst_rate // src_rate
    t = np.arange(n_out, dtype=np.float64) * (src_rate / dst_rate)
    y = np.interp(t, np.arange(samples.size, dtype=np.float64), x)
    return np.clip(np.rint(y), -32768, 32767).astype("<i2").tobytes()
