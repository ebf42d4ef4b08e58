"""Call time and frequency: may this debtor be called now?

`dial_check(account, history, now, playbook)` is a pure function over the dialling history:

* the local clock of the debtor (account `timezone`, else the playbook's) must be inside the
  playbook's window (zh-CN 08:00-22:00, en-US 08:00-21:00), with a warning band before the end;
* zh-CN: at most N connected calls per debtor per local day, human and robot together;
* en-US (Regulation F 1006.14(b)(2)): at most 7 call attempts in a rolling 7 days, and no call
  within 7 days after a telephone conversation (the conversation day is day 1).

It answers allowed/warning, a reason in the playbook language, the rule ids, when the next call is
allowed and the remaining budget ("今日剩余可拨通次数 2/3", "Reg F: 5 of 7 attempts left").
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from assist.accounts import Account, ContactHistory
from assist.accounts import ContactAttempt as ContactAttempt  # re-exported for the coach's callers

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
    timezone: str = ""
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


def dial_check(account: Account | None, history: ContactHistory | None, now: datetime,
               playbook: Playbook) -> DialCheck:
    """May the debtor of `account` be called at `now` (an aware datetime), given `history`?"""
    if now.tzinfo is None:
        raise ValueError("dial_check needs an aware datetime for `now`")
    tzname = (account.timezone if account and account.timezone else None) or playbook.timezone
    tz = ZoneInfo(tzname)
    local = now.astimezone(tz)
    ct, fq = playbook.call_time, playbook.frequency
    attempts = [a for a in (history.attempts if history else []) if a.at <= now]
    if account is not None and history is None:
        attempts = [a for a in ContactHistory.from_account(account, playbook.timezone).attempts if a.at <= now]

    reasons: list[str] = []
    rules: list[str] = []
    nexts: list[datetime] = []
    fields = {"local_time": local.strftime("%H:%M"), "timezone": tzname,
              "start": ct.start.strftime("%H:%M"), "end": ct.end.strftime("%H:%M"),
              "warning_start": ct.warning_start.strftime("%H:%M")}

    if not _in_window(local, ct.start, ct.end):
        reasons.append(playbook.text(ct.blocked_text, **fields))
        rules.append(ct.rule)
        nexts.append(_next_window_start(local, ct.start, ct.end, tz))

    remaining = ""
    connected_today: int | None = None
    in_window: int | None = None
    if fq.max_connected_per_day is not None:
        day = local.date()
        connected_today = sum(1 for a in attempts if a.connected and a.at.astimezone(tz).date() == day)
        left = max(0, fq.max_connected_per_day - connected_today)
        remaining = playbook.text(fq.budget_text, left=left, max=fq.max_connected_per_day)
        if left == 0:
            reasons.append(playbook.text(fq.connected_text, count=connected_today, max=fq.max_connected_per_day))
            if fq.connected_rule:
                rules.append(fq.connected_rule)
            nexts.append(_at(local + timedelta(days=1), ct.start, tz))
    if fq.max_attempts is not None:
        window = timedelta(days=fq.attempts_window_days)
        recent = sorted(a.at for a in attempts if now - window < a.at <= now)
        in_window = len(recent)
        left = max(0, fq.max_attempts - in_window)
        remaining = playbook.text(fq.budget_text, left=left, max=fq.max_attempts, days=fq.attempts_window_days)
        if left == 0:
            reasons.append(playbook.text(fq.attempts_text, count=in_window, max=fq.max_attempts,
                                         days=fq.attempts_window_days))
            if fq.attempts_rule:
                rules.append(fq.attempts_rule)
            nexts.append((recent[in_window - fq.max_attempts] + window).astimezone(tz))
    if fq.quiet_days_after_conversation:
        talks = [a.at.astimezone(tz) for a in attempts if a.talked]
        if talks:
            last = max(talks)
            free_day = last.date() + timedelta(days=fq.quiet_days_after_conversation)
            if local.date() < free_day:
                reasons.append(playbook.text(fq.conversation_text, date=last.date().isoformat(),
                                             days=fq.quiet_days_after_conversation,
                                             until=free_day.isoformat()))
                if fq.conversation_rule:
                    rules.append(fq.conversation_rule)
                nexts.append(datetime.combine(free_day, time(0, 0), tzinfo=tz))

    allowed = not reasons
    # the warning band depends on the clock only (a blocked call can be in it too)
    warning = _in_window(local, ct.warning_start, ct.end) and ct.warning_start != ct.end
    if allowed and warning:
        reason = playbook.text(ct.warning_text, **fields)
        rules.append(ct.warning_rule)
    elif allowed:
        reason = playbook.text(ct.ok_text, **fields)
    else:
        reason = "；".join(reasons) if playbook.is_chinese else "; ".join(reasons)
        if warning:
            rules.append(ct.warning_rule)
    next_allowed: datetime | None = None
    if nexts:
        candidate = max(nexts)
        # the next moment must satisfy the clock window as well
        next_allowed = _next_window_start(candidate.astimezone(tz), ct.start, ct.end, tz)
    return DialCheck(allowed=allowed, warning=warning, reason=reason, rules=rules, next_allowed_at=next_allowed,
                     remaining=remaining, local_time=local.isoformat(timespec="minutes"), timezone=tzname,
                     connected_today=connected_today, attempts_in_window=in_window)
