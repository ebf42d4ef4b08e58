"""The shared event vocabulary of assist.

Every part of the service speaks in these pydantic models, and they flow one way:

    AudioFrame -> TranscriptSegment -> Prompt -> (sidebar, supervisor, store) -> summary -> outbox -> CRM

`stream` produces CallStarted / CallUpdated / AudioFrame / TranscriptSegment / CallEnded,
`coach` consumes segments and produces Prompt, the web layer fans everything out.  Every event
that travels on the live feed has a literal ``type`` so a union of them can be parsed back.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

Speaker = Literal["customer", "agent"]
SPEAKERS: tuple[Speaker, Speaker] = ("customer", "agent")

Severity = Literal["critical", "high", "medium", "info"]

Audience = Literal["agent", "supervisor", "both"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4().hex}"


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")

    call_id: str
    at: datetime = Field(default_factory=utcnow, description="wall-clock time the event was created")


class CallStarted(_Event):
    """A call began streaming (or was registered ahead of its audio)."""

    type: Literal["call_started"] = "call_started"
    protocol: str
    external_id: str | None = Field(None, description="the phone system's own id (CallSid, conversationId…)")
    agent_id: str | None = None
    account_id: str | None = None
    language: str = "zh-CN"
    started_at: datetime = Field(default_factory=utcnow)
    sample_rate: int = 8000
    customer_phone: str | None = None
    direction: Literal["inbound", "outbound"] | None = None
    transcribed: bool = True
    meta: dict[str, Any] = Field(default_factory=dict)


class CallUpdated(_Event):
    """Metadata of a live call changed (a dialler/CTI claimed it, or the language changed)."""

    type: Literal["call_updated"] = "call_updated"
    agent_id: str | None = None
    account_id: str | None = None
    language: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class CallEnded(_Event):
    type: Literal["call_ended"] = "call_ended"
    ended_at: datetime = Field(default_factory=utcnow)
    reason: str = "hangup"
    duration: float = Field(0.0, description="seconds of call audio")


class AudioFrame(BaseModel):
    """PCM16 little-endian mono audio of one speaker, placed on the call's timeline.

    Not sent on the live feed (it is bytes); it is the hand-over from a phone protocol to recognition.
    """

    model_config = ConfigDict(extra="forbid")

    call_id: str
    speaker: Speaker
    start: float = Field(description="call-relative seconds of the first sample")
    sample_rate: int
    pcm: bytes
    received_at: float = Field(description="monotonic clock when the audio arrived")

    @property
    def duration(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate


class Word(BaseModel):
    word: str
    start: float
    end: float
    conf: float = 1.0


class TranscriptSegment(_Event):
    """A partial (live, will be replaced) or final utterance of one speaker.

    `start`/`end` are call-relative seconds.  A partial carries the id the final will have, so a
    client replaces the faint partial with the final of the same `segment_id`.
    """

    type: Literal["segment"] = "segment"
    segment_id: str
    index: int = Field(description="0-based number of this speaker's utterance in the call")
    speaker: Speaker
    final: bool
    start: float
    end: float
    text: str
    words: list[Word] = Field(default_factory=list)
    loudness_db: float | None = Field(None, description="RMS level of the utterance in dBFS")
    language: str = "zh-CN"


class Evidence(BaseModel):
    segment_ids: list[str] = Field(default_factory=list)
    quote: str = ""


class Prompt(_Event):
    """Something the coach tells the agent and/or supervisors."""

    type: Literal["prompt"] = "prompt"
    prompt_id: str = Field(default_factory=lambda: new_id("p_"))
    kind: str = Field(description="account_card, disclosure, compliance, call_time, temperament, risk, promise…")
    severity: Severity = "info"
    audience: Audience = "agent"
    text: str
    evidence: Evidence = Field(default_factory=Evidence)
    rule: str | None = Field(None, description="rule id from the playbook, e.g. CN-ABUSE-01")
    source: str | None = Field(None, description="the regulation clause behind the rule")
    data: dict[str, Any] = Field(default_factory=dict, description="structured payload (account card, checklist…)")
    created_at: datetime = Field(default_factory=utcnow)


class CallRefused(_Event):
    """Admission control turned a call away (capacity or lag)."""

    type: Literal["call_refused"] = "call_refused"
    protocol: str
    reason: str


FeedEvent = Annotated[
    CallStarted | CallUpdated | CallEnded | TranscriptSegment | Prompt | CallRefused,
    Field(discriminator="type"),
]
feed_event_adapter: TypeAdapter[Any] = TypeAdapter(FeedEvent)


def parse_feed_event(data: str | bytes | dict[str, Any]) -> Any:
    """Parse one live-feed message back into its event model."""
    if isinstance(data, dict):
        return feed_event_adapter.validate_python(data)
    return feed_event_adapter.validate_json(data)
