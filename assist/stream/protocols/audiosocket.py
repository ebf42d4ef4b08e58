"""Asterisk AudioSocket (TCP, TLV framing), server side (sans-I/O), plus the client encoder.

Frame: `type:u8 | length:u16 big-endian | payload[length]`.  Asterisk (the TCP client) sends:

| type   | payload                                | we produce                                   |
|--------|----------------------------------------|----------------------------------------------|
| `0x01` | 16 raw UUID bytes (first frame)        | CallStart(external_id=canonical UUID string) |
| `0x10` | slin: PCM16 LE mono 8 kHz (320 B/20ms) | Audio                                        |
| `0x03` | 1 ASCII DTMF digit                     | Dtmf                                         |
| `0x00` | hangup (no payload)                    | CallStop("hangup") + Close                   |
| `0xff` | error, optional 1 code byte            | ProtocolError + CallStop + Close             |

The server may send only `0x10` (audio) or `0x00` (hangup): anything else ends Asterisk's session.

`receive_data` takes whatever the TCP read returned; partial frames are buffered across calls (a
length beyond the bytes received so far is *not* an error).  A length above `max_payload` means the
stream is not AudioSocket (or is corrupt): fatal, we hang up.  Unknown types are skipped (reported
once per type).  Audio before the UUID is fatal.

AudioSocket is mono and carries no metadata but the UUID: each connection is one leg.  Events name
the constructor's `speaker` ("customer" by default); the I/O layer looks the UUID up in the calls
registered out-of-band (`POST /api/calls` with `audiosocket: {customer: uuid, agent: uuid}`) and
remaps with `with_speaker(events, speaker)` (or builds the object with the right speaker when it
already knows the leg).  States and their transitions: `AudioSocketState`, `TRANSITIONS`.
"""

from __future__ import annotations

import dataclasses
import struct
import uuid as uuid_mod
from collections.abc import Iterator
from enum import Enum, auto

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
    SendBytes,
    Source,
    Speaker,
)

SAMPLE_RATE = 8000
FRAME_BYTES = 320  # 20 ms of slin at 8 kHz

KIND_HANGUP = 0x00
KIND_UUID = 0x01
KIND_SILENCE = 0x02
KIND_DTMF = 0x03
KIND_AUDIO = 0x10
KIND_SLIN16 = 0x11
KIND_ERROR = 0xFF

HANGUP = b"\x00\x00\x00"
ERROR_CODES = {0x01: "caller hung up", 0x02: "frame forwarding error", 0x04: "memory error"}

_HEADER = struct.Struct(">BH")


def encode_frame(kind: int, payload: bytes = b"") -> bytes:
    if len(payload) > 0xFFFF:
        raise ValueError(f"AudioSocket payload of {len(payload)} bytes exceeds 65535")
    return _HEADER.pack(kind, len(payload)) + payload


def with_speaker(events: list[ProtocolEvent], speaker: Speaker) -> list[ProtocolEvent]:
    """The same events attributed to `speaker` (Audio, Dtmf and CallStart.speakers rewritten)."""
    out: list[ProtocolEvent] = []
    for ev in events:
        if isinstance(ev, Audio | Dtmf):
            ev = dataclasses.replace(ev, speaker=speaker)
        elif isinstance(ev, CallStart):
            ev = dataclasses.replace(ev, speakers=(speaker,))
        out.append(ev)
    return out


class AudioSocketState(Enum):
    WAITING = auto()  # for the UUID frame
    STREAMING = auto()  # UUID received, CallStart out, audio flows
    ENDED = auto()  # hang-up / error either way, or the connection is gone


_S = AudioSocketState
TRANSITIONS: dict[AudioSocketState, frozenset[AudioSocketState]] = {
    _S.WAITING: frozenset({_S.STREAMING, _S.ENDED}),
    _S.STREAMING: frozenset({_S.ENDED}),
    _S.ENDED: frozenset(),
}


class AudioSocketServer(PhoneProtocol[AudioSocketState]):
    """One AudioSocket TCP connection (one leg of a call), seen from our server."""

    TRANSITIONS = TRANSITIONS

    def __init__(self, *, speaker: Speaker = "customer", max_payload: int = 8192) -> None:
        self.speaker: Speaker = speaker
        self.max_payload = max_payload
        self.state = AudioSocketState.WAITING
        self.call_uuid: str | None = None
        self.position = 0
        self._buffer = bytearray()
        self._carry = b""  # odd trailing byte of a slin payload
        self._unknown_seen: set[int] = set()
        self._unanswered = False  # a CallStart went out and accept()/refuse() has not answered it yet

    # ------------------------------------------------------------------ I/O layer calls

    def receive(
        self, data: str | bytes, *, at: float | None = None, source: Source | None = None
    ) -> list[ProtocolEvent]:
        if isinstance(data, str):
            return super().receive(data)  # a TCP byte stream has no text frames
        return self.receive_data(data)

    def _answerable(self, action: str) -> bool:
        """accept()/refuse() answer a CallStart.  One TCP read may carry the UUID frame and the hangup
        (or error) frame both, so the call can have ended by the time the driver answers that CallStart:
        then there is nothing left to do (False).  Any other call outside STREAMING is our bug."""
        unanswered, self._unanswered = self._unanswered, False
        if self.state is _S.ENDED and unanswered:
            return False
        self._require(action, _S.STREAMING)
        return True

    def accept(self) -> list[ProtocolEvent]:
        self._answerable("accept")
        return []

    def refuse(self, reason: str) -> list[ProtocolEvent]:
        """Admission refused: the only 'go away' AudioSocket has is a hangup frame."""
        if not self._answerable("refuse"):
            return []
        self._goto(_S.ENDED)
        return [SendBytes(HANGUP), Close(CloseCode.NORMAL, reason)]

    def close(self, reason: str = "") -> list[ProtocolEvent]:
        self._require("close", _S.WAITING, _S.STREAMING)
        ended = self.state is _S.STREAMING
        self._goto(_S.ENDED)
        out: list[ProtocolEvent] = [SendBytes(HANGUP)]
        if ended:
            out.append(CallStop(reason or "server-hangup"))
        out.append(Close(CloseCode.NORMAL, reason))
        return out

    def fail(self, reason: str, code: int = CloseCode.INTERNAL_ERROR) -> list[ProtocolEvent]:
        """We give up on the leg: AudioSocket can only hang up (the code is for the log)."""
        self._require("fail", _S.WAITING, _S.STREAMING)
        streaming = self.state is _S.STREAMING
        self._goto(_S.ENDED)
        stop: list[ProtocolEvent] = [CallStop("error")] if streaming else []
        return [SendBytes(HANGUP), *stop, Close(code, reason[:120])]

    def connection_closed(self) -> list[ProtocolEvent]:
        """EOF / reset from Asterisk."""
        out: list[ProtocolEvent] = []
        if self._buffer and self.state is not _S.ENDED:
            out.append(
                ProtocolError(
                    f"connection closed inside a frame: {len(self._buffer)} byte(s) of an incomplete frame dropped",
                    fatal=False,
                )
            )
        if self.state is _S.STREAMING:
            out.append(CallStop("disconnected"))
        self._goto(_S.ENDED)
        self._buffer.clear()
        return out

    @staticmethod
    def audio_frame(pcm: bytes) -> bytes:
        """A 0x10 frame the server may send back (played to the caller)."""
        return encode_frame(KIND_AUDIO, pcm)

    # ------------------------------------------------------------------ wire input

    def receive_data(self, data: bytes) -> list[ProtocolEvent]:
        if self.state is _S.ENDED:
            return []
        self._buffer += data
        out: list[ProtocolEvent] = []
        offset = 0
        buf = self._buffer
        while self.state is not _S.ENDED and len(buf) - offset >= 3:
            kind, length = _HEADER.unpack_from(buf, offset)
            if length > self.max_payload:
                del buf[:]
                return out + self._fatal(
                    f"frame type 0x{kind:02x} announces {length} payload bytes, above the "
                    f"{self.max_payload} byte limit (not an AudioSocket stream?)"
                )
            if len(buf) - offset < 3 + length:
                break  # wait for the rest of the frame
            payload = bytes(buf[offset + 3 : offset + 3 + length])
            offset += 3 + length
            out += self._frame(kind, payload)
        del buf[:offset]
        if self.state is _S.ENDED:
            buf.clear()
        return out

    def _fatal(self, message: str, code: int | None = None) -> list[ProtocolEvent]:
        was_streaming = self.state is _S.STREAMING
        self._goto(_S.ENDED)
        out: list[ProtocolEvent] = [ProtocolError(message, fatal=True, code=code), SendBytes(HANGUP)]
        if was_streaming:
            out.append(CallStop("protocol-error"))
        out.append(Close(CloseCode.NORMAL, "protocol error"))
        return out

    def _frame(self, kind: int, payload: bytes) -> list[ProtocolEvent]:
        if kind == KIND_UUID:
            return self._on_uuid(payload)
        if kind == KIND_AUDIO:
            return self._on_audio(payload)
        if kind == KIND_HANGUP:
            was_streaming = self.state is _S.STREAMING
            self._goto(_S.ENDED)
            hangup: list[ProtocolEvent] = [CallStop("hangup")] if was_streaming else []
            return [*hangup, Close(CloseCode.NORMAL, "hangup")]
        if kind == KIND_DTMF:
            if self.state is not _S.STREAMING:
                return [ProtocolError("DTMF (0x03) before the UUID frame ignored", fatal=False)]
            digit = payload.decode("ascii", "replace").strip("\0 ")
            if len(digit) != 1:
                return [ProtocolError(f"DTMF frame payload {payload!r} is not one ASCII digit", fatal=False)]
            return [Dtmf(digit, self.speaker)]
        if kind == KIND_ERROR:
            code = payload[0] if payload else None
            what = ERROR_CODES.get(code, "unknown error") if code is not None else "no code"
            label = f"0x{code:02x} ({what})" if code is not None else what
            was_streaming = self.state is _S.STREAMING
            self._goto(_S.ENDED)
            out: list[ProtocolEvent] = [
                ProtocolError(f"Asterisk sent an error frame: {label}", fatal=code != 0x01, code=code)
            ]
            if was_streaming:
                out.append(CallStop("hangup" if code == 0x01 else "error"))
            out.append(Close(CloseCode.NORMAL, "peer error"))
            return out
        return self._on_unknown(kind, payload)

    def _on_uuid(self, payload: bytes) -> list[ProtocolEvent]:
        if len(payload) != 16:
            return self._fatal(f"UUID frame (0x01) must carry 16 bytes, got {len(payload)}")
        ident = str(uuid_mod.UUID(bytes=payload))
        if self.state is _S.STREAMING:
            if ident == self.call_uuid:
                return []
            return [ProtocolError(f"second UUID frame {ident} (call is {self.call_uuid}) ignored", fatal=False)]
        self.call_uuid = ident
        self._unanswered = True
        self._goto(_S.STREAMING)
        return [
            CallStart(
                external_id=ident,
                sample_rate=SAMPLE_RATE,
                speakers=(self.speaker,),
                meta={"protocol": "audiosocket"},
            )
        ]

    def _on_audio(self, payload: bytes) -> list[ProtocolEvent]:
        if self.state is not _S.STREAMING:
            return self._fatal(f"audio (0x10, {len(payload)} bytes) before the UUID (0x01) frame")
        out: list[ProtocolEvent] = []
        data = self._carry + payload if self._carry else payload
        whole = len(data) - len(data) % 2
        if len(data) % 2:  # only a frame that leaves half a sample behind is reported
            out.append(
                ProtocolError(
                    f"slin frame of {len(payload)} bytes leaves an odd byte; it is kept for the next frame",
                    fatal=False,
                )
            )
        self._carry = data[whole:]
        if whole:
            out.append(Audio(self.speaker, data[:whole], SAMPLE_RATE, self.position))
            self.position += whole // 2
        return out

    def _on_unknown(self, kind: int, payload: bytes) -> list[ProtocolEvent]:
        if kind in self._unknown_seen:
            return []
        self._unknown_seen.add(kind)
        hint = {
            KIND_SLIN16: " (slin16: configure the dialplan / external media for 8 kHz slin)",
            KIND_SILENCE: " (silence)",
        }.get(kind, "")
        return [
            ProtocolError(
                f"frame type 0x{kind:02x}{hint} is not supported; skipped (further ones silently)",
                fatal=False,
            )
        ]


class AudioSocketClient:
    """Builds what Asterisk's AudioSocket() sends, for the simulator and tests (sans-I/O)."""

    def __init__(self, call_uuid: str | None = None) -> None:
        self.call_uuid = call_uuid or str(uuid_mod.uuid4())

    def uuid_frame(self) -> bytes:
        return encode_frame(KIND_UUID, uuid_mod.UUID(self.call_uuid).bytes)

    @staticmethod
    def hangup_frame() -> bytes:
        return HANGUP

    def script(self, pcm: bytes) -> Iterator[tuple[float, bytes]]:
        """(seconds since start, bytes): UUID, 320-byte 20 ms slin frames, hangup.

        `pcm` is 8 kHz PCM16 LE mono.
        """
        yield 0.0, self.uuid_frame()
        for k, offset in enumerate(range(0, len(pcm), FRAME_BYTES)):
            yield (
                (k + 1) * FRAME_BYTES / (2 * SAMPLE_RATE),
                encode_frame(KIND_AUDIO, pcm[offset : offset + FRAME_BYTES]),
            )
        yield len(pcm) / (2 * SAMPLE_RATE), self.hangup_frame()
