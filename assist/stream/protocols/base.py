"""What every sans-I/O phone protocol produces.

A protocol object is fed what arrived on the wire (`receive_text`, `receive_bytes`, or
`receive_data` for a byte stream / datagram) and returns a list of these events, in order.
Events are of two families:

* call events for the session layer: `CallStart`, `Audio`, `Dtmf`, `CallStop`, `ProtocolError`;
* wire actions for the I/O layer: `SendText`, `SendBytes`, `Close`.

The I/O layer (aiohttp handler, asyncio TCP/UDP server) performs the wire actions and hands call
events to the session; it never looks inside a message.  `Audio` carries PCM16 little-endian mono
per speaker, already decoded from the wire codec; its timeline position is `position` samples from
the start of that speaker's track, counted from the bytes received (never from a peer timestamp
unless the protocol defines one, as RTP does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Speaker = Literal["customer", "agent"]


@dataclass(frozen=True, slots=True)
class CallStart:
    """The peer told us who the call is.  Fields the protocol does not carry are None."""

    external_id: str | None
    sample_rate: int
    agent_id: str | None = None
    account_id: str | None = None
    language: str | None = None
    customer_phone: str | None = None
    direction: Literal["inbound", "outbound"] | None = None
    speakers: tuple[Speaker, ...] = ("customer", "agent")
    meta: dict[str, Any] = field(default_factory=dict)
    probe: bool = False  # a connection test (AudioHook null UUIDs), not a real call


@dataclass(frozen=True, slots=True)
class Audio:
    speaker: Speaker
    pcm: bytes  # PCM16 LE mono
    sample_rate: int
    position: int  # sample index of pcm[0] in this speaker's track


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str
    speaker: Speaker | None = None


@dataclass(frozen=True, slots=True)
class CallStop:
    reason: str = "hangup"


@dataclass(frozen=True, slots=True)
class Paused:
    paused: bool  # True when the peer paused the audio, False when it resumed


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """The peer broke the protocol.  `fatal` errors are followed by a Close event."""

    message: str
    fatal: bool = True
    code: int | None = None


@dataclass(frozen=True, slots=True)
class SendText:
    text: str


@dataclass(frozen=True, slots=True)
class SendBytes:
    data: bytes


@dataclass(frozen=True, slots=True)
class Close:
    """Close the connection (WebSocket close code where it applies)."""

    code: int = 1000
    reason: str = ""


ProtocolEvent = CallStart | Audio | Dtmf | CallStop | Paused | ProtocolError | SendText | SendBytes | Close


class Refusal(Exception):
    """Raised by the session layer when admission control refuses a call; protocols turn it into
    their own error reply through `refuse()`."""
