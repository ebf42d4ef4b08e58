"""The typed JSON messages between the browser (agent sidebar, supervisor console) and the server on /ws.

One WebSocket per page.  The client opens with `hello`; the server answers with a `snapshot` (live calls,
and for the followed call its transcript so far, prompts, checklist, messages, summary), then streams
`event`s (the live-feed events of assist.events, wrapped) and the console's own messages.  State only
grows (segments by segment_id, a final replacing its partial; prompts by prompt_id; messages by
message_id; acks by prompt_id), so a client merges whatever arrives in whatever order, and a reconnect
with a fresh snapshot loses nothing.  `schema()` is the JSON Schema served at /api/schema/browser.json.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from assist.events import FeedEvent, Prompt, Speaker

# the summary messages are what the summary service returns; re-exported as part of this protocol
from assist.service.summary_service import Delivery as Delivery
from assist.service.summary_service import DeliveryState, SummaryDraft
from assist.service.summary_service import DeliveryStatus as DeliveryStatus
from assist.service.summary_service import SummaryStateName as SummaryStateName
from assist.stream.protocols.base import JsonError
from assist.web.api.http import NonFiniteNumber, load_json_strict

PROTOCOL_VERSION = 1
Role = Literal["agent", "supervisor"]


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- parts


class UserInfo(_Msg):
    name: str
    role: Role
    team: str | None = None
    display_name: str | None = None


class CallInfo(_Msg):
    call_id: str
    agent_id: str | None = None
    account_id: str | None = None
    language: str | None = None
    status: str = Field("live", description="registered, live or ended")
    protocol: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration: float | None = Field(None, description="seconds of call audio (ended calls)")
    end_reason: str | None = None
    transcribed: bool = Field(True, description="false: no speech recognition ran (no transcript, no checks)")
    clock_offset: float | None = Field(
        None,
        description="seconds the call's own clock runs ahead of the server's (the demo plays on its scenario's clock)",
    )
    fallback_playbook: str | None = Field(
        None, description="the playbook the call is coached with when its language has none (e.g. zh-CN for ko-KR)"
    )


class Segment(_Msg):
    segment_id: str
    speaker: Speaker
    index: int
    start: float
    end: float
    text: str
    final: bool = True


# --------------------------------------------------------------------------- server -> client


class SupervisorMessage(_Msg):
    """A supervisor's text to the agent on a call (shown in that agent's sidebar)."""

    type: Literal["supervisor_message"] = "supervisor_message"
    message_id: str
    call_id: str
    from_user: str
    to_user: str | None = None
    text: str
    at: datetime


class AlertAck(_Msg):
    """A supervisor acknowledged an alert (a prompt for supervisors)."""

    type: Literal["alert_ack"] = "alert_ack"
    prompt_id: str
    call_id: str
    by_user: str
    at: datetime


class FollowedCall(_Msg):
    call: CallInfo
    transcript: list[Segment] = Field(default_factory=list, description="finals so far, then live partials")
    prompts: list[Prompt] = Field(default_factory=list)
    messages: list[SupervisorMessage] = Field(default_factory=list)
    acks: list[AlertAck] = Field(default_factory=list)
    summary: SummaryDraft | None = None
    delivery: DeliveryState | None = None


class LiveCallRow(_Msg):
    call: CallInfo
    prompts: list[Prompt] = Field(default_factory=list, description="the latest prompt of each kind, and every alert")
    acks: list[AlertAck] = Field(default_factory=list)


class RecentCallRow(_Msg):
    call: CallInfo
    alerts: int = 0
    delivery: DeliveryState | None = None
    outcome: str | None = Field(None, description="the summary's outcome (null until it is drafted)")
    promise: dict[str, Any] | None = Field(None, description="the summary's promise: amount, date, currency")


class Snapshot(_Msg):
    type: Literal["snapshot"] = "snapshot"
    reason: Literal["hello", "subscribe"] = "hello"
    protocol: int = PROTOCOL_VERSION
    server_time: datetime
    user: UserInfo
    live_calls: list[LiveCallRow] = Field(default_factory=list)
    recent_calls: list[RecentCallRow] = Field(default_factory=list)
    follow: FollowedCall | None = None


class EventMessage(_Msg):
    type: Literal["event"] = "event"
    sent_at: float = Field(description="server wall clock (ms since the epoch) when it was sent")
    event: FeedEvent
    call: CallInfo | None = Field(
        None,
        description="with call_started: the call as the pages show it, with what "
        "the event does not carry (fallback_playbook, clock_offset)",
    )


class ErrorMessage(_Msg):
    type: Literal["error"] = "error"
    status: int = Field(description="HTTP-like: 400 bad message, 403 not yours, 404 unknown, 422 invalid edit")
    code: str
    message: str
    request: str | None = Field(None, description="type of the client message this answers")
    call_id: str | None = None


class Pong(_Msg):
    type: Literal["pong"] = "pong"
    t: float | None = None
    server_time: float


ServerMessage = Annotated[
    Snapshot | EventMessage | SupervisorMessage | AlertAck | SummaryDraft | DeliveryState | ErrorMessage | Pong,
    Field(discriminator="type"),
]


# --------------------------------------------------------------------------- client -> server


class Hello(_Msg):
    """First message on every (re)connection: asks for a snapshot, following `call_id` (agents: default
    their current call)."""

    type: Literal["hello"] = "hello"
    protocol: int = PROTOCOL_VERSION
    call_id: str | None = Field(None, max_length=128)


class Subscribe(_Msg):
    """Follow one call (its transcript and every prompt), or none; answered with a snapshot."""

    type: Literal["subscribe"] = "subscribe"
    call_id: str | None = Field(None, max_length=128)


class AckAlert(_Msg):
    type: Literal["ack_alert"] = "ack_alert"
    prompt_id: str = Field(min_length=1, max_length=128)


class SendMessage(_Msg):
    type: Literal["send_message"] = "send_message"
    call_id: str = Field(min_length=1, max_length=128)
    text: str = Field(min_length=1, max_length=1000)


class EditSummary(_Msg):
    type: Literal["edit_summary"] = "edit_summary"
    call_id: str = Field(min_length=1, max_length=128)
    edits: dict[str, Any] = Field(description="field -> new value, only the editable fields")


class SubmitSummary(_Msg):
    type: Literal["submit_summary"] = "submit_summary"
    call_id: str = Field(min_length=1, max_length=128)
    edits: dict[str, Any] | None = Field(None, description="last edits, applied before submitting")


class Ping(_Msg):
    type: Literal["ping"] = "ping"
    t: float | None = None


ClientMessage = Annotated[
    Hello | Subscribe | AckAlert | SendMessage | EditSummary | SubmitSummary | Ping,
    Field(discriminator="type"),
]
CLIENT_TYPES = ("hello", "subscribe", "ack_alert", "send_message", "edit_summary", "submit_summary", "ping")

client_adapter: TypeAdapter[Any] = TypeAdapter(ClientMessage)
server_adapter: TypeAdapter[Any] = TypeAdapter(ServerMessage)


class BadMessage(ValueError):
    """A client message that is not JSON or not one of the client message types; says what was wrong."""

    def __init__(self, message: str, request: str | None = None) -> None:
        super().__init__(message)
        self.request = request


def parse_client_message(text: str) -> Any:
    try:
        raw = load_json_strict(text)  # no NaN/Infinity: they would reach summary edits and the store
    except NonFiniteNumber as e:
        raise BadMessage(f"message is not JSON this server accepts: {e}") from None
    except JsonError as e:
        raise BadMessage(f"message is not JSON: {e}") from None
    except (ValueError, RecursionError) as e:  # anything the strict loader did not name
        raise BadMessage(f"message is not JSON this server accepts: {str(e)[:100]}") from None
    if not isinstance(raw, dict):
        raise BadMessage("message must be a JSON object with a 'type'")
    kind = raw.get("type")
    if kind not in CLIENT_TYPES:
        raise BadMessage(f"unknown message type {kind!r}; expected one of {', '.join(CLIENT_TYPES)}")
    try:
        return client_adapter.validate_python(raw)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:]) or 'message'}: {err['msg']}" for err in e.errors()
        )
        raise BadMessage(f"invalid {kind}: {problems}", str(kind)) from None


def parse_server_message(data: str | dict[str, Any]) -> Any:
    """Parse a server message (for tests and tools)."""
    if isinstance(data, dict):
        return server_adapter.validate_python(data)
    return server_adapter.validate_json(data)


def event_json(ev: BaseModel, call: CallInfo | None = None) -> str:
    """An `event` message, built without re-validating the event (the hot path)."""
    extra = f',"call":{call.model_dump_json()}' if call is not None else ""
    return f'{{"type":"event","sent_at":{time.time() * 1000:.3f},"event":{ev.model_dump_json()}{extra}}}'


def schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of every message: `ServerMessage` (server -> client) and `ClientMessage`."""
    defs: dict[str, Any] = {}
    roots: dict[str, Any] = {}
    for name, adapter in (("ServerMessage", server_adapter), ("ClientMessage", client_adapter)):
        s = adapter.json_schema(ref_template="#/$defs/{model}")
        defs.update(s.pop("$defs", {}))
        roots[name] = s
    defs.update(roots)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "/api/schema/browser.json",
        "title": "assist browser protocol",
        "description": __doc__.strip() if __doc__ else "",
        "version": PROTOCOL_VERSION,
        "anyOf": [{"$ref": "#/$defs/ServerMessage"}, {"$ref": "#/$defs/ClientMessage"}],
        "$defs": defs,
    }
