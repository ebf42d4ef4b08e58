"""Chinese and English amounts, dates and spoken digit strings."""

from __future__ import annotations

from datetime import date

import pytest

from assist.coach.numbers import digit_runs, en_number, find_amounts, find_dates, zh_number

WED = date(2026, 11, 25)  # a Wednesday


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("一万二", 12000),
        ("三千五百", 3500),
        ("两千五", 2500),
        ("五千", 5000),
        ("1.5万", 15000),
        ("3千", 3000),
        ("一百零五", 105),
        ("二十", 20),
        ("十五", 15),
        ("一千二百三十四", 1234),
        ("两万五千", 25000),
        ("一万零五百", 10500),
        ("八百五", 850),
        ("三万二", 32000),
        ("二零二五", 2025),
    ],
)
def test_zh_number(text: str, value: float) -> None:
    assert zh_number(text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("five hundred", 500),
        ("twelve hundred", 1200),
        ("two thousand five hundred", 2500),
        ("two fifty", 250),
        ("twenty three fifty", 2350),
        ("a thousand seventy", 1070),
        ("forty six", 46),
        ("one hundred twenty", 120),
        ("nineteen ninety nine", 1999),
    ],
)
def test_en_number(text: str, value: float) -> None:
    assert en_number(text) == value


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("我下周五还五千块", [5000]),
        ("先还一万二吧", [12000]),
        ("三千五百行不行", [3500]),
        ("两千五", [2500]),
        ("1.5万", [15000]),
        ("还 五 千 块", [5000]),
        ("每期2000元", [2000]),
        ("我15号还3000", [3000]),
        # not money
        ("逾期120天了", []),
        ("第3期", []),
        ("我的电话是13812345678", []),
        ("2025年3月", []),
        ("工号 5172", []),
        ("工号三零二一", []),
        ("身份证后四位 3 5 1 X", []),
    ],
)
def test_zh_amounts(text: str, values: list[float]) -> None:
    assert [a.value for a in find_amounts(text, "zh-CN")] == values


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("I can pay $500 next Friday", [500]),
        ("five hundred dollars", [500]),
        ("$1,200.50", [1200.5]),
        ("twenty-four hundred in principal, one eighty in interest and seventy dollars in late fees", [2400, 180, 70]),
        ("I'll do four fifty on December first", [450]),
        # not money
        ("call me at 555 123 4567", []),
        ("Friday, November twenty-seventh", []),
        ("call after ten tomorrow", []),
        ("extension four", []),
        ("in 20 minutes", []),
    ],
)
def test_en_amounts(text: str, values: list[float]) -> None:
    assert [a.value for a in find_amounts(text, "en-US")] == values


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("下周五", "2026-12-04"),
        ("这周五", "2026-11-27"),
        ("周五", "2026-11-27"),
        ("月底", "2026-11-30"),
        ("15号", "2026-12-15"),
        ("25号", "2026-11-25"),
        ("明天", "2026-11-26"),
        ("后天", "2026-11-27"),
        ("大后天", "2026-11-28"),
        ("下个月5号", "2026-12-05"),
        ("十二月一号", "2026-12-01"),
        ("三天后", "2026-11-28"),
        ("下个月底", "2026-12-31"),
        ("3月5日", "2027-03-05"),
    ],
)
def test_zh_dates(text: str, iso: str) -> None:
    assert [d.date.isoformat() for d in find_dates(text, "zh-CN", WED)] == [iso]


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("next Friday", "2026-12-04"),
        ("this Friday", "2026-11-27"),
        ("on Friday", "2026-11-27"),
        ("end of the month", "2026-11-30"),
        ("the 15th", "2026-12-15"),
        ("on the first", "2026-12-01"),
        ("tomorrow", "2026-11-26"),
        ("December 5th", "2026-12-05"),
        ("the 5th of December", "2026-12-05"),
        ("in 3 days", "2026-11-28"),
        ("the day after tomorrow", "2026-11-27"),
        ("by the thirtieth", "2026-11-30"),
    ],
)
def test_en_dates(text: str, iso: str) -> None:
    assert [d.date.isoformat() for d in find_dates(text, "en-US", WED)] == [iso]


def test_next_weekday_convention_is_configurable() -> None:
    assert find_dates("next Friday", "en-US", WED, next_weekday="coming")[0].date == date(2026, 11, 27)


def test_recent_month_day_is_the_past_not_next_year() -> None:
    # 十月二十号 said late in November is last month (a past payment), not next October
    assert find_dates("十月二十号已经还过五千", "zh-CN", WED)[0].date == date(2026, 10, 20)


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("卡号六二二二 零二零二 一二三四 五六七八 九零", "622202021234567890"),
        ("身份证号11010519491231002X", "11010519491231002X"),
        ("four one one one one one one one one one one one one one one one", "4111111111111111"),
        ("SSN 123-45-6789", "123456789"),
        ("打我新号 幺五九 二六八三 零四七一", "15926830471"),
    ],
)
def test_digit_runs(text: str, digits: str) -> None:
    assert [r.digits for r in digit_runs(text)] == [digits]


def test_digit_runs_ignore_numerals_with_units() -> None:
    assert digit_runs("一万二千三百块") == []
