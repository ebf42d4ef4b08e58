"""Focused tests for the causes found on unseen calls (issue 13): negation and refusal scope, third-party
favours, promise revisions and acceptances, the call's temperament, wilful default, relative dates."""

from __future__ import annotations

from datetime import date

import pytest

from assist.coach.numbers import find_dates
from tests.test_coach_detectors import EN_ACC, ZH_ACC, Call

# ---------------------------------------------------------------- promise: the last commitment


def promise(c: Call) -> tuple[float, str] | None:
    p = c.coach.findings().promise
    return (p.amount, p.date) if p else None


def test_self_correction_replaces_the_amount_zh() -> None:
    c = Call("zh-CN", ZH_ACC)  # Wednesday 2026-11-25
    c.agent("您这笔什么时候能处理")
    c.customer("我这周五先还两千 哦不对 两千太少了 还四千吧")
    assert promise(c) == (4000, "2026-11-27")


def test_self_correction_across_turns_zh() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.customer("月底我先还三千")
    c.agent("好的 月底三千")
    c.customer("等一下 还是改成下个月5号还六千吧")
    assert promise(c) == (6000, "2026-12-05")


def test_self_correction_of_the_day_en() -> None:
    c = Call("en-US", EN_ACC)  # Wednesday 2026-11-25
    c.customer("I can send three hundred on Friday.")
    c.customer("Actually, make it Monday, that's when I get paid.")
    assert promise(c) == (300, "2026-11-30")


def test_agent_asks_for_more_and_customer_agrees_zh() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.customer("那我下周一还一千")
    c.agent("一千有点少 下周一能不能还到三千")
    c.customer("行 那就三千")
    assert promise(c) == (3000, "2026-11-30")


@pytest.mark.parametrize("reply", ["行", "好吧", "可以", "嗯 行吧"])
def test_bare_acceptance_of_an_offer_zh(reply: str) -> None:
    c = Call("zh-CN", ZH_ACC)
    c.agent("要不这样 您12月10号之前先还八千 可以吗")
    c.customer(reply)
    assert promise(c) == (8000, "2026-12-10")


@pytest.mark.parametrize("reply", ["okay", "Fine.", "yes", "Yeah okay"])
def test_bare_acceptance_of_an_offer_en(reply: str) -> None:
    c = Call("en-US", EN_ACC)
    c.agent("How about four hundred by December tenth?")
    c.customer(reply)
    assert promise(c) == (400, "2026-12-10")


@pytest.mark.parametrize("text", [
    "这个月一分钱都拿不出来", "下周五之前五千我肯定拿不出来", "月底还八千 我做不到",
])
def test_refusal_naming_an_amount_is_not_a_promise_zh(text: str) -> None:
    c = Call("zh-CN", ZH_ACC)
    c.agent("您月底能先还八千吗")
    c.customer(text)
    assert promise(c) is None


@pytest.mark.parametrize("text", [
    "I can't pay five hundred by Friday.", "There's no way I'm paying $800 this month.",
    "I won't have two hundred by the 15th.",
])
def test_refusal_naming_an_amount_is_not_a_promise_en(text: str) -> None:
    c = Call("en-US", EN_ACC)
    c.customer(text)
    assert promise(c) is None


def test_two_piece_promise_across_several_turns_zh() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.customer("我能先还两千五")
    c.agent("好的 两千五")
    c.agent("那您哪天能还上")
    c.customer("嗯 我想想")
    c.customer("下周三吧")
    assert promise(c) == (2500, "2026-12-02")


def test_two_piece_promise_en() -> None:
    c = Call("en-US", EN_ACC)
    c.agent("What can you pay?")
    c.customer("I can do about three fifty.")
    c.agent("And when can you make that payment?")
    c.customer("The first of next month.")
    assert promise(c) == (350, "2026-12-01")


def test_later_instalments_do_not_replace_the_next_payment() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.customer("我这周五先还五千")
    c.customer("剩下的下个月15号前还清")
    assert promise(c) == (5000, "2026-11-27")


def test_promise_card_from_a_partial_segment() -> None:
    c = Call("zh-CN", ZH_ACC)
    out = c.customer("我下周五还五千", final=False, start=0.0, end=1.5, seg_id="p1")
    assert any(p.kind == "promise" for p in out)


def test_no_readback_prompt_when_the_agent_already_read_it_back() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.customer("我下周五还五千")
    c.agent("好的 跟您确认一下 下周五 也就是12月4号 还款五千元")
    texts = [p for p in c.prompts if p.kind == "promise" and p.data.get("complete")]
    assert len(texts) == 1
    p = c.coach.findings().promise
    assert p is not None and p.confirmed_by_agent and (p.amount, p.date) == (5000, "2026-12-04")


# ---------------------------------------------------------------- relative dates (issue 14)

FRI = date(2026, 11, 20)


@pytest.mark.parametrize(("text", "today", "want"), [
    ("跟您确认一下 下周五还五千", FRI, date(2026, 11, 27)),
    ("跟你确认一下下周五", date(2026, 11, 25), date(2026, 12, 4)),
    ("我再核对一下下下周五", FRI, date(2026, 12, 4)),  # 一下 + 下周五 (the verb's 下 is not a second 下)
    ("确认一下下个月15号", FRI, date(2026, 12, 15)),
    ("这周五", FRI, FRI),
    ("下周五", FRI, date(2026, 11, 27)),
    ("下下周五", FRI, date(2026, 12, 4)),
    ("月底", date(2026, 11, 30), date(2026, 11, 30)),
    ("下个月底", date(2026, 11, 30), date(2026, 12, 31)),
    ("15号", date(2026, 11, 30), date(2026, 12, 15)),
    ("15号", date(2026, 12, 31), date(2027, 1, 15)),
    ("15号", date(2026, 12, 15), date(2026, 12, 15)),
])
def test_zh_relative_dates(text: str, today: date, want: date) -> None:
    assert [d.date for d in find_dates(text, "zh-CN", today)][:1] == [want]


def test_readback_with_yixia_is_not_a_week_late() -> None:
    # the fixed phrase is 一下 + 下周五; without the second 下 it is this coming Friday
    assert [d.date for d in find_dates("确认一下周五", "zh-CN", FRI)] == [FRI]


@pytest.mark.parametrize(("text", "today", "want"), [
    ("next Friday", FRI, date(2026, 11, 27)),  # said on a Friday: the Friday of next week
    ("this Friday", FRI, FRI),
    ("on Friday", date(2026, 11, 25), date(2026, 11, 27)),
    ("next Friday", date(2026, 11, 22), date(2026, 11, 27)),  # Sunday: weeks start on Monday
    ("the 15th", date(2026, 11, 30), date(2026, 12, 15)),
    ("the 15th", date(2026, 12, 31), date(2027, 1, 15)),
    ("end of the month", date(2026, 11, 30), date(2026, 11, 30)),
])
def test_en_relative_dates(text: str, today: date, want: date) -> None:
    assert [d.date for d in find_dates(text, "en-US", today)][:1] == [want]
