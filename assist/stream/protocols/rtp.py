"""RTP (RFC 3550) audio receiver for Asterisk External Media, server side (sans-I/O), plus a sender.

One `RtpReceiver` per UDP port, i.e. per leg: the I/O layer registered the port for a call and a
speaker (`POST /api/calls` with `rtp: {payload_type}`), so RTP itself tells us nothing about the call.
On the first valid packet the receiver emits a *minimal* CallStart (external_id=None, the one
speaker, meta with ssrc/payload type); the I/O layer merges it into the registered call.

Payloads: PT 0 = PCMU/8000 (160 B per 20 ms), PT 8 = PCMA/8000, PT 118 = L16/16000 big-endian (what
Asterisk uses for slin16).  The expected PT is configured; datagrams of any other PT are dropped and
counted (a non-fatal ProtocolError on the 1st, 10th, 100th... occurrence), except the RFC 4733
telephone-event PT (101 by default) which becomes Dtmf.

Timeline: `position` = RTP timestamp minus the first packet's timestamp (32-bit wrap handled), so
lost packets leave a gap (the call manager fills it with silence).  Packets pass a small reorder
buffer (`reorder_packets`, 3 = 60 ms of 20 ms packets): in-order packets go out at once; a missing
sequence number is waited for until more than `reorder_packets` later packets are held, then
declared lost.  Late packets (behind what
was already emitted) and duplicates are dropped; a sequence jump of more than 100 backwards is a
sender restart and resynchronises.

Source lock: the first valid packet locks the leg to its sender's address (`source=`, given by the
I/O layer) and SSRC.  Datagrams from any other address are counted and dropped, so one stray or
forged packet cannot take the leg over.  A new SSRC from the locked address (Asterisk changes it
when a channel is re-bridged) takes over only once the locked SSRC has been silent for
`SSRC_TAKEOVER_SECONDS` of arrival time (`at=`); before that it is counted and dropped.  The new
stream continues where the track ended, or at its arrival time (packets of an old SSRC are dropped).

RTCP multiplexed on the same port (RFC 5761) is recognised and every packet of a compound datagram
is read (RFC 3550 §6.1: ffmpeg sends SR + BYE): a BYE naming the locked SSRC, from the locked
address, after media began, ends the call (our simulator sends one); any other BYE and other RTCP
are counted and ignored.  Nothing can be said back over RTP, so `refuse()` returns nothing.

States and transitions: `RtpState`, `TRANSITIONS`.
"""

from __future__ import annotations

import secrets
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum, auto

from assist.stream.codecs import alaw_decode, alaw_encode, swap16, ulaw_decode, ulaw_encode
from assist.stream.protocols.base import (
    Audio,
    CallStart,
    CallStop,
    Close,
    CloseCode,
    Dtmf,
    PhoneProtocol,
    ProtocolError,
    ProtocolEvent,
    Source,
    Speaker,
)

CODECS: dict[int, tuple[str, int]] = {0: ("PCMU", 8000), 8: ("PCMA", 8000), 118: ("L16", 16000)}
DTMF_EVENTS = "0123456789*#ABCD"
RTCP_BYE = 203
MAX_MISORDER = 100
SSRC_TAKEOVER_SECONDS = 1.0  # silence of the locked SSRC after which a new one from its address takes over

_HEADER = struct.Struct(">BBHII")


@dataclass(frozen=True, slots=True)
class RtpPacket:
    marker: bool
    payload_type: int
    seq: int
    timestamp: int
    ssrc: int
    payload: bytes
    csrcs: tuple[int, ...] = ()


def parse_rtp(data: bytes) -> RtpPacket:
    """Parse one RTP datagram; ValueError says what is wrong with it."""
    if len(data) < 12:
        raise ValueError(f"datagram of {len(data)} bytes is shorter than the 12-byte RTP header")
    first, second, seq, timestamp, ssrc = _HEADER.unpack_from(data)
    version = first >> 6
    if version != 2:
        raise ValueError(f"RTP version {version} (expected 2)")
    padding = bool(first & 0x20)
    extension = bool(first & 0x10)
    cc = first & 0x0F
    offset = 12 + 4 * cc
    if len(data) < offset:
        raise ValueError(f"datagram of {len(data)} bytes too short for {cc} CSRC identifiers")
    csrcs = struct.unpack_from(f">{cc}I", data, 12) if cc else ()
    if extension:
        if len(data) < offset + 4:
            raise ValueError("datagram too short for the RTP header extension")
        (words,) = struct.unpack_from(">H", data, offset + 2)
        offset += 4 + 4 * words
        if len(data) < offset:
            raise ValueError(f"header extension of {words} words runs past the end of the datagram")
    end = len(data)
    if padding:
        count = data[-1]
        if count == 0 or offset + count > end:
            raise ValueError(f"invalid padding count {count} for a payload of {end - offset} bytes")
        end -= count
    return RtpPacket(bool(second & 0x80), second & 0x7F, seq, timestamp, ssrc, bytes(data[offset:end]), csrcs)


def build_rtp(
    payload: bytes,
    *,
    payload_type: int,
    seq: int,
    timestamp: int,
    ssrc: int,
    marker: bool = False,
    csrcs: tuple[int, ...] = (),
    extension: bytes | None = None,
    padding: int = 0,
) -> bytes:
    """One RTP datagram (extension = the extension body, a multiple of 4 bytes, profile 0xBEDE)."""
    first = 0x80 | (0x20 if padding else 0) | (0x10 if extension is not None else 0) | len(csrcs)
    head = _HEADER.pack(first, (0x80 if marker else 0) | payload_type, seq & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc)
    head += b"".join(struct.pack(">I", c) for c in csrcs)
    if extension is not None:
        if len(extension) % 4:
            raise ValueError("RTP header extension body must be a multiple of 4 bytes")
        head += struct.pack(">HH", 0xBEDE, len(extension) // 4) + extension
    pad = (b"\0" * (padding - 1) + bytes([padding])) if padding else b""
    return head + payload + pad


def _is_rtcp(data: bytes) -> bool:
    return len(data) >= 8 and data[0] >> 6 == 2 and 192 <= data[1] <= 223


def rtcp_packets(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(packet type, count field, body after the 4-byte header) of each packet of a compound RTCP
    datagram (RFC 3550 §6.1); stops at the first header that is not RTCP or runs past the end."""
    offset = 0
    while len(data) - offset >= 4:
        first, kind, words = struct.unpack_from(">BBH", data, offset)
        end = offset + 4 * (words + 1)
        if first >> 6 != 2 or not 192 <= kind <= 223 or end > len(data):
            return
        yield kind, first & 0x1F, data[offset + 4 : end]
        offset = end


def bye_ssrcs(count: int, body: bytes) -> tuple[int, ...]:
    """The SSRCs a BYE packet says goodbye for."""
    count = min(count, len(body) // 4)
    return struct.unpack_from(f">{count}I", body) if count else ()


class RtpState(Enum):
    WAITING = auto()  # no valid packet yet
    STREAMING = auto()  # locked to the first packet's source; CallStart out
    ENDED = auto()  # BYE, closed, or the I/O layer gave up on the leg


_R = RtpState
TRANSITIONS: dict[RtpState, frozenset[RtpState]] = {
    _R.WAITING: frozenset({_R.STREAMING, _R.ENDED}),
    _R.STREAMING: frozenset({_R.ENDED}),
    _R.ENDED: frozenset(),
}


class RtpReceiver(PhoneProtocol[RtpState]):
    """One RTP stream (one leg) arriving on one UDP port."""

    TRANSITIONS = TRANSITIONS

    def __init__(
        self,
        *,
        speaker: Speaker = "customer",
        payload_type: int = 0,
        codec: str | None = None,
        sample_rate: int | None = None,
        reorder_packets: int = 3,
        dtmf_payload_type: int | None = 101,
    ) -> None:
        known = CODECS.get(payload_type)
        if known is None and (codec is None or sample_rate is None):
            raise ValueError(f"payload type {payload_type} is not static: give codec and sample_rate")
        self.codec = codec or (known[0] if known else "")
        self.sample_rate = sample_rate or (known[1] if known else 0)
        if self.codec not in ("PCMU", "PCMA", "L16"):
            raise ValueError(f"codec {self.codec!r} unsupported (PCMU, PCMA or L16)")
        if known and (self.codec, self.sample_rate) != known:
            raise ValueError(
                f"payload type {payload_type} is {known[0]}/{known[1]}, not {self.codec}/{self.sample_rate}"
            )
        self.speaker: Speaker = speaker
        self.payload_type = payload_type
        self.dtmf_payload_type = dtmf_payload_type
        self.reorder_packets = reorder_packets
        self.counts: dict[str, int] = {}
        self.state = RtpState.WAITING
        self.source: Source | None = None  # the locked sender address
        self.ssrc: int | None = None  # the locked SSRC
        self._last_at: float | None = None  # arrival time of the locked SSRC's last packet
        self._old_ssrcs: set[int] = set()
        self._base = 0  # track position where the current SSRC's timestamps start
        self._ts0 = 0  # extended timestamp of the current SSRC's first packet
        self._ts_ref = 0  # extended timestamp of the last packet received (unwrap reference)
        self._seq_ref = 0  # highest extended sequence number received (unwrap reference)
        self._expected = 0  # extended sequence number to emit next
        self._buffer: dict[int, tuple[RtpPacket, int]] = {}  # ext seq -> (packet, ext timestamp)
        self.end = 0  # track position just after the last emitted sample
        self._last_dtmf: int | None = None
        self._t0: float | None = None  # arrival time of the first packet, when the I/O layer gives it

    # ------------------------------------------------------------------ I/O layer calls

    def receive(
        self, data: str | bytes, *, at: float | None = None, source: Source | None = None
    ) -> list[ProtocolEvent]:
        if isinstance(data, str):
            return super().receive(data)  # datagrams are bytes
        return self.receive_data(data, at=at, source=source)

    def accept(self) -> list[ProtocolEvent]:
        self._require("accept", _R.STREAMING)
        return []

    def refuse(self, reason: str) -> list[ProtocolEvent]:
        self._require("refuse", _R.STREAMING)
        return []  # nothing can be said over RTP; the I/O layer just drops the port

    def close(self, reason: str = "") -> list[ProtocolEvent]:
        """Server-initiated end: flush what is buffered, then Close (= release the port)."""
        self._require("close", _R.WAITING, _R.STREAMING)
        out = self.flush()
        self._goto(_R.ENDED)
        return [*out, Close(CloseCode.NORMAL, reason)]

    def fail(self, reason: str, code: int = CloseCode.INTERNAL_ERROR) -> list[ProtocolEvent]:
        """We give up on the leg; nothing can be said over RTP, the port is just released."""
        self._require("fail", _R.WAITING, _R.STREAMING)
        streaming = self.state is _R.STREAMING
        self._goto(_R.ENDED)
        return [*([CallStop("error")] if streaming else []), Close(code, reason[:120])]

    def connection_closed(self) -> list[ProtocolEvent]:
        """The I/O layer gave up on the stream (registration ended or inactivity): flush and stop.  After
        our own fail() the leg has ended: what the reorder buffer still holds is dropped, not emitted
        after the Close."""
        out = self.flush() if self.state is not _R.ENDED else []
        self._buffer.clear()
        if self.state is _R.STREAMING:
            out.append(CallStop("ended"))
        self._goto(_R.ENDED)
        return out

    def flush(self) -> list[ProtocolEvent]:
        """Emit everything held in the reorder buffer, in order, gaps and all."""
        out: list[ProtocolEvent] = []
        for ext in sorted(self._buffer):
            packet, ts = self._buffer.pop(ext)
            out += self._emit(packet, ts)
            self._expected = ext + 1
        return out

    # ------------------------------------------------------------------ wire input

    def _report(self, kind: str, message: str) -> list[ProtocolEvent]:
        n = self.counts.get(kind, 0) + 1
        self.counts[kind] = n
        if n == 1 or (n % 10 == 0 and str(n).rstrip("0") == "1"):
            return [ProtocolError(f"{message} ({n} so far)", fatal=False)]
        return []

    def receive_data(self, data: bytes, at: float | None = None, source: Source | None = None) -> list[ProtocolEvent]:
        """One datagram.  `at` (optional, monotonic seconds of arrival) places a new SSRC or a
        restarted sequence on the wall clock instead of right after the previous audio; `source`
        (the sender's address) is what the leg locks onto."""
        if self.state is _R.ENDED:
            return self._report("after_stop", "datagram after the stream ended dropped")
        if self.source is not None and source is not None and source != self.source:
            return self._report(
                "foreign_source",
                f"datagram from {source[0]}:{source[1]}, not the locked {self.source[0]}:{self.source[1]}, dropped",
            )
        if _is_rtcp(data):
            return self._rtcp(data)
        try:
            packet = parse_rtp(data)
        except ValueError as exc:
            return self._report("malformed", f"malformed RTP datagram dropped: {exc}")
        out: list[ProtocolEvent] = []
        if self.state is _R.WAITING:
            out.append(self._lock(packet, at, source))
        elif packet.ssrc in self._old_ssrcs:
            return self._report("stale_ssrc", f"packet of a previous SSRC 0x{packet.ssrc:08x} dropped")
        elif packet.ssrc != self.ssrc:
            switch = self._switch_ssrc(packet, at)
            if switch is None:
                return self._report(
                    "foreign_ssrc", f"packet of SSRC 0x{packet.ssrc:08x} while 0x{self.ssrc:08x} streams dropped"
                )
            out += switch
        self._last_at = at
        ext_seq = self._unwrap_seq(packet.seq)
        if self._expected - ext_seq > MAX_MISORDER:
            # the sender restarted its sequence (and likely its clock): a new segment of the track
            out += self.flush()
            out += self._report("restart", f"sequence number jumped back to {packet.seq}; resynchronised")
            self._begin(packet, base=self._resume_position(at))
            ext_seq = self._unwrap_seq(packet.seq)
        ext_ts = self._unwrap_ts(packet.timestamp)
        if ext_seq < self._expected:
            return out + self._report("late", f"late or duplicate packet seq {packet.seq} dropped")
        if ext_seq in self._buffer:
            return out + self._report("duplicate", f"duplicate packet seq {packet.seq} dropped")
        self._buffer[ext_seq] = (packet, ext_ts)
        return out + self._drain()

    def _lock(self, packet: RtpPacket, at: float | None, source: Source | None) -> CallStart:
        """The first valid packet: lock the leg to its sender and SSRC; the call starts."""
        self._begin(packet, base=0)
        self._goto(_R.STREAMING)
        self.source = source
        self._t0 = at
        return CallStart(
            external_id=None,
            sample_rate=self.sample_rate,
            speakers=(self.speaker,),
            meta={"protocol": "rtp", "ssrc": packet.ssrc, "payload_type": self.payload_type},
        )

    def _switch_ssrc(self, packet: RtpPacket, at: float | None) -> list[ProtocolEvent] | None:
        """A new SSRC from the locked address: it takes over once the locked one has gone quiet
        (None = not yet, drop it)."""
        assert self.ssrc is not None
        if at is None or self._last_at is None or at - self._last_at < SSRC_TAKEOVER_SECONDS:
            return None
        silence = at - self._last_at
        out = self.flush()
        out.append(
            ProtocolError(
                f"SSRC changed from 0x{self.ssrc:08x} to 0x{packet.ssrc:08x} after "
                f"{silence:.1f} s of silence; the new source continues the track",
                fatal=False,
            )
        )
        self._old_ssrcs.add(self.ssrc)
        self._begin(packet, base=self._resume_position(at))
        return out

    def _resume_position(self, at: float | None) -> int:
        if at is None or self._t0 is None:
            return self.end
        return max(self.end, round((at - self._t0) * self.sample_rate))

    def _rtcp(self, data: bytes) -> list[ProtocolEvent]:
        """A (compound) RTCP datagram: only a BYE for the locked SSRC after media began ends the call."""
        out: list[ProtocolEvent] = []
        for kind, count, body in rtcp_packets(data):
            if kind != RTCP_BYE:
                self.counts["rtcp"] = self.counts.get("rtcp", 0) + 1
                continue
            if self.state is not _R.STREAMING or self.ssrc not in bye_ssrcs(count, body):
                out += self._report("bye_ignored", "RTCP BYE before media or for another SSRC ignored")
                continue
            out += self.flush()
            out.append(CallStop("rtcp-bye"))
            self._goto(_R.ENDED)
            break
        return out

    def _begin(self, packet: RtpPacket, base: int) -> None:
        self.ssrc = packet.ssrc
        self._base = base
        self._ts0 = packet.timestamp
        self._ts_ref = packet.timestamp
        self._seq_ref = packet.seq
        self._expected = packet.seq
        self._last_dtmf = None

    def _unwrap_seq(self, seq: int) -> int:
        diff = ((seq - self._seq_ref + 0x8000) & 0xFFFF) - 0x8000
        ext = self._seq_ref + diff
        self._seq_ref = max(self._seq_ref, ext)
        return ext

    def _unwrap_ts(self, ts: int) -> int:
        diff = ((ts - self._ts_ref + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        self._ts_ref += diff
        return self._ts_ref

    def _drain(self) -> list[ProtocolEvent]:
        out: list[ProtocolEvent] = []
        while self._buffer:
            if self._expected in self._buffer:
                packet, ts = self._buffer.pop(self._expected)
                self._expected += 1
                out += self._emit(packet, ts)
            elif len(self._buffer) > self.reorder_packets:
                first = min(self._buffer)
                lost = first - self._expected
                self.counts["lost"] = self.counts.get("lost", 0) + lost
                self._expected = first
            else:
                break
        return out

    def _emit(self, packet: RtpPacket, ext_ts: int) -> list[ProtocolEvent]:
        if packet.payload_type == self.payload_type:
            return self._audio(packet, ext_ts)
        if packet.payload_type == self.dtmf_payload_type:
            return self._dtmf(packet, ext_ts)
        return self._report(
            f"pt{packet.payload_type}",
            f"payload type {packet.payload_type} dropped "
            f"(expected {self.payload_type} {self.codec}/{self.sample_rate})",
        )

    def _audio(self, packet: RtpPacket, ext_ts: int) -> list[ProtocolEvent]:
        payload = packet.payload
        if self.codec == "L16":
            if len(payload) % 2:
                out = self._report("odd_l16", f"L16 payload of {len(payload)} bytes (odd); last byte dropped")
                payload = payload[:-1]
            else:
                out = []
            pcm = swap16(payload)
        else:
            out = []
            pcm = ulaw_decode(payload) if self.codec == "PCMU" else alaw_decode(payload)
        if not pcm:
            return out
        position = self._base + ext_ts - self._ts0
        if position < self.end:
            overlap = self.end - position
            if overlap * 2 >= len(pcm):
                return out + self._report("overlap", f"packet seq {packet.seq} overlaps audio already emitted; dropped")
            pcm = pcm[overlap * 2 :]
            position = self.end
        self.end = position + len(pcm) // 2
        out.append(Audio(self.speaker, pcm, self.sample_rate, position))
        return out

    def _dtmf(self, packet: RtpPacket, ext_ts: int) -> list[ProtocolEvent]:
        if len(packet.payload) < 4:
            return self._report("dtmf", f"telephone-event payload of {len(packet.payload)} bytes dropped")
        event = packet.payload[0]
        if ext_ts == self._last_dtmf or event >= len(DTMF_EVENTS):
            return []
        self._last_dtmf = ext_ts
        return [Dtmf(DTMF_EVENTS[event], self.speaker)]


class RtpSender:
    """Builds what Asterisk's chan_rtp sends, for the simulator and tests (sans-I/O)."""

    FRAME_MS = 20

    def __init__(
        self,
        payload_type: int = 0,
        *,
        ssrc: int | None = None,
        seq: int | None = None,
        timestamp: int | None = None,
    ) -> None:
        if payload_type not in CODECS:
            raise ValueError(f"payload type {payload_type} unsupported: use 0 (PCMU), 8 (PCMA) or 118 (L16/16000)")
        self.payload_type = payload_type
        self.codec, self.sample_rate = CODECS[payload_type]
        self.ssrc = secrets.randbits(32) if ssrc is None else ssrc
        self.seq = secrets.randbits(16) if seq is None else seq
        self.timestamp = secrets.randbits(32) if timestamp is None else timestamp
        self._first = True

    def packet(self, pcm: bytes) -> bytes:
        """One datagram carrying `pcm` (PCM16 LE mono at this sender's rate); advances seq/timestamp."""
        if self.codec == "PCMU":
            payload = ulaw_encode(pcm)
        elif self.codec == "L16":
            payload = swap16(pcm)
        else:
            payload = alaw_encode(pcm)
        data = build_rtp(
            payload,
            payload_type=self.payload_type,
            seq=self.seq,
            timestamp=self.timestamp,
            ssrc=self.ssrc,
            marker=self._first,
        )
        self._first = False
        self.seq = (self.seq + 1) & 0xFFFF
        self.timestamp = (self.timestamp + len(pcm) // 2) & 0xFFFFFFFF
        return data

    def script(self, pcm: bytes) -> Iterator[tuple[float, bytes]]:
        """(seconds since start, datagram): 20 ms packets of `pcm` (PCM16 LE at `sample_rate`), then BYE."""
        frame = self.sample_rate * self.FRAME_MS // 1000 * 2
        for k, offset in enumerate(range(0, len(pcm), frame)):
            yield (k + 1) * self.FRAME_MS / 1000, self.packet(pcm[offset : offset + frame])
        yield len(pcm) / (2 * self.sample_rate), self.bye()

    def bye(self) -> bytes:
        """RTCP BYE for this SSRC (sent on the RTP port, RFC 5761 multiplexing)."""
        return struct.pack(">BBHI", 0x81, RTCP_BYE, 1, self.ssrc)
