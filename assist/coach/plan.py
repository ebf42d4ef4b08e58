"""Repayment options from an account: pay in full, or 3/6/12 instalments (counts from the playbook).

Amounts are in the account currency, rounded to cents; the last instalment absorbs the rounding so the
schedule always adds up to the total due.  Monthly instalments keep the first payment's day of month
(clamped to short months).  Counts whose instalment would fall below the playbook minimum are left out.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Literal

from pydantic import BaseModel

from assist.accounts import Account


class Instalment(BaseModel):
    n: int
    due: date
    amount: float


class PlanOption(BaseModel):
    kind: Literal["full", "instalments"]
    count: int
    first_date: date
    amount_each: float
    total: float
    schedule: list[Instalment]


def add_months(d: date, months: int, day: int | None = None) -> date:
    m = d.month - 1 + months
    y, m = d.year + m // 12, m % 12 + 1
    last = calendar.monthrange(y, m)[1]
    return date(y, m, min(day or d.day, last))


def split_amount(total: float, count: int) -> list[float]:
    """`total` into `count` parts of equal cents, the last taking the remainder."""
    if count <= 0:
        raise ValueError("count must be positive")
    t = Decimal(str(total)).quantize(Decimal("0.01"))
    each = (t / count).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    parts = [each] * (count - 1) + [t - each * (count - 1)]
    return [float(p) for p in parts]


def schedule(total: float, count: int, first: date, interval: Literal["month", "week"] = "month") -> list[Instalment]:
    parts = split_amount(total, count)
    out = []
    for i, amt in enumerate(parts):
        due = add_months(first, i, first.day) if interval == "month" else first + timedelta(weeks=i)
        out.append(Instalment(n=i + 1, due=due, amount=amt))
    return out


def payment_plans(
    account: Account,
    today: date,
    *,
    counts: Sequence[int] = (3, 6, 12),
    first_payment_days: int = 7,
    first_date: date | None = None,
    min_instalment: float = 0.0,
    interval: Literal["month", "week"] = "month",
    amount: float | None = None,
) -> list[PlanOption]:
    """Full payment plus one instalment option per count.

    `amount` overrides the account's total due (e.g. a settlement the supervisor approved); the first
    payment is on `first_date`, else `today + first_payment_days`.
    """
    total = float(amount if amount is not None else account.total_due)
    if total <= 0:
        return []
    first = first_date or today + timedelta(days=first_payment_days)
    full = PlanOption(
        kind="full",
        count=1,
        first_date=first,
        amount_each=round(total, 2),
        total=round(total, 2),
        schedule=[Instalment(n=1, due=first, amount=round(total, 2))],
    )
    options = [full]
    for c in counts:
        if c <= 1:
            continue
        sched = schedule(total, c, first, interval)
        if sched[0].amount < min_instalment:
            continue
        options.append(
            PlanOption(
                kind="instalments",
                count=c,
                first_date=first,
                amount_each=sched[0].amount,
                total=round(sum(s.amount for s in sched), 2),
                schedule=sched,
            )
        )
    return options
