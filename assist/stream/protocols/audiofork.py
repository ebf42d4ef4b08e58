"""FreeSWITCH mod_audio_fork (drachtio) WebSocket stream, server side (sans-I/O), plus the client encoder.

Wire (subprotocol `audio.drachtio.org`, echo it in the handshake):

1. The first frame is text: the metadata argument of `uuid_audio_fork ... start <url> <mix> <rate>
   [bug] <metadata>`.  assist defines it as a JSON object:

   | key             | meaning                                                      | required |
   |-----------------|--------------------------------------------------------------|----------|
   | `callId`        | the call's id in the PBX (external_id)                       | no       |
   | `agentId`       | agent id                                                     | no       |
   | `accountId`     | debtor account number                                        | no       |
   | `language`      | e.g. "zh-CN"                                                 | no       |
   | `customerPhone` | customer number (ANI or dialled number)                      | no       |
   | `direction`     | "inbound" or "outbound"                                      | no       |
   | `sampleRate`    | 8000 or 16000: must equal the rate given to uuid_audio_fork  | yes      |
   | `channels`      | 1 (mono / mixed) or 2 (stereo)                               | yes      |
   | `speaker`       | mono only: "customer" (default) or "agent"                   | no       |

   Any other keys are kept in CallStart.meta.
2. Then binary frames of raw L16 little-endian PCM of any size.  Stereo is interleaved per sample:
   **channel 0 = customer, channel 1 = agent**.  In mod_audio_fork `stereo` mode channel 0 is the read
   stream of the forked channel, so fork the customer's leg (A-leg of an inbound call).
3. Later text frames are JSON control messages: `{"type":"dtmf","digit":"5"}` (or `"data":{"digit":..}`),
   `{"type":"stop"}`.  A zero-length binary frame is mod_audio_fork's graceful shutdown.

Replies: errors are `{"type":"error","data":{"reason":...}}` text frames (mod_audio_fork raises them as
a FreeSWITCH event).  Fatal: audio before metadata, bad metadata JSON, an unsupported sampleRate or
channels, an oversized message -> error frame + Close (1008/1007/1003/1009).  Non-fatal: a binary
frame that splits a sample or a stereo sample-frame (the partial bytes are kept and joined to the
next frame, so nothing is lost and alignment is kept), unknown or invalid control messages.
Text frames are parsed strictly (no NaN/Infinity, bounded nesting) and metadata fields are type-checked.
States and their transitions: `AudioForkState`, `TRANSITIONS`.  Basic auth is decided before the
upgrade with `check_basic_auth`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import uuid
from collections.abc import Iterator, Mapping
from enum import Enum, auto
from typing import Any, Literal

from assist.stream.codecs import deinterleave, interleave
from assist.stream.protocols.base import (
    Audio,
    CallStart,
    CallStop,
    Close,
    CloseCode,
    Dtmf,
    JsonError,
    PhoneProtocol,
    ProtocolError,
    ProtocolEvent,
    SendText,
    Speaker,
    loads_strict,
)

SUBPROTOCOL = "audio.drachtio.org"
SAMPLE_RATES = (8000, 16000)
STEREO_ORDER: tuple[Speaker, Speaker] = ("customer", "agent")  # channel 0, channel 1

_KNOWN_KEYS = {
    "callId",
    "agentId",
    "accountId",
    "language",
    "customerPhone",
    "direction",
    "sampleRate",
    "channels",
    "speaker",
}


def check_basic_auth(headers: Mapping[str, str], user: str | None, password: str | None) -> str | None:
    """Decide the upgrade: None when it may proceed, else why not.  No user and password = check off."""
    if user is None and password is None:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    header = lower.get("authorization")
    if not header:
        return "missing Authorization header (HTTP Basic auth is required)"
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return f"Authorization scheme {scheme!r} is not Basic"
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return "Authorization Basic credentials are not valid base64 UTF-8"
    given_user, sep, given_password = decoded.partition(":")
    if not sep:
        return "Authorization Basic credentials have no ':' between user and password"
    user_ok = hmac.compare_digest(given_user.encode(), (user or "").encode())
    password_ok = hmac.compare_digest(given_password.encode(), (password or "").encode())
    if not (user_ok and password_ok):
        return "wrong user name or password"
    return None


def basic_auth_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def error_message(reason: str) -> str:
    return json.dumps({"type": "error", "data": {"reason": reason}})


def _opt_str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _short(value: Any) -> str:
    """A peer's value for an error message, cut to a readable length."""
    return repr(value)[:60]


class AudioForkState(Enum):
    WAITING = auto()  # for the metadata text frame
    STREAMING = auto()  # metadata taken, CallStart out, audio flows
    STOPPED = auto()  # `stop` or the zero-length graceful-shutdown frame
    FAILED = auto()  # the peer broke the protocol; our Close is on its way
    CLOSED = auto()  # we closed, or the transport is gone


_F = AudioForkState
TRANSITIONS: dict[AudioForkState, frozenset[AudioForkState]] = {
    _F.WAITING: frozenset({_F.STREAMING, _F.FAILED, _F.CLOSED}),
    _F.STREAMING: frozenset({_F.STOPPED, _F.FAILED, _F.CLOSED}),
    _F.STOPPED: frozenset({_F.FAILED, _F.CLOSED}),
    _F.FAILED: frozenset({_F.CLOSED}),
    _F.CLOSED: frozenset(),
}


class AudioForkServer(PhoneProtocol[AudioForkState]):
    """One mod_audio_fork stream, seen from our server."""

    TRANSITIONS = TRANSITIONS

    def __init__(self, *, max_message_bytes: int = 64 * 1024) -> None:
        self.max_message_bytes = max_message_bytes
        self.state = AudioForkState.WAITING
        self.sample_rate = 0
        self.speakers: tuple[Speaker, ...] = ()
        self.position = 0  # samples per channel
        self._carry = b""  # bytes of an incomplete sample-frame, joined to the next binary frame

    # ------------------------------------------------------------------ helpers

    def _fatal(self, message: str, code: int) -> list[ProtocolEvent]:
        self._goto(_F.FAILED)
        return [ProtocolError(message, fatal=True, code=code), SendText(error_message(message)), Close(code)]

    def _warn(self, message: str) -> list[ProtocolEvent]:
        return [ProtocolError(message, fatal=False), SendText(error_message(message))]

    # ------------------------------------------------------------------ I/O layer calls

    def accept(self) -> list[ProtocolEvent]:
        self._require("accept", _F.STREAMING)
        return []

    def refuse(self, reason: str) -> list[ProtocolEvent]:
        self._require("refuse", _F.STREAMING)
        self._goto(_F.CLOSED)
        return [SendText(error_message(reason)), Close(CloseCode.TRY_LATER, reason)]

    def close(self, reason: str = "") -> list[ProtocolEvent]:
        self._require("close", _F.WAITING, _F.STREAMING, _F.STOPPED)
        self._goto(_F.CLOSED)
        return [Close(CloseCode.NORMAL, reason)]

    def fail(self, reason: str, code: int = CloseCode.INTERNAL_ERROR) -> list[ProtocolEvent]:
        """We give up on the stream: an `error` message (raised as a FreeSWITCH event), then Close."""
        self._require("fail", _F.WAITING, _F.STREAMING, _F.STOPPED, _F.FAILED)
        streaming = self.state is _F.STREAMING
        self._goto(_F.CLOSED)
        stop: list[ProtocolEvent] = [CallStop("error")] if streaming else []
        return [*stop, SendText(error_message(reason)), Close(code, reason[:120])]

    def connection_closed(self) -> list[ProtocolEvent]:
        """The socket went away; a call that started and never stopped ends here."""
        out: list[ProtocolEvent] = []
        if self.state is _F.STREAMING:
            if self._carry:
                out.append(
                    ProtocolError(f"{len(self._carry)} trailing byte(s) of an incomplete sample dropped", fatal=False)
                )
            out.append(CallStop("disconnected"))
        self._goto(_F.CLOSED)
        return out

    # ------------------------------------------------------------------ wire input

    def receive_text(self, text: str) -> list[ProtocolEvent]:
        if self.state in (_F.FAILED, _F.CLOSED):
            return []
        size = len(text) if text.isascii() else len(text.encode())
        if size > self.max_message_bytes:
            return self._fatal(
                f"text frame of {size} bytes exceeds the {self.max_message_bytes} byte limit", CloseCode.TOO_BIG
            )
        if self.state is _F.WAITING:
            return self._on_metadata(text)
        try:
            msg = loads_strict(text)
        except JsonError as exc:
            return self._warn(f"text frame is not valid JSON: {exc}")
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            return self._warn("text frame is not a JSON object with a string 'type'")
        kind = msg["type"]
        if kind == "stop":
            if self.state is not _F.STREAMING:
                return []
            self._goto(_F.STOPPED)
            return [CallStop("stop")]
        if kind == "dtmf":
            nested = msg.get("data")
            data: dict[str, Any] = nested if isinstance(nested, dict) else msg
            digit = data.get("digit", data.get("dtmf"))
            if not isinstance(digit, str) or not digit:
                return self._warn("dtmf message without a 'digit' string")
            speaker = data.get("speaker")
            return [Dtmf(digit, speaker if isinstance(speaker, str) and speaker in STEREO_ORDER else None)]
        return self._warn(f"unknown message type {kind!r} ignored")

    def _on_metadata(self, text: str) -> list[ProtocolEvent]:
        try:
            meta = loads_strict(text)
        except JsonError as exc:
            return self._fatal(f"first text frame (metadata) is not valid JSON: {exc}", CloseCode.INVALID)
        if not isinstance(meta, dict):
            return self._fatal("metadata is not a JSON object", CloseCode.INVALID)
        rate = meta.get("sampleRate")
        if not isinstance(rate, int) or isinstance(rate, bool) or rate not in SAMPLE_RATES:
            return self._fatal(f"metadata sampleRate must be 8000 or 16000, got {_short(rate)}", CloseCode.UNSUPPORTED)
        channels = meta.get("channels")
        if not isinstance(channels, int) or isinstance(channels, bool) or channels not in (1, 2):
            return self._fatal(f"metadata channels must be 1 or 2, got {_short(channels)}", CloseCode.UNSUPPORTED)
        speaker = meta.get("speaker", "customer")
        if not isinstance(speaker, str) or speaker not in STEREO_ORDER:
            return self._fatal(
                f"metadata speaker must be 'customer' or 'agent', got {_short(speaker)}", CloseCode.INVALID
            )
        out: list[ProtocolEvent] = []
        raw_direction = meta.get("direction")
        direction: Literal["inbound", "outbound"] | None = None
        if raw_direction == "inbound" or raw_direction == "outbound":
            direction = raw_direction
        elif raw_direction is not None:
            out.append(
                ProtocolError(f"metadata direction {_short(raw_direction)} ignored (inbound|outbound)", fatal=False)
            )
        self.sample_rate = int(rate)
        self.speakers = STEREO_ORDER if channels == 2 else (speaker,)
        self._goto(_F.STREAMING)
        extra = {k: v for k, v in meta.items() if k not in _KNOWN_KEYS}
        out.insert(
            0,
            CallStart(
                external_id=_opt_str(meta.get("callId")),
                sample_rate=self.sample_rate,
                agent_id=_opt_str(meta.get("agentId")),
                account_id=_opt_str(meta.get("accountId")),
                language=_opt_str(meta.get("language")),
                customer_phone=_opt_str(meta.get("customerPhone")),
                direction=direction,
                speakers=self.speakers,
                meta={"protocol": "audiofork", "channels": channels, **extra},
            ),
        )
        return out

    def receive_bytes(self, data: bytes) -> list[ProtocolEvent]:
        if self.state in (_F.FAILED, _F.CLOSED, _F.STOPPED):
            return []
        if self.state is _F.WAITING:
            return self._fatal(
                f"binary audio frame ({len(data)} bytes) before the metadata text frame", CloseCode.POLICY
            )
        if not data:
            self._goto(_F.STOPPED)
            out: list[ProtocolEvent] = []
            if self._carry:
                out.append(
                    ProtocolError(f"{len(self._carry)} trailing byte(s) of an incomplete sample dropped", fatal=False)
                )
            out.append(CallStop("graceful-shutdown"))
            return out
        out = []
        frame = 2 * len(self.speakers)
        buf = self._carry + data if self._carry else data
        whole = len(buf) - len(buf) % frame
        carried = len(buf) - whole
        if carried:  # only a frame that leaves a partial sample(-frame) behind is reported
            what = (
                "an odd number of bytes for L16"
                if len(data) % 2
                else f"not a whole number of {frame}-byte stereo frames"
            )
            out += self._warn(f"binary frame of {len(data)} bytes is {what}; {carried} byte(s) kept for the next frame")
        self._carry = buf[whole:]
        if not whole:
            return out
        position = self.position
        self.position += whole // frame
        body = buf[:whole]
        if len(self.speakers) == 1:
            out.append(Audio(self.speakers[0], bytes(body), self.sample_rate, position))
            return out
        customer, agent = deinterleave(bytes(body), 2, 2)  # channel 0 = customer, 1 = agent
        out.append(Audio(STEREO_ORDER[0], customer, self.sample_rate, position))
        out.append(Audio(STEREO_ORDER[1], agent, self.sample_rate, position))
        return out


class AudioForkClient:
    """Builds what mod_audio_fork sends, for the simulator and tests (sans-I/O)."""

    FRAME_MS = (20, 40, 60)  # sizes cycle like libwebsockets' variable flushes

    def __init__(
        self,
        *,
        sample_rate: int,
        channels: int,
        call_id: str | None = None,
        agent_id: str | None = None,
        account_id: str | None = None,
        language: str | None = None,
        customer_phone: str | None = None,
        direction: str | None = "inbound",
        speaker: Speaker = "customer",
    ) -> None:
        if sample_rate not in SAMPLE_RATES:
            raise ValueError(f"sample_rate must be 8000 or 16000, got {sample_rate}")
        self.sample_rate = sample_rate
        self.channels = channels
        self.call_id = call_id or uuid.uuid4().hex
        self.fields = {
            "callId": self.call_id,
            "agentId": agent_id,
            "accountId": account_id,
            "language": language,
            "customerPhone": customer_phone,
            "direction": direction,
            "sampleRate": sample_rate,
            "channels": channels,
        }
        if channels == 1:
            self.fields["speaker"] = speaker

    def metadata(self) -> str:
        return json.dumps({k: v for k, v in self.fields.items() if v is not None})

    @staticmethod
    def stop() -> str:
        return json.dumps({"type": "stop"})

    @staticmethod
    def dtmf(digit: str) -> str:
        return json.dumps({"type": "dtmf", "digit": digit})

    def script(self, customer: bytes, agent: bytes | None) -> Iterator[tuple[float, str | bytes]]:
        """The whole stream as (seconds since start, frame): metadata, binary frames of 20/40/60 ms, stop.

        `customer`/`agent` are PCM16 LE mono at `sample_rate`; with channels=2 they are interleaved
        (customer first), the shorter padded with silence.
        """
        yield 0.0, self.metadata()
        if self.channels == 2:
            n = max(len(customer), len(agent or b""))
            body = interleave([customer.ljust(n, b"\0"), (agent or b"").ljust(n, b"\0")])
        else:
            body = customer
        frame_bytes = 2 * self.channels
        total = len(body) // frame_bytes
        done = 0
        k = 0
        while done < total:
            samples = self.sample_rate * self.FRAME_MS[k % len(self.FRAME_MS)] // 1000
            piece = body[done * frame_bytes : (done + samples) * frame_bytes]
            done = min(total, done + samples)
            k += 1
            yield done / self.sample_rate, piece
        yield total / self.sample_rate, self.stop()
