"""Twilio Media Streams, server side (sans-I/O), plus the client-side encoder used by the simulator.

Wire: JSON text frames only.  `connected`, then one `start` (callSid, streamSid, tracks,
customParameters, mediaFormat audio/x-mulaw 8000 mono), then `media` messages of base64 μ-law per
track (`inbound`, `outbound`), optional `dtmf` / `mark`, and `stop`.  The server replies nothing.

Mapping:
* `inbound` is the leg the TwiML runs on (the customer on an inbound PSTN call), `outbound` the
  other party; `inbound_speaker` flips this per deployment.
* customParameters `agentId`, `accountId` (or `accountNo`), `language`, `customerPhone`,
  `direction` fill the CallStart; every custom parameter is also kept in `meta["customParameters"]`.
* Audio is placed by `media.timestamp` (ms since the stream started, 8 samples per ms), so a lost
  message leaves a gap the call manager fills with silence; a message without a usable timestamp, or
  one more than a minute ahead of its track, goes right after its track's previous audio.  Media for
  a track `start` did not declare is dropped.

Errors: invalid JSON (including NaN/Infinity and over-deep nesting) / base64, a field of the wrong
type, a `media` before `start`, an unsupported mediaFormat, a binary frame or an oversized message
are fatal (ProtocolError then Close with 1007/1008/1003/1009); unknown events and sequenceNumber
gaps are logged (non-fatal) and ignored.  States and their transitions: `TwilioState`, `TRANSITIONS`.

The upgrade's `X-Twilio-Signature` is decided before the WebSocket exists: the handler calls
`check_twilio_signature(url, signature, auth_token)`.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Iterator
from enum import Enum, auto
from typing import Any

from assist.stream.codecs import ulaw_decode, ulaw_encode
from assist.stream.protocols.base import (
    Audio,
    CallStart,
    CallStop,
    Close,
    CloseCode,
    Dtmf,
    FieldError,
    JsonError,
    PhoneProtocol,
    ProtocolError,
    ProtocolEvent,
    Speaker,
    get_field,
    loads_strict,
)
from assist.stream.protocols.signatures import twilio_signature, validate_twilio_signature

SAMPLE_RATE = 8000
FRAME_BYTES = 160  # 20 ms of μ-law at 8 kHz
# A timestamp this far ahead of its track's audio is not packet loss but a broken peer: the audio is
# placed after the track's previous audio instead.
MAX_TIMESTAMP_JUMP_MS = 60_000

_TRACKS = {
    "inbound": "inbound",
    "inbound_track": "inbound",
    "outbound": "outbound",
    "outbound_track": "outbound",
}


def check_twilio_signature(url: str, signature: str | None, auth_token: str | None) -> str | None:
    """Decide the upgrade: None when it may proceed, else why not.

    `url` is the full URL Twilio was told to connect to (wss://host/path; ws/wss and default-port
    variants are accepted); `signature` the X-Twilio-Signature header.  No auth token = check off.
    """
    if not auth_token:
        return None
    if not signature:
        return "missing X-Twilio-Signature header"
    if not validate_twilio_signature(auth_token, url, signature):
        return f"X-Twilio-Signature does not match {url} (wrong auth token or URL)"
    return None


_SPEAKER_ORDER: tuple[Speaker, Speaker] = ("customer", "agent")


def _other(speaker: Speaker) -> Speaker:
    return "agent" if speaker == "customer" else "customer"


def _str_or_none(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


class TwilioState(Enum):
    NEW = auto()  # socket open, nothing received
    CONNECTED = auto()  # `connected` received
    STARTED = auto()  # `start` received: the call exists
    STOPPED = auto()  # `stop` received
    FAILED = auto()  # the peer broke the protocol; our Close is on its way
    CLOSED = auto()  # we closed, or the transport is gone


_T = TwilioState
TRANSITIONS: dict[TwilioState, frozenset[TwilioState]] = {
    _T.NEW: frozenset({_T.CONNECTED, _T.STARTED, _T.STOPPED, _T.FAILED, _T.CLOSED}),
    _T.CONNECTED: frozenset({_T.STARTED, _T.STOPPED, _T.FAILED, _T.CLOSED}),
    _T.STARTED: frozenset({_T.STOPPED, _T.FAILED, _T.CLOSED}),
    _T.STOPPED: frozenset({_T.FAILED, _T.CLOSED}),
    _T.FAILED: frozenset({_T.CLOSED}),
    _T.CLOSED: frozenset(),
}
_OPEN = (_T.NEW, _T.CONNECTED, _T.STARTED, _T.STOPPED)


class TwilioServer(PhoneProtocol[TwilioState]):
    """One Twilio media stream, seen from our server."""

    TRANSITIONS = TRANSITIONS

    def __init__(self, *, inbound_speaker: Speaker = "customer", max_message_bytes: int = 64 * 1024) -> None:
        self.speakers: dict[str, Speaker] = {"inbound": inbound_speaker, "outbound": _other(inbound_speaker)}
        self.max_message_bytes = max_message_bytes
        self.state = TwilioState.NEW
        self.call_sid: str | None = None
        self.stream_sid: str | None = None
        self.tracks: tuple[str, ...] = ()  # declared in `start`
        self.positions: dict[str, int] = {"inbound": 0, "outbound": 0}  # end of each track, in samples
        self.counts: dict[str, int] = {}
        self._last_seq: int | None = None

    # ------------------------------------------------------------------ wire input

    def receive_text(self, text: str) -> list[ProtocolEvent]:
        if self.state in (_T.FAILED, _T.CLOSED):
            return []
        size = len(text) if text.isascii() else len(text.encode())
        if size > self.max_message_bytes:
            return self._fatal(
                f"message of {size} bytes exceeds the {self.max_message_bytes} byte limit", CloseCode.TOO_BIG
            )
        try:
            msg = loads_strict(text)
        except JsonError as exc:
            return self._fatal(f"message is not valid JSON: {exc}", CloseCode.INVALID)
        if not isinstance(msg, dict) or not isinstance(msg.get("event"), str):
            return self._fatal("message is not a JSON object with a string 'event' field", CloseCode.INVALID)
        out = self._check_sequence(msg)
        event = msg["event"]
        handler = {
            "connected": self._on_connected,
            "start": self._on_start,
            "media": self._on_media,
            "dtmf": self._on_dtmf,
            "mark": self._on_mark,
            "stop": self._on_stop,
        }.get(event)
        if handler is None:
            out.append(ProtocolError(f"unknown Twilio event {event!r} ignored", fatal=False))
            return out
        try:
            return out + handler(msg)
        except FieldError as exc:
            return out + self._fatal(str(exc), CloseCode.INVALID)

    def receive_bytes(self, data: bytes) -> list[ProtocolEvent]:
        if self.state in (_T.FAILED, _T.CLOSED):
            return []
        return self._fatal(
            f"Twilio Media Streams sends JSON text frames only; got a {len(data)}-byte binary frame",
            CloseCode.UNSUPPORTED,
        )

    # ------------------------------------------------------------------ I/O layer calls

    def accept(self) -> list[ProtocolEvent]:
        self._require("accept", _T.STARTED)
        return []

    def refuse(self, reason: str) -> list[ProtocolEvent]:
        self._require("refuse", _T.STARTED)
        self._goto(_T.CLOSED)
        return [Close(CloseCode.TRY_LATER, reason)]

    def close(self, reason: str = "") -> list[ProtocolEvent]:
        self._require("close", *_OPEN)
        self._goto(_T.CLOSED)
        return [Close(CloseCode.NORMAL, reason)]

    def fail(self, reason: str, code: int = CloseCode.INTERNAL_ERROR) -> list[ProtocolEvent]:
        self._require("fail", *_OPEN, _T.FAILED)
        started = self.state is _T.STARTED
        self._goto(_T.CLOSED)
        return [*([CallStop("error")] if started else []), Close(code, reason[:120])]

    def connection_closed(self) -> list[ProtocolEvent]:
        """The socket went away; a call that started and never sent `stop` ends here."""
        started = self.state is _T.STARTED
        self._goto(_T.CLOSED)
        return [CallStop("disconnected")] if started else []

    # ------------------------------------------------------------------ handlers

    def _fatal(self, message: str, code: int) -> list[ProtocolEvent]:
        self._goto(_T.FAILED)
        return [ProtocolError(message, fatal=True, code=code), Close(code, message[:120])]

    def _report(self, kind: str, message: str) -> list[ProtocolEvent]:
        """A non-fatal problem, reported on its 1st, 10th, 100th... occurrence."""
        n = self.counts[kind] = self.counts.get(kind, 0) + 1
        if n == 1 or (n % 10 == 0 and str(n).rstrip("0") == "1"):
            return [ProtocolError(f"{message} ({n} so far)", fatal=False)]
        return []

    def _check_sequence(self, msg: dict[str, Any]) -> list[ProtocolEvent]:
        raw = msg.get("sequenceNumber")
        if raw is None:
            return []
        seq = _counter(raw)
        if seq is None:
            return [ProtocolError(f"sequenceNumber {str(raw)[:40]!r} is not a number", fatal=False)]
        out: list[ProtocolEvent] = []
        if self._last_seq is not None and seq != self._last_seq + 1:
            out.append(
                ProtocolError(
                    f"sequenceNumber jumped from {self._last_seq} to {seq} "
                    f"({seq - self._last_seq - 1} message(s) missing or out of order)",
                    fatal=False,
                )
            )
        self._last_seq = seq
        return out

    def _on_connected(self, msg: dict[str, Any]) -> list[ProtocolEvent]:
        if self.state is not _T.NEW:
            return [ProtocolError(f"'connected' received in state {self.state.name}, ignored", fatal=False)]
        self._goto(_T.CONNECTED)
        return []

    def _on_start(self, msg: dict[str, Any]) -> list[ProtocolEvent]:
        if self.state in (_T.STARTED, _T.STOPPED):
            return [ProtocolError("second 'start' ignored", fatal=False)]
        start = get_field(msg, "start", dict, where="start")
        call_sid = get_field(start, "callSid", str, where="start")
        if not call_sid:
            return self._fatal("'start' has no callSid", CloseCode.INVALID)
        fmt = get_field(start, "mediaFormat", dict, where="start", default={})
        encoding = fmt.get("encoding", "audio/x-mulaw")
        rate = fmt.get("sampleRate", SAMPLE_RATE)
        channels = fmt.get("channels", 1)
        if encoding != "audio/x-mulaw" or rate != SAMPLE_RATE or channels != 1:
            return self._fatal(
                f"unsupported mediaFormat encoding={encoding!r} sampleRate={rate!r} channels={channels!r}; "
                "expected audio/x-mulaw, 8000, 1",
                CloseCode.UNSUPPORTED,
            )
        tracks_raw = get_field(start, "tracks", list, where="start", default=None) or ["inbound", "outbound"]
        tracks: list[str] = []
        for t in tracks_raw:
            if not isinstance(t, str):
                raise FieldError(f"'start.tracks' entries must be strings, got {type(t).__name__}")
            if t not in _TRACKS:
                return self._fatal(f"unknown track {t[:40]!r} in start.tracks", CloseCode.INVALID)
            tracks.append(_TRACKS[t])
        params = get_field(start, "customParameters", dict, where="start", default=None) or {}
        direction = params.get("direction")
        if direction not in ("inbound", "outbound"):
            direction = None
        stream_sid = start.get("streamSid") or msg.get("streamSid")
        self.call_sid = call_sid
        self.stream_sid = stream_sid if isinstance(stream_sid, str) and stream_sid else None
        self.tracks = tuple(dict.fromkeys(tracks))
        self._goto(_T.STARTED)
        present = {self.speakers[t] for t in tracks}
        speakers = tuple(s for s in _SPEAKER_ORDER if s in present)
        return [
            CallStart(
                external_id=call_sid,
                sample_rate=SAMPLE_RATE,
                agent_id=_str_or_none(params.get("agentId")),
                account_id=_str_or_none(params.get("accountId", params.get("accountNo"))),
                language=_str_or_none(params.get("language")),
                customer_phone=_str_or_none(params.get("customerPhone")),
                direction=direction,
                speakers=speakers,
                meta={
                    "protocol": "twilio",
                    "streamSid": self.stream_sid,
                    "accountSid": _str_or_none(start.get("accountSid")),
                    "tracks": list(self.tracks),
                    "customParameters": {str(k): v for k, v in params.items()},
                },
            )
        ]

    def _on_media(self, msg: dict[str, Any]) -> list[ProtocolEvent]:
        if self.state in (_T.NEW, _T.CONNECTED):
            return self._fatal("'media' received before 'start'", CloseCode.POLICY)
        if self.state is _T.STOPPED:
            return [ProtocolError("'media' after 'stop' ignored", fatal=False)]
        media = get_field(msg, "media", dict, where="media")
        track_name = get_field(media, "track", str, where="media", default="inbound")
        track = _TRACKS.get(track_name)
        if track is None:
            return [ProtocolError(f"media for unknown track {track_name[:40]!r} dropped", fatal=False)]
        if track not in self.tracks:
            return self._report("undeclared_track", f"media for track {track!r} that 'start' did not declare dropped")
        payload = get_field(media, "payload", str, where="media")
        try:
            raw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as exc:
            return self._fatal(f"'media.payload' is not valid base64: {exc}", CloseCode.INVALID)
        if not raw:
            return []
        out: list[ProtocolEvent] = []
        position = self._position(media.get("timestamp"), track, out)
        self.positions[track] = position + len(raw)
        return [*out, Audio(self.speakers[track], ulaw_decode(raw), SAMPLE_RATE, position)]

    def _position(self, timestamp: Any, track: str, out: list[ProtocolEvent]) -> int:
        """Where a media payload starts on its track: `media.timestamp` (ms since the stream started),
        so lost messages leave gaps; without a usable timestamp, right after the track's last audio."""
        ms = _counter(timestamp)
        end = self.positions[track]
        if ms is None:
            out += self._report(
                "no_timestamp",
                f"media.timestamp {str(timestamp)[:40]!r} unusable; audio placed after the track's previous audio",
            )
            return end
        position = ms * SAMPLE_RATE // 1000
        if position - end > MAX_TIMESTAMP_JUMP_MS * SAMPLE_RATE // 1000:
            out += self._report(
                "timestamp_jump",
                f"media.timestamp {ms} ms jumps more than "
                f"{MAX_TIMESTAMP_JUMP_MS // 1000} s ahead of the track; audio placed after "
                "the track's previous audio",
            )
            return end
        return position

    def _on_dtmf(self, msg: dict[str, Any]) -> list[ProtocolEvent]:
        dtmf = msg.get("dtmf")
        if not isinstance(dtmf, dict) or not isinstance(dtmf.get("digit"), str) or not dtmf["digit"]:
            return [ProtocolError("'dtmf' message without a digit ignored", fatal=False)]
        track = _TRACKS.get(get_field(dtmf, "track", str, where="dtmf", default="inbound"), "inbound")
        return [Dtmf(dtmf["digit"], self.speakers[track])]

    def _on_mark(self, msg: dict[str, Any]) -> list[ProtocolEvent]:
        return []  # echo of a mark we never send; harmless

    def _on_stop(self, msg: dict[str, Any]) -> list[ProtocolEvent]:
        if self.state is not _T.STARTED:
            was = self.state.name
            self._goto(_T.STOPPED)
            return [ProtocolError(f"'stop' received in state {was} without a call", fatal=False)]
        self._goto(_T.STOPPED)
        return [CallStop("stop")]


def _counter(value: Any) -> int | None:
    """A non-negative integer sent as a decimal string (Twilio's way) or a JSON integer, else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 15:
        return int(value)
    return None


class TwilioClient:
    """Builds the JSON messages Twilio sends, for the simulator and tests (sans-I/O)."""

    def __init__(
        self,
        *,
        call_sid: str | None = None,
        stream_sid: str | None = None,
        account_sid: str | None = None,
        custom_parameters: dict[str, str] | None = None,
        tracks: tuple[str, ...] = ("inbound", "outbound"),
    ) -> None:
        self.call_sid = call_sid or "CA" + secrets.token_hex(16)
        self.stream_sid = stream_sid or "MZ" + secrets.token_hex(16)
        self.account_sid = account_sid or "AC" + secrets.token_hex(16)
        self.custom_parameters = dict(custom_parameters or {})
        self.tracks = tracks
        self._seq = 0
        self._chunks: dict[str, int] = {}
        self._bytes: dict[str, int] = {}

    def _next_seq(self) -> str:
        self._seq += 1
        return str(self._seq)

    @staticmethod
    def connected() -> str:
        return json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})

    def start(self) -> str:
        return json.dumps(
            {
                "event": "start",
                "sequenceNumber": self._next_seq(),
                "streamSid": self.stream_sid,
                "start": {
                    "streamSid": self.stream_sid,
                    "accountSid": self.account_sid,
                    "callSid": self.call_sid,
                    "tracks": list(self.tracks),
                    "customParameters": self.custom_parameters,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": SAMPLE_RATE, "channels": 1},
                },
            }
        )

    def media(self, track: str, ulaw: bytes) -> str:
        chunk = self._chunks.get(track, 0) + 1
        self._chunks[track] = chunk
        done = self._bytes.get(track, 0)
        self._bytes[track] = done + len(ulaw)
        return json.dumps(
            {
                "event": "media",
                "sequenceNumber": self._next_seq(),
                "streamSid": self.stream_sid,
                "media": {
                    "track": track,
                    "chunk": str(chunk),
                    "timestamp": str(done * 1000 // SAMPLE_RATE),
                    "payload": base64.b64encode(ulaw).decode("ascii"),
                },
            }
        )

    def dtmf(self, digit: str, track: str = "inbound_track") -> str:
        return json.dumps(
            {
                "event": "dtmf",
                "streamSid": self.stream_sid,
                "sequenceNumber": self._next_seq(),
                "dtmf": {"track": track, "digit": digit},
            }
        )

    def stop(self) -> str:
        return json.dumps(
            {
                "event": "stop",
                "sequenceNumber": self._next_seq(),
                "streamSid": self.stream_sid,
                "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
            }
        )

    def script(self, inbound: bytes | None, outbound: bytes | None) -> Iterator[tuple[float, str]]:
        """The whole stream as (seconds since start, message): 20 ms μ-law per track, interleaved.

        `inbound` / `outbound` are PCM16 LE mono at 8 kHz (None = track absent).
        """
        yield 0.0, self.connected()
        yield 0.0, self.start()
        tracks = [(name, ulaw_encode(pcm)) for name, pcm in (("inbound", inbound), ("outbound", outbound)) if pcm]
        longest = max((len(u) for _, u in tracks), default=0)
        for k, offset in enumerate(range(0, longest, FRAME_BYTES)):
            at = (k + 1) * FRAME_BYTES / SAMPLE_RATE
            for name, ulaw in tracks:
                piece = ulaw[offset : offset + FRAME_BYTES]
                if piece:
                    yield at, self.media(name, piece)
        yield longest / SAMPLE_RATE, self.stop()


def twilio_upgrade_headers(url: str, auth_token: str | None) -> dict[str, str]:
    """Headers the simulator adds to its upgrade request (the signature when a token is set)."""
    return {"X-Twilio-Signature": twilio_signature(auth_token, url)} if auth_token else {}
