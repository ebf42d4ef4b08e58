"""The browser layer's live view of the calls: who each call belongs to (for access checks on every event),
the latest prompt of each kind and the alerts of every live call (the console's table and alert feed),
the last partial of each speaker (so a reload shows what is being said now), and the recently ended calls.

Fed by the hub before the event reaches any listener (`observe` runs as a hub writer), so a listener's
filter always knows the call an event belongs to.  Access: an agent sees the calls whose agent_id is their
name; a supervisor sees the calls of the agents in their team; a supervisor without a team sees all calls.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from assist.events import CallEnded, CallStarted, CallUpdated, Prompt, TranscriptSegment
from assist.store.users import User

RECENT_MAX = 200


@lru_cache(maxsize=64)
def fallback_playbook(language: str | None) -> str | None:
    """The playbook the coach falls back to for a call language that has none of its own (ko-KR: zh-CN), or
    None when the language has its own (the coach's rule in assist.coach.playbook.load_playbook)."""
    from assist.coach.playbook import DEFAULT_LANGUAGE, available_languages

    low = (language or "").strip().lower().replace("_", "-")
    if not low or low.startswith(("zh", "cmn", "en")):
        return None
    return None if language in available_languages() else DEFAULT_LANGUAGE


def _offset(meta: Any) -> float | None:
    value = meta.get("clock_offset") if isinstance(meta, dict) else None
    return float(value) if isinstance(value, int | float) else None


def is_alert(p: Prompt) -> bool:
    """An alert for supervisors: meant for them and more than information."""
    return p.audience in ("supervisor", "both") and p.severity != "info"


@dataclass
class CallEntry:
    call_id: str
    agent_id: str | None = None
    account_id: str | None = None
    language: str | None = None
    protocol: str | None = None
    status: str = "live"
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration: float | None = None
    end_reason: str | None = None
    transcribed: bool = True
    clock_offset: float | None = None  # a call on a scenario clock (the demo): its clock minus the server's
    latest: dict[str, Prompt] = field(default_factory=dict)  # kind -> latest prompt
    alerts: dict[str, Prompt] = field(default_factory=dict)  # prompt_id -> alert prompt
    partials: dict[str, TranscriptSegment] = field(default_factory=dict)  # speaker -> open partial

    def info(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "agent_id": self.agent_id,
            "account_id": self.account_id,
            "language": self.language,
            "status": self.status,
            "protocol": self.protocol,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration": self.duration,
            "end_reason": self.end_reason,
            "transcribed": self.transcribed,
            "clock_offset": self.clock_offset,
            "fallback_playbook": fallback_playbook(self.language),
        }

    def key_prompts(self) -> list[Prompt]:
        seen = {p.prompt_id: p for p in self.latest.values()}
        seen.update(self.alerts)
        return sorted(seen.values(), key=lambda p: p.created_at)


def entry_from_row(row: dict[str, Any]) -> CallEntry:
    def dt(v: Any) -> datetime | None:
        return datetime.fromisoformat(v) if isinstance(v, str) and v else None

    return CallEntry(
        call_id=row["call_id"],
        agent_id=row.get("agent_id"),
        account_id=row.get("account_id"),
        language=row.get("language"),
        protocol=row.get("protocol"),
        status=row.get("status") or "ended",
        started_at=dt(row.get("started_at")),
        ended_at=dt(row.get("ended_at")),
        duration=row.get("duration"),
        end_reason=row.get("end_reason"),
        transcribed=row.get("transcribed") is not False,
        clock_offset=_offset(row.get("meta")),
    )


class Directory:
    def __init__(self) -> None:
        self.live: dict[str, CallEntry] = {}
        self.recent: OrderedDict[str, CallEntry] = OrderedDict()  # ended, oldest first
        self.teams: dict[str, str | None] = {}  # user name -> team

    # ------------------------------------------------------------------ feed

    def observe(self, ev: Any) -> None:
        if isinstance(ev, CallStarted):
            started = self.live.get(ev.call_id) or self.recent.pop(ev.call_id, None) or CallEntry(call_id=ev.call_id)
            started.status, started.ended_at = "live", None
            started.agent_id = ev.agent_id or started.agent_id
            started.account_id = ev.account_id or started.account_id
            started.language, started.protocol, started.started_at = ev.language, ev.protocol, ev.started_at
            started.transcribed, started.clock_offset = ev.transcribed, _offset(ev.meta)
            self.live[ev.call_id] = started
            return
        if isinstance(ev, CallEnded):
            ended = self.live.pop(ev.call_id, None) or self.recent.pop(ev.call_id, None) or CallEntry(ev.call_id)
            ended.status, ended.ended_at, ended.duration = "ended", ev.ended_at, ev.duration
            ended.end_reason = ev.reason
            ended.partials.clear()
            self.add_recent(ended)
            return
        e = self.get(getattr(ev, "call_id", ""))
        if e is None:
            return
        if isinstance(ev, CallUpdated):
            e.agent_id = ev.agent_id or e.agent_id
            e.account_id = ev.account_id or e.account_id
            e.language = ev.language or e.language
        elif isinstance(ev, TranscriptSegment) and e.status == "live":
            if ev.final:
                open_ = e.partials.get(ev.speaker)
                if open_ is not None and open_.segment_id == ev.segment_id:
                    del e.partials[ev.speaker]
            else:
                e.partials[ev.speaker] = ev
        elif isinstance(ev, Prompt):
            e.latest[ev.kind] = ev
            if is_alert(ev):
                e.alerts[ev.prompt_id] = ev

    def add_recent(self, e: CallEntry) -> None:
        self.recent[e.call_id] = e
        self.recent.move_to_end(e.call_id)
        while len(self.recent) > RECENT_MAX:
            self.recent.popitem(last=False)

    def get(self, call_id: str) -> CallEntry | None:
        return self.live.get(call_id) or self.recent.get(call_id)

    def agent_of(self, call_id: str) -> str | None:
        e = self.get(call_id)
        return e.agent_id if e else None

    # ------------------------------------------------------------------ access

    def can_see(self, user: User, agent_id: str | None) -> bool:
        if user.role == "agent":
            return agent_id is not None and agent_id == user.name
        if user.team is None:
            return True
        return agent_id is not None and self.teams.get(agent_id) == user.team

    def visible_live(self, user: User) -> list[CallEntry]:
        return sorted(
            (e for e in self.live.values() if self.can_see(user, e.agent_id)),
            key=lambda e: e.started_at.timestamp() if e.started_at else 0.0,
        )

    def visible_recent(self, user: User, limit: int = 30) -> list[CallEntry]:
        out = [e for e in reversed(self.recent.values()) if self.can_see(user, e.agent_id)]
        return out[:limit]

    def current_call(self, user: User) -> CallEntry | None:
        """An agent's call to show: the newest live one, else the newest ended one."""
        live = [e for e in self.live.values() if e.agent_id == user.name]
        if live:
            return max(live, key=lambda e: e.started_at.timestamp() if e.started_at else 0.0)
        for e in reversed(self.recent.values()):
            if e.agent_id == user.name:
                return e
        return None
