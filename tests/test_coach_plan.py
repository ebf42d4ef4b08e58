"""The repayment-plan helper."""

from __future__ import annotations

from datetime import date

import pytest

from assist.accounts import parse_account
from assist.coach.plan import add_months, payment_plans, split_amount


def test_split_adds_up_and_last_takes_the_rest() -> None:
    parts = split_amount(1000, 3)
    assert parts == [333.33, 333.33, 333.34]
    assert round(sum(parts), 2) == 1000


def test_add_months_clamps_to_short_months() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)


def test_full_and_instalment_options() -> None:
    acc = parse_account({"id": "A1", "principal": 10000, "interest": 1500, "penalty": 500})
    opts = payment_plans(acc, date(2026, 11, 25), counts=(3, 6, 12), first_payment_days=7)
    assert [o.count for o in opts] == [1, 3, 6, 12]
    full = opts[0]
    assert full.kind == "full" and full.total == 12000 and full.first_date == date(2026, 12, 2)
    six = opts[2]
    assert six.amount_each == 2000 and len(six.schedule) == 6
    assert [i.due for i in six.schedule[:3]] == [date(2026, 12, 2), date(2027, 1, 2), date(2027, 2, 2)]
    for o in opts:
        assert round(sum(i.amount for i in o.schedule), 2) == 12000


def test_minimum_instalment_drops_small_options() -> None:
    acc = parse_account({"id": "A2", "principal": 500})
    opts = payment_plans(acc, date(2026, 11, 25), counts=(3, 6, 12), min_instalment=100)
    assert [o.count for o in opts] == [1, 3]


def test_weekly_interval_and_settlement_amount() -> None:
    acc = parse_account({"id": "A3", "principal": 900})
    opts = payment_plans(
        acc, date(2026, 11, 25), counts=(3,), first_date=date(2026, 12, 1), interval="week", amount=600
    )
    assert [i.due for i in opts[1].schedule] == [date(2026, 12, 1), date(2026, 12, 8), date(2026, 12, 15)]
    assert opts[1].total == 600


def test_nothing_owed_means_no_plan() -> None:
    assert payment_plans(parse_account({"id": "A4"}), date(2026, 11, 25)) == []


def test_split_rejects_zero_count() -> None:
    with pytest.raises(ValueError):
        split_amount(100, 0)
