"""dial_check: the debtor's local clock, the zh-CN daily connected-call budget, Regulation F's 7-in-7 and
7 days of quiet after a conversation."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from assist.accounts import ContactAttempt, ContactHistory, parse_account
from assist.coach.dialing import dial_check
from assist.coach.playbook import load_playbook

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")


def hist(*attempts: tuple[datetime, bool]) -> ContactHistory:
    return ContactHistory(attempts=[ContactAttempt(at=a, connected=c) for a, c in attempts])


@pytest.fixture(scope="module")
def zh_pb():  # type: ignore[no-untyped-def]
    return load_playbook("zh-CN")


@pytest.fixture(scope="module")
def en_pb():  # type: ignore[no-untyped-def]
    return load_playbook("en-US")


@pytest.mark.parametrize(
    ("hour", "minute", "allowed", "warning"),
    [
        (7, 59, False, False),
        (8, 0, True, False),
        (20, 59, True, False),
        (21, 0, True, True),
        (21, 59, True, True),
        (22, 0, False, False),
        (23, 30, False, False),
    ],
)
def test_zh_clock(zh_pb, hour: int, minute: int, allowed: bool, warning: bool) -> None:  # type: ignore[no-untyped-def]
    dc = dial_check(None, None, datetime(2026, 11, 25, hour, minute, tzinfo=SH), zh_pb)
    assert (dc.allowed, dc.warning) == (allowed, warning)
    if not allowed:
        assert dc.rules[0] == "CN-TIME-01" and "禁止" in dc.reason
        assert dc.next_allowed_at is not None and dc.next_allowed_at.astimezone(SH).hour == 8


def test_time_is_the_debtors_not_the_callers(zh_pb) -> None:  # type: ignore[no-untyped-def]
    acc = parse_account({"id": "A", "timezone": "Asia/Urumqi"})  # UTC+6: 08:30 in Shanghai is 06:30 there
    now = datetime(2026, 11, 25, 8, 30, tzinfo=SH)
    assert dial_check(None, None, now, zh_pb).allowed
    assert not dial_check(acc, None, now, zh_pb).allowed


def test_zh_three_connected_calls_a_day_across_channels(zh_pb) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2026, 11, 25, 16, 0, tzinfo=SH)
    two = ContactHistory(
        attempts=[
            ContactAttempt(at=now - timedelta(hours=5), connected=True, channel="robot"),
            ContactAttempt(at=now - timedelta(hours=3), connected=True),
            ContactAttempt(at=now - timedelta(hours=2), connected=False),
            ContactAttempt(at=now - timedelta(days=1), connected=True),  # yesterday
        ]
    )
    dc = dial_check(None, two, now, zh_pb)
    assert dc.allowed and dc.remaining == "今日剩余可拨通次数 1/3" and dc.connected_today == 2
    three = ContactHistory(attempts=[*two.attempts, ContactAttempt(at=now - timedelta(hours=1), connected=True)])
    dc = dial_check(None, three, now, zh_pb)
    assert not dc.allowed and "CN-FREQ-01" in dc.rules and dc.remaining == "今日剩余可拨通次数 0/3"
    assert dc.next_allowed_at == datetime(2026, 11, 26, 8, 0, tzinfo=SH)


def test_zh_budget_counts_local_calendar_day(zh_pb) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2026, 11, 25, 9, 0, tzinfo=SH)
    # three connected calls the previous local evening, stored in UTC
    late = [datetime(2026, 11, 24, 13, m, tzinfo=ZoneInfo("UTC")) for m in (0, 10, 20)]  # 21:xx Shanghai
    assert dial_check(None, hist(*[(t, True) for t in late]), now, zh_pb).allowed


@pytest.mark.parametrize(
    ("hour", "minute", "allowed", "warning"),
    [
        (7, 59, False, False),
        (8, 0, True, False),
        (20, 29, True, False),
        (20, 30, True, True),
        (21, 0, False, False),
    ],
)
def test_en_clock(en_pb, hour: int, minute: int, allowed: bool, warning: bool) -> None:  # type: ignore[no-untyped-def]
    acc = parse_account({"id": "A", "timezone": "America/New_York"})
    dc = dial_check(acc, None, datetime(2026, 11, 25, hour, minute, tzinfo=NY), en_pb)
    assert (dc.allowed, dc.warning) == (allowed, warning)


@pytest.mark.parametrize(
    ("phone", "hour", "minute", "allowed", "warning"),
    [
        # no zone, no phone: every US zone (Reg F 1006.6(b)(1)(i)); 13:00-21:00 Eastern fits them all in November
        (None, 12, 59, False, False),  # 07:59 in Hawaii
        (None, 13, 0, True, False),
        (None, 20, 30, True, True),  # the warning band in Eastern
        (None, 21, 0, False, False),  # 21:00 Eastern forbids, though 20:00 Central is fine
        # a Denver area code: Mountain time only
        ("3035550123", 22, 45, True, True),  # 20:45 Mountain
        ("1-303-555-0123", 23, 0, False, False),
        # a Los Angeles number with the leading 1
        ("12135550123", 10, 30, False, False),  # 07:30 Pacific
        ("12135550123", 11, 0, True, False),
        # 850 spans Eastern and Central: 21:30 Eastern is forbidden; the warning is Central's 20:30
        # (warning counts in any zone where the call is not already forbidden)
        ("8505550123", 21, 30, False, True),
        ("8505550123", 20, 30, True, True),  # warning in Eastern
        # an unknown area code is no evidence: every zone again
        ("5555550123", 20, 30, True, True),
        ("5555550123", 12, 30, False, False),
    ],
)
def test_en_unknown_zone(  # type: ignore[no-untyped-def]
    en_pb,
    phone: str | None,
    hour: int,
    minute: int,
    allowed: bool,
    warning: bool,
) -> None:
    acc = parse_account({"id": "A", **({"phone": phone} if phone else {})})
    dc = dial_check(acc, None, datetime(2026, 11, 25, hour, minute, tzinfo=NY), en_pb)
    assert (dc.allowed, dc.warning) == (allowed, warning), dc.reason
    if not allowed:
        assert dc.rules[0] == "US-TIME-01" and dc.next_allowed_at is not None
        assert dial_check(acc, None, dc.next_allowed_at, en_pb).allowed


def test_started_at_offset_is_not_the_debtors_zone(en_pb) -> None:  # type: ignore[no-untyped-def]
    # 20:30 in the agent's Pacific zone is 23:30 Eastern: forbidden when the debtor may be in the East
    acc = parse_account({"id": "A"})
    assert not dial_check(
        acc, None, datetime(2026, 11, 25, 20, 30, tzinfo=ZoneInfo("America/Los_Angeles")), en_pb
    ).allowed


def test_zh_unknown_zone_is_china(zh_pb) -> None:  # type: ignore[no-untyped-def]
    acc = parse_account({"id": "A", "phone": "13812345678"})  # a Chinese mobile is not read as an area code
    assert dial_check(acc, None, datetime(2026, 11, 25, 21, 30, tzinfo=SH), zh_pb).warning
    assert not dial_check(acc, None, datetime(2026, 11, 25, 14, 30, tzinfo=ZoneInfo("UTC")), zh_pb).allowed


def test_en_pacific_debtor_called_from_the_east(en_pb) -> None:  # type: ignore[no-untyped-def]
    acc = parse_account({"id": "A", "timezone": "America/Los_Angeles"})
    assert dial_check(acc, None, datetime(2026, 11, 20, 23, 10, tzinfo=NY), en_pb).allowed  # 20:10 Pacific
    assert not dial_check(acc, None, datetime(2026, 11, 20, 10, 30, tzinfo=NY), en_pb).allowed  # 07:30


def test_reg_f_seven_attempts_in_seven_days(en_pb) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2026, 11, 25, 14, 0, tzinfo=NY)
    six = hist(*[(now - timedelta(days=d, hours=1), False) for d in range(6)])
    dc = dial_check(None, six, now, en_pb)
    assert dc.allowed and dc.remaining.startswith("Reg F: 1 of 7")
    seven = hist(*[(now - timedelta(days=d, hours=1), False) for d in range(7)])
    dc = dial_check(None, seven, now, en_pb)
    assert not dc.allowed and "US-FREQ-01" in dc.rules
    # the oldest attempt leaves the rolling window 7 days after it was made
    assert dc.next_allowed_at == (now - timedelta(days=6, hours=1) + timedelta(days=7)).astimezone(NY)


def test_reg_f_quiet_week_after_a_conversation(en_pb) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2026, 11, 25, 14, 0, tzinfo=NY)
    talked = hist((datetime(2026, 11, 19, 18, 0, tzinfo=NY), True))  # day 1 = Nov 19, day 7 = Nov 25
    eastern = parse_account({"id": "A", "timezone": "America/New_York"})
    dc = dial_check(eastern, talked, now, en_pb)
    assert not dc.allowed and "US-FREQ-02" in dc.rules and "2026-11-26" in dc.reason
    assert dc.next_allowed_at == datetime(2026, 11, 26, 8, 0, tzinfo=NY)
    # debtor's zone unknown: the next call must also be after 08:00 in Hawaii (13:00 Eastern)
    assert dial_check(None, talked, now, en_pb).next_allowed_at == datetime(2026, 11, 26, 13, 0, tzinfo=NY)
    older = hist((datetime(2026, 11, 18, 18, 0, tzinfo=NY), True))
    assert dial_check(eastern, older, now, en_pb).allowed


def test_blocked_call_can_still_be_in_the_warning_band(zh_pb) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2026, 11, 25, 21, 20, tzinfo=SH)
    three = hist(*[(now - timedelta(hours=h), True) for h in (1, 2, 3)])
    dc = dial_check(None, three, now, zh_pb)
    assert not dc.allowed and dc.warning


def test_history_from_account_contacts(zh_pb) -> None:  # type: ignore[no-untyped-def]
    acc = parse_account(
        {
            "id": "A",
            "timezone": "Asia/Shanghai",
            "history": [
                {"at": "2026-11-25T09:00:00+08:00", "connected": True},
                {"at": "2026-11-25T10:00:00", "connected": True},  # naive: account's zone
                {"at": "2026-11-25T03:00:00Z", "connected": True, "channel": "robot"},
            ],
        }
    )
    assert not dial_check(acc, None, datetime(2026, 11, 25, 15, 0, tzinfo=SH), zh_pb).allowed


def test_naive_now_is_refused(zh_pb) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="aware"):
        dial_check(None, None, datetime(2026, 11, 25, 10, 0), zh_pb)
