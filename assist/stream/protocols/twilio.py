"""Twilio Media Streams, server side (sans-I/O), plus the client-side encoder used by the simulator.

Wire: JSON text frames only.  `connected`, then one `start` (callSid, streamSid, tracks,
customParameters, mediaFormat audio/x-mulaw 8000 mono), then `media` messages of base64 μ-law per
track (`inbound`, `outbound`), optional `dtmf` / `mark`, and `stop`.  The server replies nothing.

Mapping:
* `inbound` is the leg the TwiML runs on (the customer on an inbound PSTN call), `outbound` the
  other party; `inbound_speaker` flips this per deployment.
* customParameters `agentId`, `accountId` (or `accountNo`), `language`, `customerPhone`,
  `direction` fill the CallStart; every custom parameter is also kept in `meta["customParameters"]`.
* Audio positions count decoded bytes per track (160 B = 20 ms = 160 samples); the `timestamp`
  field is never used.

Errors: invalid JSON / base64, a `media` before `start`, an unsupported mediaFormat, a binary frame
or an oversized message are fatal (ProtocolError then Close with 1007/1008/1003/1009); unknown
events and sequenceNumber gaps are logged (non-fatal) and ignored.

The upgrade's `X-Twilio-Signature` is decided before the WebSocket exists: the handler calls
`check_twilio_signature(url, signature, auth_token)`.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Iterator
from typing import Any

from assist.stream.codecs import ulaw_decode, ulaw_encode
from assist.stream.protocols.base import (
    Audio,
    CallStart,
    CallStop,
    Close,
    Dtmf,
    ProtocolError,
    ProtocolEvent,
    Speaker,
)
from assist.stream.protocols.signatures import twilio_signature, validate_twilio_signature

SAMPLE_RATE = 8000
FRAME_BYTES = 160  # 20 ms of μ-law at 8 kHz

CLOSE_NORMAL = 1000
CLOSE_UNSUPPORTED = 1003
CLOSE_INVALID = 1007
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_TRY_LATER = 1013

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


class TwilioServer:
    """One Twilio media stream, seen from our server."""

    def __init__(self, *, inbound_speaker: Speaker = "customer", max_message_bytes: int = 64 * 1024) -> None:
        self.speakers: dict[str, Speaker] = {"inbound": inbound_speaker, "outbound": _other(inbound_speaker)}
        self.max_message_bytes = max_message_bytes
        self.state = "new"  # new -> connected -> started -> stopped | failed
        self.call_sid: str | None = None
        self.stream_sid: str | None = None
        self.positions: dict[str, int] = {"inbound": 0, "outbound": 0}
        self._last_seq: int | None = None

    # ------------------------------------------------------------------ wire input

    def receive_text(self, text: str) -> list[ProtocolEvent]:
        if self.state in ("failed", "closed"):
            return []
        size = len(text) if text.isascii() else len(text.encode())
        if size > self.max_message_bytes:
            return self._fatal(
                f"message of {size} bytes exceeds the {self.max_message_bytes} byte limit", CLOSE_TOO_BIG
            )
        try:
            msg = json.loads(text)
        except json.JSONDecodeError as exc:
            return self._fatal(f"message is not valid JSON: {exc}", CLOSE_INVALID)
        if not isinstance(msg, dict) or not isinstance(msg.get("event"), str):
            return self._fatal("message is not a JSON object with a string 'event' field", CLOSE_INVALID)
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
        return out + handler(msg)

    def receive_bytes(self, data: bytes) -> list[ProtocolEvent]:
        if self.state in ("failed", "closed"):
            return []
        return self._fatal(
            f"Twilio Media Streams sends JSON text frames only; got a {len(data)}-byte binary frame",
            CLOSE_UNSUPPORTED,
        )

    # ------------------------------------------------------------------ I/O layer calls

    def accept(self) -> list[ProtocolEvent]:
        return []

    def refuse(self, reason: str) -> list[ProtocolEvent]:
        self.state = "closed"
        return [Close(CLOSE_TRY_LATER, reason)]

    def close(self, reason: str = "") -> list[ProtocolEvent]:
        self.state = "closed"
        return [Close(CLOSE_NORMAL, reason)]

    def connection_closed(self) -> list[ProtocolEvent]:
        """The socket went away; a call that started and never sent `stop` ends here."""
        started = self.state == "started"
        self.state = "closed"
        return [CallStop("disconnected")] if started else []

    # ------------------------------------------------------------------ handlers

    def _fatal(self, message: str, code: int) -> list[ProtocolEvent]:
        self.state = "failed"
        return [ProtocolError(message, fatal=True, code=code), Close(code, message[:120])]

    def _check_sequence(self, msg: dict[str, Any]) -> list[ProtocolEvent]:
        raw = msg.get("sequenceNumber")
        if raw is None:
            return []
        try:
            seq = int(raw)
        except (TypeError, ValueError):
            return [ProtocolError(f"sequenceNumber {raw!r} is not a number", fatal=False)]
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
        if self.state != "new":
            return [ProtocolError(f"'connected' received in state {self.state}, ignored", fatal=False)]
        self.state = "connected"
        return []

    def _on_start(self, msg: dict[str, Any]) -> list[ProtocolEvent]:
        if self.state in ("started", "stopped"):
            return [ProtocolError("second 'start' ignored", fatal=False)]
        start = msg.get("start")
        if not isinstance(start, dict):
            return self._fatal("'start' message has no 'start' object", CLOSE_INVALID)
        call_sid = start.get("callSid")
        if not isinstance(call_sid, str) or not call_sid:
            return self._fatal("'start' has no callSid", CLOSE_INVALID)
        fmt = start.get("mediaFormat") or {}
        if not isinstance(fmt, dict):
            return self._fatal("'start.mediaFormat' is not an object", CLOSE_INVALID)
        encoding = fmt.get("encoding", "audio/x-mulaw")
        rate = fmt.get("sampleRate", SAMPLE_RATE)
        channels = fmt.get("channels", 1)
        if encoding != "audio/x-mulaw" or rate != SAMPLE_RATE or channels != 1:
            return self._fatal(
                f"unsupported mediaFormat encoding={encoding!r} sampleRate={rate!r} channels={channels!r}; "
                "expected audio/x-mulaw, 8000, 1",
                CLOSE_UNSUPPORTED,
            )
        tracks_raw = start.get("tracks") or ["inbound", "outbound"]
        if not isinstance(tracks_raw, list) or not tracks_raw:
            return self._fatal(f"'start.tracks' must be a non-empty list, got {tracks_raw!r}", CLOSE_INVALID)
        tracks = []
        for t in tracks_raw:
            if t not in _TRACKS:
                return self._fatal(f"unknown track {t!r} in start.tracks", CLOSE_INVALID)
            tracks.append(_TRACKS[t])
        params = start.get("customParameters") or {}
        if not isinstance(params, dict):
            return self._fatal("'start.customParameters' is not an object", CLOSE_INVALID)
        direction = params.get("direction")
        if direction not in ("inbound", "outbound"):
            direction = None
        self.call_sid = call_sid
        self.stream_sid = _str_or_none(start.get("streamSid") or msg.get("streamSid"))
        self.state = "started"
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
                    "tracks": tracks,
                    "customParameters": {str(k): v for k, v in params.items()},
                },
            )
        ]

    def _on_media(self, msg: dict[str, Any]) -> list[ProtocolEvent]:
        if self.state in ("new", "connected"):
            return self._fatal("'media' received before 'start'", CLOSE_POLICY)
        if self.state == "stopped":
            return [ProtocolError("'media' after 'stop' ignored", fatal=False)]
        media = msg.get("media")
        if not isinstance(media, dict):
            return self._fatal("'media' message has no 'media' object", CLOSE_INVALID)
        track = _TRACKS.get(media.get("track", "inbound"))
        if track is None:
            return [ProtocolError(f"media for unknown track {media.get('track')!r} dropped", fatal=False)]
        payload = media.get("payload")
        if not isinstance(payload, str):
            return self._fatal("'media.payload' is missing or not a string", CLOSE_INVALID)
        try:
            raw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as exc:
            return self._fatal(f"'media.payload' is not valid base64: {exc}", CLOSE_INVALID)
        if not raw:
            return []
        position = self.positions[track]
        self.positions[track] = position + len(raw)
        return [Audio(self.speakers[track], ulaw_decode(raw), SAMPLE_RATE, position)]

    def _on_dtmf(self, msg: dict[str, Any]) -> list[ProtocolEvent]:
        dtmf = msg.get("dtmf")
        if not isinstance(dtmf, dict) or not isinstance(dtmf.get("digit"), str) or not dtmf["digit"]:
            return [ProtocolError("'dtmf' message without a digit ignored", fatal=False)]
        track = _TRACKS.get(dtmf.get("track", "inbound"), "inbound")
        return [Dtmf(dtmf["digit"], self.speakers[track])]

    def _on_mark(self, msg: dict[str, Any]) -> list[ProtocolEvent]:
        return []  # echo of a mark we never send; harmless

    def _on_stop(self, msg: dict[str, Any]) -> list[ProtocolEvent]:
        if self.state != "started":
            was = self.state
            self.state = "stopped"
            return [ProtocolError(f"'stop' received in state {was} without a call", fatal=False)]
        self.state = "stopped"
        return [CallStop("stop")]


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
        tracks = [
            (name, ulaw_encode(pcm)) for name, pcm in (("inbound", inbound), ("outbound", outbound)) if pcm
        ]
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
