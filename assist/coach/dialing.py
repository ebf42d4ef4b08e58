"""Call time and frequency: may this debtor be called now?

`dial_check(account, history, now, playbook)` is a pure function over the dialling history:

* the local clock of the debtor must be inside the playbook's window (zh-CN 08:00-22:00, en-US
  08:00-21:00), with a warning band before the end.  Without an account `timezone` the window must
  hold in every zone the debtor may be in: the phone's US area code zone(s), else every zone in the
  playbook's `call_time.unknown_zones` (Reg F 1006.6(b)(1)(i));
* zh-CN: at most N connected calls per debtor per local day, human and robot together;
* en-US (Regulation F 1006.14(b)(2)): at most 7 call attempts in a rolling 7 days, and no call
  within 7 days after a telephone conversation (the conversation day is day 1).

It answers allowed/warning, a reason in the playbook language, the rule ids, when the next call is
allowed and the remaining budget ("今日剩余可拨通次数 2/3", "Reg F: 5 of 7 attempts left").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from assist.accounts import Account, ContactAttempt, ContactHistory
from assist.coach.areacodes import zones_for_phone

if TYPE_CHECKING:
    from assist.coach.playbook import Playbook


class DialCheck(BaseModel):
    allowed: bool
    warning: bool = False
    reason: str
    rules: list[str] = Field(default_factory=list)
    next_allowed_at: datetime | None = None
    remaining: str = ""
    local_time: str = ""
    timezone: str = Field("", description="the debtor's zone (the first candidate when it is not known)")
    zones: list[str] = Field(
        default_factory=list, description="every zone the debtor may be in; the clock window held in all of them"
    )
    connected_today: int | None = None
    attempts_in_window: int | None = None


def _at(day: datetime, t: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day.date(), t, tzinfo=tz)


def _in_window(local: datetime, start: time, end: time) -> bool:
    t = local.time()
    if start <= end:
        return start <= t < end
    return t >= start or t < end


def _next_window_start(local: datetime, start: time, end: time, tz: ZoneInfo) -> datetime:
    """The earliest moment at or after `local` that is inside the window."""
    if _in_window(local, start, end):
        return local
    today_start = _at(local, start, tz)
    return today_start if local < today_start else today_start + timedelta(days=1)


def candidate_zones(account: Account | None, playbook: Playbook) -> list[str]:
    """Where the debtor may be: the account's zone; else (when the playbook reads US area codes) the
    zone(s) of the phone's area code; else the playbook's `unknown_zones` (every US zone for en-US),
    else its default zone.  The first one resolves relative dates."""
    if account is not None and account.timezone:
        return [account.timezone]
    ct = playbook.call_time
    if ct.area_codes and account is not None:
        by_phone = zones_for_phone(account.phone)
        if by_phone:
            return list(by_phone)
    return list(ct.unknown_zones) or [playbook.timezone]


@dataclass
class _Verdict:
    """What the checks found: reasons, rules and candidate next-call times."""

    reasons: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    nexts: list[datetime] = field(default_factory=list)
    remaining: str = ""

    def block(self, reason: str, rule: str | None, next_at: datetime) -> None:
        self.reasons.append(reason)
        if rule:
            self.rules.append(rule)
        self.nexts.append(next_at)


def _clock_fields(local: datetime, zone: str, playbook: Playbook) -> dict[str, str]:
    ct = playbook.call_time
    return {
        "local_time": local.strftime("%H:%M"),
        "timezone": zone,
        "start": ct.start.strftime("%H:%M"),
        "end": ct.end.strftime("%H:%M"),
        "warning_start": ct.warning_start.strftime("%H:%M"),
    }


def _clock(now: datetime, zones: list[str], playbook: Playbook, v: _Verdict) -> tuple[bool, dict[str, str]]:
    """The window must hold in every candidate zone.  Returns (warning, text fields of the zone the
    reason names: the first forbidden zone, else the first in the warning band, else the first).
    The warning band counts only in zones where the call is not already forbidden."""
    ct = playbook.call_time
    blocked: list[tuple[datetime, str]] = []
    warned: list[tuple[datetime, str]] = []
    for name in zones:
        local = now.astimezone(ZoneInfo(name))
        if not _in_window(local, ct.start, ct.end):
            blocked.append((local, name))
        elif ct.warning_start != ct.end and _in_window(local, ct.warning_start, ct.end):
            warned.append((local, name))
    if blocked:
        local, name = blocked[0]
        nxt = max(_next_window_start(loc, ct.start, ct.end, ZoneInfo(z)) for loc, z in blocked)
        v.block(playbook.text(ct.blocked_text, **_clock_fields(local, name, playbook)), ct.rule, nxt)
    local, name = (blocked or warned or [(now.astimezone(ZoneInfo(zones[0])), zones[0])])[0]
    return bool(warned), _clock_fields(local, name, playbook)


def _daily_connected(
    attempts: list[ContactAttempt], local: datetime, tz: ZoneInfo, playbook: Playbook, v: _Verdict
) -> int | None:
    """zh-CN: at most N connected calls per local day, this one included."""
    fq, ct = playbook.frequency, playbook.call_time
    if fq.max_connected_per_day is None:
        return None
    day = local.date()
    connected_today = sum(1 for a in attempts if a.connected and a.at.astimezone(tz).date() == day)
    left = max(0, fq.max_connected_per_day - connected_today)
    v.remaining = playbook.text(fq.budget_text, left=left, max=fq.max_connected_per_day)
    if left == 0:
        v.block(
            playbook.text(fq.connected_text, count=connected_today, max=fq.max_connected_per_day),
            fq.connected_rule,
            _at(local + timedelta(days=1), ct.start, tz),
        )
    return connected_today


def _rolling_attempts(
    attempts: list[ContactAttempt], now: datetime, tz: ZoneInfo, playbook: Playbook, v: _Verdict
) -> int | None:
    """Reg F 1006.14(b)(2)(i)(A): at most N attempts in a rolling window."""
    fq = playbook.frequency
    if fq.max_attempts is None:
        return None
    window = timedelta(days=fq.attempts_window_days)
    recent = sorted(a.at for a in attempts if now - window < a.at <= now)
    in_window = len(recent)
    left = max(0, fq.max_attempts - in_window)
    v.remaining = playbook.text(fq.budget_text, left=left, max=fq.max_attempts, days=fq.attempts_window_days)
    if left == 0:
        v.block(
            playbook.text(fq.attempts_text, count=in_window, max=fq.max_attempts, days=fq.attempts_window_days),
            fq.attempts_rule,
            (recent[in_window - fq.max_attempts] + window).astimezone(tz),
        )
    return in_window


def _quiet_after_conversation(
    attempts: list[ContactAttempt], local: datetime, tz: ZoneInfo, playbook: Playbook, v: _Verdict
) -> None:
    """Reg F 1006.14(b)(2)(i)(B): no call within N days after a conversation (that day is day 1)."""
    fq = playbook.frequency
    if not fq.quiet_days_after_conversation:
        return
    talks = [a.at.astimezone(tz) for a in attempts if a.talked]
    if not talks:
        return
    last = max(talks)
    free_day = last.date() + timedelta(days=fq.quiet_days_after_conversation)
    if local.date() < free_day:
        v.block(
            playbook.text(
                fq.conversation_text,
                date=last.date().isoformat(),
                days=fq.quiet_days_after_conversation,
                until=free_day.isoformat(),
            ),
            fq.conversation_rule,
            datetime.combine(free_day, time(0, 0), tzinfo=tz),
        )


def dial_check(account: Account | None, history: ContactHistory | None, now: datetime, playbook: Playbook) -> DialCheck:
    """May the debtor of `account` be called at `now` (an aware datetime), given `history`?

    The clock window must hold in every zone the debtor may be in (`candidate_zones`); the contact
    budgets count local days in the first of them."""
    if now.tzinfo is None:
        raise ValueError("dial_check needs an aware datetime for `now`")
    zones = candidate_zones(account, playbook)
    tz = ZoneInfo(zones[0])
    local = now.astimezone(tz)
    ct = playbook.call_time
    if account is not None and history is None:
        history = ContactHistory.from_account(account, zones[0])
    attempts = [a for a in (history.attempts if history else []) if a.at <= now]

    v = _Verdict()
    warning, fields = _clock(now, zones, playbook, v)
    connected_today = _daily_connected(attempts, local, tz, playbook, v)
    in_window = _rolling_attempts(attempts, now, tz, playbook, v)
    _quiet_after_conversation(attempts, local, tz, playbook, v)

    allowed = not v.reasons
    rules = list(v.rules)
    if allowed and warning:
        reason = playbook.text(ct.warning_text, **fields)
        rules.append(ct.warning_rule)
    elif allowed:
        reason = playbook.text(ct.ok_text, **fields)
    else:
        reason = ("；" if playbook.is_chinese else "; ").join(v.reasons)
        if warning:
            rules.append(ct.warning_rule)
    next_allowed: datetime | None = None
    if v.nexts:
        # the next moment must satisfy the clock window in every candidate zone as well
        next_allowed = _next_in_all(max(v.nexts), zones, playbook)
    return DialCheck(
        allowed=allowed,
        warning=warning,
        reason=reason,
        rules=rules,
        next_allowed_at=next_allowed,
        remaining=v.remaining,
        local_time=local.isoformat(timespec="minutes"),
        timezone=zones[0],
        zones=zones,
        connected_today=connected_today,
        attempts_in_window=in_window,
    )


def _next_in_all(candidate: datetime, zones: list[str], playbook: Playbook) -> datetime:
    """The earliest moment at or after `candidate` inside the window in every zone (by steps of the
    latest zone's window start; at most a few days)."""
    ct = playbook.call_time
    at = candidate
    for _ in range(len(zones) * 3 + 3):
        later = [_next_window_start(at.astimezone(ZoneInfo(z)), ct.start, ct.end, ZoneInfo(z)) for z in zones]
        nxt = max(later)
        if nxt == at or all(_in_window(nxt.astimezone(ZoneInfo(z)), ct.start, ct.end) for z in zones):
            return nxt.astimezone(ZoneInfo(zones[0]))
        at = nxt
    return at.astimezone(ZoneInfo(zones[0]))
