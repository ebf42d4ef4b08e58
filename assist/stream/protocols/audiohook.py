"""Genesys AudioHook (protocol version "2"), server side (sans-I/O), plus the client encoder.

Session flow (server view):

    PREPARING --open--> OPENING --accept()--> ACTIVE <--paused/resumed--> PAUSED
        |                  |        \\--refuse()--> DISCONNECTING
        |                  \\-- bad auth / no acceptable media / client error --> DISCONNECTING
        \\--close--> CLOSING --> CLOSED   DISCONNECTING --close--> CLOSING --> CLOSED (`closed`, then Close)

* Every server message carries version "2", id, seq (ours, from 1), clientseq (last client seq seen)
  and `parameters` (`{}` when empty).  Client messages must have seq == last + 1, serverseq <= our
  seq and the session id of the Audiohook-Session-Id header.
* `open` yields CallStart (probe=True for the null-UUID connection probe) but never `opened`:
  the I/O layer admits the call and calls `accept()` (-> `opened` with exactly one offered media
  entry, unmodified; PCMU stereo external+internal preferred) or `refuse(reason)` (-> `disconnect`
  reason "error").  `ping` -> `pong`, `close` -> `closed`, `update` -> `updated`.
* Auth (X-API-KEY and the RFC 9421 signature) is checked when the object is built from the upgrade
  headers; a failure is signalled the way the spec says: wait for `open`, then `disconnect` with
  reason "unauthorized" (the Genesys reference delays this >= 500 ms; the I/O layer may sleep before
  sending it).
* Client errors (bad JSON, seq gap, unknown type, audio before `opened` or while paused, a frame that
  is not whole sample-frames, an oversized text) give ProtocolError(fatal) + `disconnect` reason
  "error"; the Close follows once the client's close transaction ends (`closed`).  If the client
  never closes, the I/O layer calls `close_timeout()` after `CLOSE_TIMEOUT` seconds while
  `awaiting_close` is true.
* Audio: PCMU (or L16 little-endian) at 8 kHz; stereo interleaved per sample in the order of the
  negotiated `channels` array; external = customer, internal = agent.  Positions count received
  samples; durations the client reports as discarded (`resumed`/`discarded`) advance them too, and
  every client message's `position` (all audio so far, sent or discarded) moves them forward when
  frames are missing, so the timeline keeps step with the call.  A duration above
  `MAX_DURATION_SECONDS` is a client error.  The server never sends binary.
* States and transitions: `AudioHookState`, `TRANSITIONS`; `accept`/`refuse` only answer an `open`,
  `pause`/`resume` only while active or paused (`LocalProtocolError` otherwise).
* AudioHook carries no agent id: `customConfig.agentId/accountId` are read when present, otherwise
  the call is registered out-of-band under its conversationId.
"""

from __future__ import annotations

import hmac
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from enum import Enum, auto
from typing import Any

from assist.stream.codecs import deinterleave, interleave, ulaw_decode, ulaw_encode
from assist.stream.protocols.base import (
    Audio,
    CallStart,
    CallStop,
    Close,
    CloseCode,
    FieldError,
    JsonError,
    Paused,
    PhoneProtocol,
    ProtocolError,
    ProtocolEvent,
    SendText,
    Speaker,
    get_field,
    loads_strict,
)
from assist.stream.protocols.signatures import sign_audiohook_request, verify_audiohook_signature

VERSION = "2"
SAMPLE_RATE = 8000
NULL_UUID = "00000000-0000-0000-0000-000000000000"
MAX_TEXT = 65535
CLOSE_TIMEOUT = 10.0  # seconds the I/O layer waits for the client's `close` after a `disconnect`
# Longest duration a client may report (`position`, `discarded`, `start`): no monitored call runs
# for 12 hours, so a larger value is a broken or hostile client, refused rather than clamped
# (clamping would still invent hours of timeline for one message).
MAX_DURATION_SECONDS = 12 * 3600

SPEAKER_ORDER: tuple[Speaker, Speaker] = ("customer", "agent")
CHANNEL_SPEAKER: dict[str, Speaker] = {"external": "customer", "internal": "agent"}
SPEAKER_CHANNEL: dict[str, str] = {"customer": "external", "agent": "internal"}
CLIENT_TYPES = ("open", "close", "ping", "paused", "resumed", "discarded", "update", "error")
CLOSE_REASONS = ("end", "error", "disconnect", "reconnect")

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DURATION = re.compile(r"^PT(\d*\.)?\d+S$")


def parse_duration(text: str, limit: float = MAX_DURATION_SECONDS) -> float:
    """ISO-8601 `PT<seconds>S` (the only form AudioHook uses) -> seconds; ValueError above `limit`."""
    if not isinstance(text, str) or len(text) > 40 or not _DURATION.match(text):
        raise ValueError(f"not an AudioHook duration: {str(text)[:40]!r}")
    seconds = float(text[2:-1])
    if seconds > limit:
        raise ValueError(f"duration {text} exceeds the {limit:g} s limit")
    return seconds


def format_duration(seconds: float) -> str:
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return f"PT{text or '0'}S"


def is_uuid(value: Any) -> bool:
    return isinstance(value, str) and bool(_UUID.match(value))


def check_audiohook_auth(
    headers: Mapping[str, str],
    *,
    request_target: str,
    api_key: str | None,
    client_secret: str | None,
    scheme: str = "wss",
    now: Callable[[], float] = time.time,
) -> str | None:
    """None when the upgrade request is authorised, else why not.  Nothing configured = open."""
    lower = {k.lower(): v for k, v in headers.items()}
    if api_key:
        given = lower.get("x-api-key", "").strip()
        if not given:
            return "missing X-API-KEY header"
        if not hmac.compare_digest(given.encode(), api_key.encode()):
            return "X-API-KEY is not the configured key"
    if client_secret:
        return verify_audiohook_signature(
            lower, request_target=request_target, client_secret=client_secret, scheme=scheme, now=now
        )
    return None


def _media_problem(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return "not an object"
    if entry.get("type") != "audio":
        return f"type {entry.get('type')!r} is not audio"
    if entry.get("format") not in ("PCMU", "L16"):
        return f"format {entry.get('format')!r} is not PCMU or L16"
    if entry.get("rate") != SAMPLE_RATE:
        return f"rate {entry.get('rate')!r} is not 8000"
    channels = entry.get("channels")
    if (
        not isinstance(channels, list)
        or not 1 <= len(channels) <= 2
        or len({str(c) for c in channels}) != len(channels)
        or not all(isinstance(c, str) and c in CHANNEL_SPEAKER for c in channels)
    ):
        return f"channels {channels!r} are not one or two of external/internal"
    return None


def select_media(offers: list[Any]) -> dict[str, Any] | None:
    """The offer we take, unmodified: stereo PCMU > stereo L16 > mono PCMU > mono L16 (external first)."""
    best: tuple[int, int] | None = None
    chosen: dict[str, Any] | None = None
    for index, entry in enumerate(offers):
        if _media_problem(entry) is not None:
            continue
        stereo = len(entry["channels"]) == 2
        rank = (0 if stereo else 2) + (0 if entry["format"] == "PCMU" else 1) * (1 if stereo else 2)
        if not stereo and entry["channels"][0] == "internal":
            rank += 1
        if best is None or (rank, index) < best:
            best, chosen = (rank, index), entry
    return chosen


class AudioHookState(Enum):
    PREPARING = auto()  # waiting for `open`
    OPENING = auto()  # `open` received, CallStart out, waiting for accept()/refuse()
    ACTIVE = auto()  # `opened` sent, audio flows
    PAUSED = auto()  # the client paused the audio
    DISCONNECTING = auto()  # we sent `disconnect`, waiting for the client's `close`
    CLOSING = auto()  # the client's `close` is being answered with `closed`
    CLOSED = auto()  # `closed` sent / transport gone / we gave up


_A = AudioHookState
TRANSITIONS: dict[AudioHookState, frozenset[AudioHookState]] = {
    _A.PREPARING: frozenset({_A.OPENING, _A.DISCONNECTING, _A.CLOSING, _A.CLOSED}),
    _A.OPENING: frozenset({_A.ACTIVE, _A.DISCONNECTING, _A.CLOSING, _A.CLOSED}),
    _A.ACTIVE: frozenset({_A.PAUSED, _A.DISCONNECTING, _A.CLOSING, _A.CLOSED}),
    _A.PAUSED: frozenset({_A.ACTIVE, _A.DISCONNECTING, _A.CLOSING, _A.CLOSED}),
    _A.DISCONNECTING: frozenset({_A.CLOSING, _A.CLOSED}),
    _A.CLOSING: frozenset({_A.CLOSED}),
    _A.CLOSED: frozenset(),
}
_LIVE = (_A.PREPARING, _A.OPENING, _A.ACTIVE, _A.PAUSED)


class AudioHookServer(PhoneProtocol[AudioHookState]):
    """One AudioHook session, seen from our server."""

    TRANSITIONS = TRANSITIONS
    close_wait = CLOSE_TIMEOUT

    def __init__(
        self,
        headers: Mapping[str, str] | None = None,
        *,
        request_target: str = "/audiohook",
        api_key: str | None = None,
        client_secret: str | None = None,
        scheme: str = "wss",
        max_message_bytes: int = MAX_TEXT,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}
        self.max_message_bytes = max_message_bytes
        self.auth_error = check_audiohook_auth(
            self.headers,
            request_target=request_target,
            api_key=api_key,
            client_secret=client_secret,
            scheme=scheme,
            now=now,
        )
        header_id = self.headers.get("audiohook-session-id", "").strip()
        self.session_id: str | None = header_id if is_uuid(header_id) else None
        self.state = AudioHookState.PREPARING
        self.seq = 0
        self.clientseq = 0
        self.media: dict[str, Any] | None = None
        self.speakers: list[Speaker] = []
        self.position = 0  # samples per channel since the start of the stream
        self.accepted = False
        self.probe = False
        self.conversation_id: str | None = None
        self._close_pending: str | None = None  # a `close` that arrived before accept()/refuse()

    # ------------------------------------------------------------------ properties

    @property
    def awaiting_close(self) -> bool:
        """We sent `disconnect` and wait for the client's `close` (arm a CLOSE_TIMEOUT timer)."""
        return self.state is _A.DISCONNECTING

    # ------------------------------------------------------------------ output helpers

    def _message(self, type_: str, parameters: dict[str, Any] | None = None) -> SendText:
        self.seq += 1
        msg = {
            "version": VERSION,
            "type": type_,
            "id": self.session_id or NULL_UUID,
            "seq": self.seq,
            "clientseq": self.clientseq,
            "parameters": parameters or {},
        }
        return SendText(json.dumps(msg, separators=(",", ":")))

    def _disconnect(self, reason: str, info: str | None = None) -> SendText:
        self._goto(_A.DISCONNECTING)
        params: dict[str, Any] = {"reason": reason}
        if info:
            params["info"] = info
        return self._message("disconnect", params)

    def _client_error(self, info: str) -> list[ProtocolEvent]:
        if self.state in (_A.DISCONNECTING, _A.CLOSING, _A.CLOSED):
            return [ProtocolError(f"{info} (ignored while closing)", fatal=False)]
        return [ProtocolError(info, fatal=True), self._disconnect("error", f"Client Error: {info}")]

    # ------------------------------------------------------------------ I/O layer calls

    def accept(self) -> list[ProtocolEvent]:
        """Admit the call: send `opened` (plus the `closed` of a close that raced the admission)."""
        self._require("accept", _A.OPENING)
        self._goto(_A.ACTIVE)
        self.accepted = True
        out: list[ProtocolEvent] = [
            self._message("opened", {"media": [self.media] if self.media else [], "startPaused": False})
        ]
        if self._close_pending is not None:
            out += self._finish_close(self._close_pending)
        return out

    def refuse(self, reason: str) -> list[ProtocolEvent]:
        """Admission refused: `disconnect` reason "error" with `reason` as info; Close after `closed`."""
        self._require("refuse", _A.OPENING)
        if self._close_pending is not None:
            return self._finish_close(self._close_pending)
        return [self._disconnect("error", reason)]

    def close(self, reason: str = "") -> list[ProtocolEvent]:
        """Server-initiated end: `disconnect` reason "completed"; Close after the client's close."""
        self._require("close", *_LIVE)
        if self.state is _A.PREPARING:
            self._goto(_A.CLOSED)
            return [Close(CloseCode.NORMAL, reason)]
        return [self._disconnect("completed", reason or None)]

    def fail(self, reason: str, code: int = CloseCode.INTERNAL_ERROR) -> list[ProtocolEvent]:
        """We give up on the session (timeout, internal failure): `disconnect` reason "error" when the
        session can still take one, then Close at once (our state may not allow a close transaction)."""
        self._require("fail", *_LIVE, _A.DISCONNECTING, _A.CLOSING)
        out: list[ProtocolEvent] = []
        if self.state in _LIVE:
            out.append(self._disconnect("error", reason))
        if self.accepted and not self.probe:
            out.append(CallStop("error"))
        self._goto(_A.CLOSED)
        out.append(Close(code, reason[:120]))
        return out

    def pause(self) -> list[ProtocolEvent]:
        """Ask the client to stop streaming (it answers `paused`)."""
        self._require("pause", _A.ACTIVE, _A.PAUSED)
        return [self._message("pause")]

    def resume(self) -> list[ProtocolEvent]:
        self._require("resume", _A.ACTIVE, _A.PAUSED)
        return [self._message("resume")]

    def close_timeout(self) -> list[ProtocolEvent]:
        """The client did not finish its close transaction in time: give up on it."""
        self._require("close_timeout", _A.DISCONNECTING)
        self._goto(_A.CLOSED)
        out: list[ProtocolEvent] = [ProtocolError("client did not answer 'disconnect' with 'close'", fatal=False)]
        if self.accepted and not self.probe:
            out.append(CallStop("timeout"))
        out.append(Close(CloseCode.NORMAL, "close transaction timeout"))
        return out

    def connection_closed(self) -> list[ProtocolEvent]:
        """The socket went away; an admitted call that never closed ends here."""
        ended = self.accepted and not self.probe and self.state is not _A.CLOSED
        self._goto(_A.CLOSED)
        return [CallStop("disconnected")] if ended else []

    # ------------------------------------------------------------------ wire input

    def receive_bytes(self, data: bytes) -> list[ProtocolEvent]:
        if self.state in (_A.DISCONNECTING, _A.CLOSED, _A.CLOSING):
            return []
        if self.state in (_A.PREPARING, _A.OPENING):
            return self._client_error(f"binary audio frame ({len(data)} bytes) before 'opened'")
        if self.state is _A.PAUSED:
            return self._client_error(f"binary audio frame ({len(data)} bytes) while paused")
        assert self.media is not None
        channels = len(self.speakers)
        width = 1 if self.media["format"] == "PCMU" else 2
        frame = channels * width
        if len(data) % frame:
            return self._client_error(
                f"audio frame of {len(data)} bytes is not a whole number of "
                f"{channels}-channel {self.media['format']} sample frames ({frame} bytes each)"
            )
        if not data:
            return []
        position = self.position
        self.position += len(data) // frame
        out: list[ProtocolEvent] = []
        for speaker, mono in zip(self.speakers, deinterleave(data, channels, width), strict=True):
            pcm = ulaw_decode(mono) if width == 1 else mono
            out.append(Audio(speaker, pcm, SAMPLE_RATE, position))
        return out

    def receive_text(self, text: str) -> list[ProtocolEvent]:
        if self.state is _A.CLOSED:
            return []
        if len(text) > self.max_message_bytes:
            return self._client_error(f"text message of {len(text)} chars exceeds {self.max_message_bytes}")
        try:
            msg = loads_strict(text)
        except JsonError as exc:
            return self._client_error(f"text message is not valid JSON: {exc}")
        problem = self._base_problem(msg)
        if problem:
            return self._client_error(f"message is not a well-formed AudioHook client message: {problem}")
        seq = msg["seq"]
        if self.state is _A.DISCONNECTING:
            if seq <= self.clientseq:  # lenient while closing: just no replays
                return [ProtocolError(f"stale seq {seq} ignored while closing", fatal=False)]
        elif seq != self.clientseq + 1:
            return self._client_error(f"seq {seq} is not {self.clientseq + 1} (last client seq + 1)")
        self.clientseq = seq
        if msg["serverseq"] > self.seq:
            return self._client_error(f"serverseq {msg['serverseq']} is higher than our last seq {self.seq}")
        if self.session_id is None:
            self.session_id = msg["id"]
        elif msg["id"] != self.session_id:
            return self._client_error(f"session id {msg['id']} does not match {self.session_id}")
        handler = getattr(self, f"_on_{msg['type']}", None) if msg["type"] in CLIENT_TYPES else None
        if handler is None:
            return self._client_error(f"'{msg['type']}' is not a supported client message")
        try:
            result: list[ProtocolEvent] = handler(msg["parameters"])
        except FieldError as exc:
            return self._client_error(f"invalid '{msg['type']}' parameters: {exc}")
        self._sync_position(msg["position"])
        return result

    def _sync_position(self, position: str) -> None:
        """The client's `position` counts all audio of the stream so far, sent or discarded: audio
        whose frames never arrived moves the next frame to where the client says it is."""
        if self.state in (_A.ACTIVE, _A.PAUSED):
            self.position = max(self.position, round(parse_duration(position) * SAMPLE_RATE))

    @staticmethod
    def _base_problem(msg: Any) -> str | None:
        if not isinstance(msg, dict):
            return "not a JSON object"
        if msg.get("version") != VERSION:
            return f"version {msg.get('version')!r} is not '2'"
        if not is_uuid(msg.get("id")):
            return f"id {msg.get('id')!r} is not a UUID"
        if not isinstance(msg.get("type"), str):
            return "no string 'type'"
        for key in ("seq", "serverseq"):
            value = msg.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                return f"{key} {value!r} is not a non-negative integer"
        try:
            parse_duration(msg.get("position"))  # type: ignore[arg-type]
        except ValueError as exc:
            return f"position {str(msg.get('position'))[:40]!r}: {exc}"
        if not isinstance(msg.get("parameters"), dict):
            return "'parameters' object missing"
        return None

    # ------------------------------------------------------------------ message handlers

    def _on_open(self, params: dict[str, Any]) -> list[ProtocolEvent]:
        if self.state is not _A.PREPARING:
            return [ProtocolError(f"'open' in state {self.state.name} ignored", fatal=False)]
        problem = self._open_problem(params)
        if problem:
            return self._client_error(f"invalid 'open' parameters: {problem}")
        org_header = self.headers.get("audiohook-organization-id")
        auth_error = self.auth_error
        if auth_error is None and org_header is not None and org_header.strip() != params["organizationId"]:
            auth_error = "organizationId of 'open' differs from the Audiohook-Organization-Id header"
        if auth_error:
            return [
                ProtocolError(f"unauthorized: {auth_error}", fatal=True),
                self._disconnect("unauthorized"),
            ]
        participant = params["participant"]
        self.conversation_id = params["conversationId"]
        self.probe = params["conversationId"] == NULL_UUID or participant["id"] == NULL_UUID
        self.media = select_media(params["media"])
        if self.media is None and not self.probe:
            offered = "; ".join(f"{json.dumps(m)}: {_media_problem(m)}" for m in params["media"]) or "nothing"
            info = f"no acceptable media offered ({offered}); this server takes PCMU or L16 at 8000 Hz"
            return [ProtocolError(info, fatal=True), self._disconnect("error", info)]
        self.speakers = [CHANNEL_SPEAKER[c] for c in self.media["channels"]] if self.media else []
        self._goto(_A.OPENING)
        config = params.get("customConfig") or {}
        direction = config.get("direction")
        return [
            CallStart(
                external_id=self.conversation_id,
                sample_rate=SAMPLE_RATE,
                agent_id=_opt_str(config.get("agentId")),
                account_id=_opt_str(config.get("accountId")),
                language=_opt_str(params.get("language")),
                customer_phone=_opt_str(participant.get("ani")),
                direction=direction if direction in ("inbound", "outbound") else None,
                speakers=tuple(s for s in SPEAKER_ORDER if s in self.speakers),
                meta={
                    "protocol": "audiohook",
                    "organizationId": params["organizationId"],
                    "sessionId": self.session_id,
                    "correlationId": self.headers.get("audiohook-correlation-id"),
                    "participant": participant,
                    "media": self.media,
                    "customConfig": config,
                },
                probe=self.probe,
            )
        ]

    @staticmethod
    def _open_problem(params: dict[str, Any]) -> str | None:
        for key in ("organizationId", "conversationId"):
            if not is_uuid(params.get(key)):
                return f"{key} {params.get(key)!r} is not a UUID"
        participant = params.get("participant")
        if not isinstance(participant, dict) or not is_uuid(participant.get("id")):
            return "participant is missing or has no UUID id"
        for key in ("ani", "aniName", "dnis"):
            if key in participant and not isinstance(participant[key], str):
                return f"participant.{key} is not a string"
        if not isinstance(params.get("media"), list):
            return "media is not a list"
        if "customConfig" in params and not isinstance(params["customConfig"], dict):
            return "customConfig is not an object"
        if "language" in params and not isinstance(params["language"], str):
            return "language is not a string"
        return None

    def _on_close(self, params: dict[str, Any]) -> list[ProtocolEvent]:
        reason = params.get("reason")
        if reason not in CLOSE_REASONS:
            return self._client_error(f"close reason {reason!r} is not one of {', '.join(CLOSE_REASONS)}")
        if self.state is _A.OPENING:
            self._close_pending = reason
            return []
        if self.state in (_A.CLOSING, _A.CLOSED):
            return []
        self._goto(_A.CLOSING)
        return self._finish_close(reason)

    def _finish_close(self, reason: str) -> list[ProtocolEvent]:
        out: list[ProtocolEvent] = [self._message("closed")]
        if self.accepted and not self.probe:
            out.append(CallStop(reason))
        self._goto(_A.CLOSED)
        out.append(Close(CloseCode.NORMAL, "closed"))
        return out

    def _on_ping(self, params: dict[str, Any]) -> list[ProtocolEvent]:
        return [self._message("pong")]

    def _on_paused(self, params: dict[str, Any]) -> list[ProtocolEvent]:
        if self.state is not _A.ACTIVE:
            return [ProtocolError(f"'paused' in state {self.state.name} ignored", fatal=False)]
        self._goto(_A.PAUSED)
        return [Paused(True)]

    def _advance(self, params: dict[str, Any], what: str) -> list[ProtocolEvent] | None:
        try:
            discarded = parse_duration(get_field(params, "discarded", str, where=what, default="PT0S"))
            parse_duration(get_field(params, "start", str, where=what, default="PT0S"))
        except ValueError as exc:
            return self._client_error(f"invalid '{what}' parameters: {exc}")
        self.position += round(discarded * SAMPLE_RATE)
        return None

    def _on_resumed(self, params: dict[str, Any]) -> list[ProtocolEvent]:
        if self.state is not _A.PAUSED:
            return [ProtocolError(f"'resumed' in state {self.state.name} ignored", fatal=False)]
        error = self._advance(params, "resumed")
        if error:
            return error
        self._goto(_A.ACTIVE)
        return [Paused(False)]

    def _on_discarded(self, params: dict[str, Any]) -> list[ProtocolEvent]:
        if self.state not in (_A.ACTIVE, _A.PAUSED):
            return []
        return self._advance(params, "discarded") or []

    def _on_update(self, params: dict[str, Any]) -> list[ProtocolEvent]:
        return [self._message("updated")]

    def _on_error(self, params: dict[str, Any]) -> list[ProtocolEvent]:
        code = params.get("code")
        return [
            ProtocolError(
                f"client reported error {code}: {params.get('message', '')}",
                fatal=False,
                code=code if isinstance(code, int) else None,
            )
        ]


def _opt_str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


# --------------------------------------------------------------------------- client side


class AudioHookClientError(Exception):
    """The server broke the protocol (from the client's point of view)."""


class AudioHookClient:
    """Builds and tracks what Genesys sends (sans-I/O): open, audio frames, ping, close.

    `receive(text)` digests a server message and returns the messages to send back.
    """

    def __init__(
        self,
        *,
        organization_id: str | None = None,
        session_id: str | None = None,
        correlation_id: str | None = None,
        conversation_id: str | None = None,
        participant: dict[str, str] | None = None,
        offers: list[dict[str, Any]] | None = None,
        custom_config: dict[str, Any] | None = None,
        language: str | None = None,
    ) -> None:
        self.organization_id = organization_id or str(uuid.uuid4())
        self.session_id = session_id or str(uuid.uuid4())
        self.correlation_id = correlation_id or str(uuid.uuid4())
        self.conversation_id = conversation_id or str(uuid.uuid4())
        self.participant = participant or {"id": str(uuid.uuid4()), "ani": "", "aniName": "", "dnis": ""}
        self.offers = offers or stereo_offers()
        self.custom_config = custom_config
        self.language = language
        self.seq = 0
        self.serverseq = 0
        self.samples = 0  # per channel, streamed so far (the `position` field)
        self.discarded = 0  # samples not sent while paused
        self.state = "new"  # new -> opening -> open -> closing -> closed
        self.paused = False
        self.selected: dict[str, Any] | None = None
        self.pending_ping: int | None = None
        self._pause_mark = (0, 0)
        self.disconnect: dict[str, Any] | None = None
        self.events: list[dict[str, Any]] = []

    def headers(self, api_key: str) -> dict[str, str]:
        return {
            "Audiohook-Organization-Id": self.organization_id,
            "Audiohook-Session-Id": self.session_id,
            "Audiohook-Correlation-Id": self.correlation_id,
            "X-API-KEY": api_key,
        }

    def signed_headers(
        self,
        api_key: str,
        client_secret: str | None,
        *,
        host: str,
        request_target: str,
        scheme: str = "wss",
        created: int | None = None,
    ) -> dict[str, str]:
        headers = self.headers(api_key)
        if client_secret:
            headers.update(
                sign_audiohook_request(
                    headers,
                    request_target=request_target,
                    client_secret=client_secret,
                    key_id=api_key,
                    host=host,
                    scheme=scheme,
                    created=created,
                )
            )
        return headers

    def _message(self, type_: str, parameters: dict[str, Any] | None = None) -> str:
        self.seq += 1
        return json.dumps(
            {
                "version": VERSION,
                "type": type_,
                "id": self.session_id,
                "seq": self.seq,
                "serverseq": self.serverseq,
                "position": format_duration((self.samples + self.discarded) / SAMPLE_RATE),
                "parameters": parameters or {},
            },
            separators=(",", ":"),
        )

    def open(self) -> str:
        params: dict[str, Any] = {
            "organizationId": self.organization_id,
            "conversationId": self.conversation_id,
            "participant": self.participant,
            "media": self.offers,
        }
        if self.custom_config is not None:
            params["customConfig"] = self.custom_config
        if self.language:
            params["language"] = self.language
        self.state = "opening"
        return self._message("open", params)

    def ping(self) -> str:
        if self.pending_ping is not None:
            raise AudioHookClientError(f"no 'pong' for ping seq {self.pending_ping} within the ping interval")
        text = self._message("ping")
        self.pending_ping = self.seq
        return text

    def error(self, code: int, message: str) -> str:
        """An `error` message (e.g. 415 when the server sent binary, 408 on a missing pong)."""
        return self._message("error", {"code": code, "message": message})

    def close(self, reason: str = "end") -> str:
        self.state = "closing"
        return self._message("close", {"reason": reason})

    def audio(self, customer: bytes | None, agent: bytes | None) -> bytes:
        """One binary frame from PCM16 LE mono slices of equal length, per the selected media."""
        if self.selected is None:
            raise AudioHookClientError("no media selected; cannot send audio")
        tracks = {"external": customer, "internal": agent}
        n = max(len(t or b"") for t in tracks.values())
        chans = [(tracks[c] or b"").ljust(n, b"\0") for c in self.selected["channels"]]
        self.samples += n // 2
        if self.selected["format"] == "PCMU":
            return interleave([ulaw_encode(c) for c in chans], width=1)
        return interleave(chans, width=2)

    def skip(self, samples: int) -> None:
        """Audio that was not sent because the server paused us."""
        self.discarded += samples

    def receive(self, text: str) -> list[str]:
        try:
            msg = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AudioHookClientError(f"server sent invalid JSON: {exc}") from exc
        if not isinstance(msg, dict) or msg.get("version") != VERSION or not isinstance(msg.get("parameters"), dict):
            raise AudioHookClientError(f"not an AudioHook server message: {text[:200]}")
        if msg.get("seq") != self.serverseq + 1:
            raise AudioHookClientError(f"server seq {msg.get('seq')} is not {self.serverseq + 1}")
        if msg.get("clientseq") != self.seq:
            raise AudioHookClientError(f"server clientseq {msg.get('clientseq')} is not our last seq {self.seq}")
        self.serverseq = msg["seq"]
        kind = msg.get("type")
        params = msg["parameters"]
        if kind == "opened":
            if self.state != "opening":
                raise AudioHookClientError(f"'opened' in state {self.state}")
            media = params.get("media", [])
            if not isinstance(media, list) or len(media) > 1:
                raise AudioHookClientError(f"'opened' must select 0 or 1 media, got {media!r}")
            if media and media[0] not in self.offers:
                raise AudioHookClientError(f"'opened' selected media that was not offered: {media[0]!r}")
            self.selected = media[0] if media else None
            self.state = "open"
            self.paused = bool(params.get("startPaused", False))
            return []
        if kind == "pong":
            self.pending_ping = None
            return []
        if kind == "pause":
            if self.state == "open" and not self.paused:
                self.paused = True
                self._pause_mark = (self.samples + self.discarded, self.discarded)
                return [self._message("paused")]
            return []
        if kind == "resume":
            if self.state == "open" and self.paused:
                self.paused = False
                at, discarded_before = self._pause_mark
                params = {
                    "start": format_duration(at / SAMPLE_RATE),
                    "discarded": format_duration((self.discarded - discarded_before) / SAMPLE_RATE),
                }
                return [self._message("resumed", params)]
            return []
        if kind == "disconnect":
            self.disconnect = params
            if self.state in ("opening", "open"):
                return [self.close("disconnect")]
            return []
        if kind == "closed":
            if self.state != "closing":
                raise AudioHookClientError(f"'closed' in state {self.state}")
            self.state = "closed"
            return []
        if kind in ("event", "updated", "reconnect"):
            self.events.append(msg)
            return []
        raise AudioHookClientError(f"unknown server message type {kind!r}")


def stereo_offers() -> list[dict[str, Any]]:
    """What Genesys offers for a two-party call: stereo, then each side alone."""
    return [
        {"type": "audio", "format": "PCMU", "channels": ["external", "internal"], "rate": SAMPLE_RATE},
        {"type": "audio", "format": "PCMU", "channels": ["external"], "rate": SAMPLE_RATE},
        {"type": "audio", "format": "PCMU", "channels": ["internal"], "rate": SAMPLE_RATE},
    ]


def mono_offers() -> list[dict[str, Any]]:
    return [{"type": "audio", "format": "PCMU", "channels": ["external"], "rate": SAMPLE_RATE}]
