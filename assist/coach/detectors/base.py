"""What every detector shares: the per-call state, the segment view, and prompt emission with de-duplication.

A detector is a small class with optional hooks `start`, `partial`, `final`, `tick`, `end`; each hook
reads the `CallState` and calls `state.emit(...)` for prompts and writes into `state.findings`.
Everything is synchronous and deterministic: "now" is the call-relative time of the segment or tick,
and a prompt's timestamps are the call's start plus that offset.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from assist.coach.findings import Findings
from assist.coach.match import Hit, Tokens
from assist.coach.numbers import Amount, DateMention, find_amounts, find_dates
from assist.events import Audience, Evidence, Prompt, Severity, Speaker, TranscriptSegment

if TYPE_CHECKING:
    from assist.accounts import Account, ContactHistory
    from assist.coach.playbook import Playbook


@dataclass
class CallContext:
    """Who and what the call is about.  `started_at` must be timezone-aware."""

    call_id: str
    language: str
    started_at: datetime
    account: Account | None = None
    history: ContactHistory | None = None
    agent_id: str | None = None
    direction: str | None = None  # "inbound" calls are not held to the outbound time/frequency rules

    def __post_init__(self) -> None:
        if self.started_at.tzinfo is None:
            raise ValueError("CallContext.started_at must be timezone-aware")


@dataclass
class SegmentView:
    """One (masked) segment with its match tokens; amounts and dates are parsed on first use."""

    seg: TranscriptSegment
    tokens: Tokens
    index: int | None  # call-wide number of the final segment, None for partials
    today: date
    language: str
    next_weekday: str = "following_week"
    masked_spans: int = 0
    _amounts: list[Amount] | None = None
    _dates: list[DateMention] | None = None

    @property
    def text(self) -> str:
        return self.seg.text

    @property
    def speaker(self) -> Speaker:
        return self.seg.speaker

    @property
    def final(self) -> bool:
        return self.seg.final

    @property
    def amounts(self) -> list[Amount]:
        if self._amounts is None:
            self._amounts = find_amounts(self.text, self.language)
        return self._amounts

    @property
    def dates(self) -> list[DateMention]:
        if self._dates is None:
            self._dates = find_dates(self.text, self.language, self.today, next_weekday=self.next_weekday)  # type: ignore[arg-type]
        return self._dates

    def token_of_char(self, pos: int) -> int:
        """Index of the token covering (or first after) character `pos`."""
        ends = [e for _, e in self.tokens.spans]
        return bisect.bisect_right(ends, pos)


@dataclass
class CallState:
    ctx: CallContext
    pb: Playbook
    findings: Findings
    now: float = 0.0  # the latest call time seen (segments and the ticker)
    # the call time of what is being judged: a segment's end, or the tick's time.  Repeats are spaced on it, so
    # segments that arrive late (a recognition backlog) and then in a burst are spaced by when they were said,
    # not by when they arrived.
    judged_at: float = 0.0
    out: list[Prompt] = field(default_factory=list)
    last_emitted: dict[str, float] = field(default_factory=dict)
    once: set[str] = field(default_factory=set)
    finals: list[SegmentView] = field(default_factory=list)
    last_final: dict[str, SegmentView] = field(default_factory=dict)
    third_party: bool = False  # the person on the line said they are not the debtor
    third_party_exempt: bool = False  # …but counts as the consumer (e.g. spouse under Reg F 1006.6(a))
    right_party: bool = False
    violating_segments: set[str] = field(default_factory=set)
    segment_kinds: dict[str, set[str]] = field(default_factory=dict)  # violation kinds seen per segment
    closing_seen: bool = False
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def account(self) -> Account | None:
        return self.ctx.account

    def wall(self, t: float | None = None) -> datetime:
        return self.ctx.started_at + timedelta(seconds=self.now if t is None else t)

    def local_date(self, t: float | None = None) -> date:
        return self.wall(t).astimezone(self.tz).date()

    def quote(self, text: str, hit: Hit | None = None) -> str:
        limit = self.pb.settings.evidence_chars
        text = text.strip()
        if len(text) <= limit or hit is None:
            return text[:limit]
        mid = (hit.start + hit.end) // 2
        lo = max(0, min(mid - limit // 2, len(text) - limit))
        return text[lo : lo + limit]

    def emit(
        self,
        kind: str,
        text: str,
        *,
        severity: Severity = "info",
        audience: Audience = "agent",
        rule: str | None = None,
        segments: list[str] | None = None,
        quote: str = "",
        data: dict[str, Any] | None = None,
        key: str | None = None,
        interval: float | None = None,
        once: str | None = None,
    ) -> Prompt | None:
        """Queue a prompt unless the same `key` was emitted within `interval` seconds (default: the
        playbook's repeat interval) or `once` was already used."""
        if once is not None:
            if once in self.once:
                return None
        k = key or f"{kind}:{rule or ''}"
        gap = self.pb.settings.repeat_interval if interval is None else interval
        last = self.last_emitted.get(k)
        if last is not None and abs(self.judged_at - last) < gap:
            if once is not None:
                self.once.add(once)
            return None
        if once is not None:
            self.once.add(once)
        self.last_emitted[k] = self.judged_at
        r = self.pb.rule(rule)
        when = self.wall()
        p = Prompt(
            call_id=self.ctx.call_id,
            at=when,
            created_at=when,
            kind=kind,
            severity=severity,
            audience=audience,
            text=text,
            evidence=Evidence(segment_ids=segments or [], quote=quote),
            rule=rule,
            source=r.source if r else None,
            data=data or {},
        )
        self.out.append(p)
        return p

    def take(self) -> list[Prompt]:
        out, self.out = self.out, []
        return out


class Detector:
    """Base class; override the hooks you need."""

    name = "detector"

    def start(self, state: CallState) -> None:
        return None

    def partial(self, view: SegmentView, state: CallState) -> None:
        return None

    def final(self, view: SegmentView, state: CallState) -> None:
        return None

    def tick(self, t: float, state: CallState) -> None:
        return None

    def end(self, state: CallState) -> None:
        return None
