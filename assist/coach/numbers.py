"""Amounts, dates and digit strings in spoken Chinese and English.

* `zh_number("一万二")` → 12000, `en_number("twelve hundred")` → 1200.
* `find_amounts(text, lang)` finds money amounts (五千块, 一万二, 1.5万, $500, five hundred dollars);
  numbers that are not money (15号, 120天, 第3期, years, phone numbers) are left alone.
* `find_dates(text, lang, today)` resolves 明天/后天/下周五/月底/15号/3月5日 and tomorrow/next Friday/
  end of the month/the 15th/March 5 against the call's local date.
* `digit_runs(text)` finds digit strings spoken or written one digit at a time (六二二二…, four one one
  one…, 6222 0200…) with their character spans, for masking and for phone numbers.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

NextWeekday = Literal["following_week", "coming"]
# a month and day without a year up to this many days back mean the recent past (十月二十号 said in
# late November); further back they mean next year (三月五号 said in November)
_PAST_YEAR_DAYS = 183

# ------------------------------------------------------------------ Chinese numerals

ZH_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "幺": 1,
    "二": 2,
    "两": 2,
    "俩": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
ZH_SMALL_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
ZH_BIG_UNITS = {"万": 10_000, "萬": 10_000, "亿": 100_000_000}
_ZH_NUM_CHARS = "".join(ZH_DIGITS) + "".join(ZH_SMALL_UNITS) + "".join(ZH_BIG_UNITS)
_ZH_NUM_TOKEN = re.compile(rf"\d+(?:\.\d+)?|[{_ZH_NUM_CHARS}]|点")


def zh_number(s: str) -> float | None:
    """Value of a Chinese/Arabic numeral expression (一万二, 三千五百, 两千五, 1.5万, 3千, 一百零五).

    Digit strings without units (二零二五, 六二二二) are read digit by digit.  None if `s` is not a number.
    """
    s = s.replace(",", "").replace("，", "").strip()
    if not s:
        return None
    toks = _ZH_NUM_TOKEN.findall(s)
    if "".join(toks) != s:
        return None
    if "点" in toks and any(t in ZH_SMALL_UNITS or t in ZH_BIG_UNITS for t in toks):
        return _zh_decimal(toks)
    if any(t in ZH_SMALL_UNITS or t in ZH_BIG_UNITS for t in toks):
        return _zh_with_units(toks)
    return _zh_without_units(toks)


def _zh_decimal(toks: list[str]) -> float | None:
    """十点五万 = 105,000, 一点五万 = 15,000: a whole number, 点, digits read one by one, then 万/亿 scales it."""
    i = toks.index("点")
    head, tail = toks[:i], toks[i + 1 :]
    frac: list[str] = []
    while tail and (tail[0] in ZH_DIGITS or tail[0].isdigit()):
        frac.append(tail.pop(0))
    if not head or not frac or any(t not in ZH_BIG_UNITS for t in tail) or any("." in t for t in frac):
        return None
    whole = zh_number("".join(head))
    if whole is None or whole != int(whole):
        return None
    value = float(f"{int(whole)}.{''.join(str(ZH_DIGITS.get(t, t)) for t in frac)}")
    for t in tail:
        value *= ZH_BIG_UNITS[t]
    return value


def _zh_without_units(toks: list[str]) -> float | None:
    """二零二五 (digit by digit), 3500, 一点五."""
    if all(t in ZH_DIGITS for t in toks):
        return float(int("".join(str(ZH_DIGITS[t]) for t in toks)))
    if len(toks) == 1 and toks[0][0].isdigit():
        return float(toks[0])
    if len(toks) == 3 and toks[1] == "点":  # 一点五
        a, b = toks[0], toks[2]
        av = ZH_DIGITS.get(a, None) if not a[0].isdigit() else float(a)
        bv = ZH_DIGITS.get(b, None) if not b[0].isdigit() else b
        if av is None or bv is None or "." in str(bv):  # 12点3.5 is not a number
            return None
        return float(f"{int(av)}.{bv}")
    return None


@dataclass
class _ZhSum:
    """Running state while reading a numeral with units left to right."""

    total: float = 0.0
    section: float = 0.0  # the part below the current 万/亿
    cur: float | None = None  # the digit waiting for its unit
    cur_is_single: bool = False
    last_unit: int = 1
    zero_seen: bool = False
    decimal_pending: bool = False

    def digit(self, t: str) -> bool:
        """A digit token; False when the expression is ambiguous (一两千)."""
        v = float(t) if t[0].isdigit() else float(ZH_DIGITS[t])
        if self.decimal_pending and self.cur is not None:  # 1.5万 / 一点五万
            self.cur = float(f"{int(self.cur)}.{int(v)}")
            self.decimal_pending = False
            self.cur_is_single = False
            return True
        if t in ZH_DIGITS and v == 0:
            self.zero_seen = True  # 一百零五: the 五 is units, not tens
            return True
        if self.cur is not None:
            return False
        self.cur = v
        self.cur_is_single = t in ZH_DIGITS or len(t) == 1
        return True

    def small_unit(self, u: int) -> None:
        self.section += (1.0 if self.cur is None else self.cur) * u
        self.cur, self.last_unit, self.zero_seen = None, u, False

    def big_unit(self, u: int) -> None:
        self.section += self.cur or 0.0
        if self.section == 0:
            self.section = 1.0
        self.total = (self.total + self.section) * u if u > 10_000 else self.total + self.section * u
        self.section, self.cur, self.last_unit, self.zero_seen = 0.0, None, u, False

    def value(self) -> float:
        if self.cur is not None:
            # 一万二 = 12,000 and 两千五 = 2,500: a trailing single digit counts in the next unit down
            if not self.zero_seen and self.last_unit >= 10 and self.cur_is_single and self.cur < 10:
                self.section += self.cur * self.last_unit / 10
            else:
                self.section += self.cur
        return self.total + self.section


def _zh_with_units(toks: list[str]) -> float | None:
    acc = _ZhSum()
    for t in toks:
        if t == "点":
            acc.decimal_pending = True
        elif t[0].isdigit() or t in ZH_DIGITS:
            if not acc.digit(t):
                return None
        elif t in ZH_SMALL_UNITS:
            acc.small_unit(ZH_SMALL_UNITS[t])
        else:
            acc.big_unit(ZH_BIG_UNITS[t])
    return acc.value()


# ------------------------------------------------------------------ English numerals

EN_UNITS = {
    "zero": 0,
    "oh": 0,
    "o": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
EN_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
EN_SCALES = {"hundred": 100, "thousand": 1000, "grand": 1000, "million": 1_000_000}
EN_ORDINALS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "eleventh": 11,
    "twelfth": 12,
    "thirteenth": 13,
    "fourteenth": 14,
    "fifteenth": 15,
    "sixteenth": 16,
    "seventeenth": 17,
    "eighteenth": 18,
    "nineteenth": 19,
    "twentieth": 20,
    "thirtieth": 30,
}
_EN_NUMWORD = "|".join(
    sorted([w for w in [*EN_UNITS, *EN_TENS, *EN_SCALES, "a", "and"] if w not in ("o", "oh")], key=len, reverse=True)
)


def en_number(s: str) -> float | None:
    """Value of an English number phrase (five hundred, twelve hundred, two thousand five hundred)."""
    words = [w for w in re.split(r"[\s-]+", s.lower().strip()) if w]
    if not words:
        return None
    total = 0.0
    cur = 0.0
    seen = False
    last = ""  # kind of the previous word: unit, teen, tens, scale
    for w in words:
        if w == "and":
            continue
        if w == "a":
            cur = cur or 1.0
            last = "unit"
            continue
        if (w in EN_UNITS and w not in ("o", "oh")) or w in EN_TENS:
            v = EN_UNITS.get(w, EN_TENS.get(w, 0))
            kind = "tens" if w in EN_TENS else "teen" if v >= 10 else "unit"
            if kind in ("tens", "teen") and last in ("unit", "teen") and 0 < cur < 100:
                cur = cur * 100 + v  # "two fifty" = 250, "twenty three fifty" = 2350, "twelve fifty" = 1250
            else:
                cur += v
            last = kind
        elif w == "hundred":
            cur = (cur or 1.0) * 100
            last = "scale"
        elif w in ("thousand", "grand", "million"):
            total += (cur or 1.0) * EN_SCALES[w]
            cur = 0.0
            last = "scale"
        else:
            return None
        seen = True
    return total + cur if seen else None


# ------------------------------------------------------------------ amounts


@dataclass(frozen=True, slots=True)
class Amount:
    value: float
    start: int
    end: int
    explicit: bool  # carried a currency word or symbol


_ZH_CURRENCY = r"(?:块钱|块|元整|元|圆|人民币|rmb|RMB)"
_ZH_NOT_MONEY = (
    "天",
    "号",
    "日",
    "月",
    "年",
    "期",
    "个",
    "次",
    "点",
    "分",
    "岁",
    "%",
    "倍",
    "笔",
    "张",
    "位",
    "小时",
    "周",
    "星期",
    "号码",
    "人",
    "家",
    "条",
    "楼",
    "层",
    "公里",
    "米",
    "斤",
    "秒",
    "遍",
    "成",
    "折",
    "度",
    "分钟",
    "台",
    "辆",
    "套",
    "手",
    "声",
    "下",
    "句",
)
# a date right after an amount (三千五 下周五) does not make it a count (三下, 五月)
_ZH_DATE_AFTER = ("下周", "下个", "下星期", "下礼拜", "下月", "下午", "下下")
_ZH_AMOUNT = re.compile(
    rf"(?P<pre>[¥￥]\s*)?(?P<num>(?:\d[\d,]*(?:\.\d+)?[{''.join(ZH_SMALL_UNITS)}{''.join(ZH_BIG_UNITS)}]*"
    rf"[{_ZH_NUM_CHARS}点]*)|[{_ZH_NUM_CHARS}][{_ZH_NUM_CHARS}点]*)(?P<cur>{_ZH_CURRENCY})?"
)
_SPACE = re.compile(r"\s+")
_ZH_ID_BEFORE = re.compile(
    r"(工号|编号|尾号|卡号|号码|电话|手机|分机|账号|身份证|验证码|密码|订单号?|合同号?|"
    r"批次|第|热线|编码|代码|单号|案号|报案号)[是为:：]?$"
)
_EN_TIME_BEFORE = re.compile(r"\b(at|after|around|before|until|till|from|past)\s+$", re.IGNORECASE)
_EN_ID_BEFORE = re.compile(
    r"(extension|ext|number|no|id|badge|account|ending in|ends in|reference|case|claim|"
    r"confirmation|ticket|code|#|route|room|suite|unit|apartment|apt|box)[\s.:#]*(is\s+)?$",
    re.IGNORECASE,
)


def _compact(text: str) -> tuple[str, list[int]]:
    """Text without whitespace, and the original index of each kept character."""
    keep = [(i, ch) for i, ch in enumerate(text) if not ch.isspace()]
    return "".join(ch for _, ch in keep), [i for i, _ in keep]


def _zh_amounts(text: str, require_currency: bool) -> list[Amount]:
    comp, idx = _compact(text)
    out: list[Amount] = []
    for m in _ZH_AMOUNT.finditer(comp):
        num = m.group("num")
        if not num or (num in ("一", "两") and not m.group("cur")):
            continue
        if not m.group("cur") and len(num) >= 2 and all(c in ZH_DIGITS for c in num):
            continue  # 三零二一: digits read one by one (IDs, phone numbers), not money
        val = zh_number(num)
        if val is None or val <= 0:
            continue
        after = comp[m.end() : m.end() + 3]
        explicit = bool(m.group("cur") or m.group("pre"))
        has_scale = any(c in num for c in "百千万萬佰仟亿")
        if not explicit:
            if (after.startswith(_ZH_NOT_MONEY) and not after.startswith(_ZH_DATE_AFTER)) or require_currency:
                continue
            if num.endswith("点"):  # 十点 / 十二点: a clock time (一点五 has its digits after the 点)
                continue
            if not has_scale and len(num) >= 7:  # long digit strings are numbers, not money
                continue
            if re.fullmatch(r"(19|20)\d\d", num) and after.startswith("年"):
                continue
            if not has_scale and val < 10:
                continue
        if m.group("cur") == "块" and comp[m.end() : m.end() + 1] in ZH_DIGITS:  # 一块五 (1.5) - small change
            pass
        if not explicit and _ZH_ID_BEFORE.search(comp[max(0, m.start() - 6) : m.start()]):
            continue  # 工号 5172, 尾号 6789, 第3期: an identifier, not money
        start = idx[m.start()]
        end = idx[m.end() - 1] + 1
        if not explicit and not has_scale and any(c.isspace() for c in text[start:end]):
            continue  # 3 5 1: digits read one at a time
        out.append(Amount(val, start, end, explicit))
    return out


_EN_AMOUNT = re.compile(
    rf"(?P<sym>\$\s?)?(?P<num>\b\d[\d,]*(?:\.\d+)?\s?k?\b|\b(?:(?:{_EN_NUMWORD})\b(?:[\s-]+|(?![\w-])))+)"
    r"\s*(?P<cur>dollars?|bucks|usd|dollar)?",
    re.IGNORECASE,
)
_EN_NOT_MONEY = re.compile(
    r"\s*(?:st|nd|rd|th|days?|months?|weeks?|years?|percent|%|times|o'clock|am|pm|a\.m|p\.m|calls?|"
    r"payments?|installments?|instalments?|people|hours?|minutes?)\b",
    re.IGNORECASE,
)


def _en_amounts(text: str, require_currency: bool) -> list[Amount]:
    out: list[Amount] = []
    for m in _EN_AMOUNT.finditer(text):
        raw = (m.group("num") or "").strip()
        if not raw:
            continue
        lead = 0
        if raw[0].isdigit():
            k = raw.lower().endswith("k")
            try:
                val = float(raw.rstrip("kK").replace(",", "").strip())
            except ValueError:
                continue
            if k:
                val *= 1000
        else:
            words = raw.lower().split()
            while words and words[-1] in ("a", "and"):
                words.pop()
            lead = 0
            while words and words[0] == "and":
                lead += 1
                words.pop(0)
            if not words:
                continue
            v = en_number(" ".join(words))
            if v is None:
                continue
            val = v
        explicit = bool(m.group("sym") or m.group("cur"))
        if val <= 0:
            continue
        if (
            re.match(
                r"-?(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|st|nd|rd|th)\b",
                text[m.end("num") :],
                re.IGNORECASE,
            )
            and not explicit
        ):
            continue  # twenty-seventh, 15th: a date, not money
        if not explicit:
            if require_currency or _EN_NOT_MONEY.match(text, m.end("num")):
                continue
            if raw[0].isdigit() and (len(raw.replace(",", "").split(".")[0]) >= 7 or val < 10):
                continue
            if re.fullmatch(r"(19|20)\d\d", raw):
                continue
            if not raw[0].isdigit() and val < 10:
                continue
        if not explicit and _EN_TIME_BEFORE.search(text[max(0, m.start() - 12) : m.start()]):
            continue  # after ten, at five: a time of day
        if not explicit and _EN_ID_BEFORE.search(text[max(0, m.start() - 24) : m.start()]):
            continue  # extension 4, account ending in 1234: an identifier, not money
        end = m.end("cur") if m.group("cur") else m.end("num")
        while end > m.start() and text[end - 1].isspace():
            end -= 1
        start = m.start()
        if lead:  # "and seventy dollars": the amount starts after "and"
            ands = re.match(r"(?:and[\s-]+)+", text[m.start("num") :], re.I)
            start = m.start("num") + (len(ands.group(0)) if ands else 0)
        out.append(Amount(val, start, end, explicit))
    return out


def find_amounts(text: str, language: str, *, require_currency: bool = False) -> list[Amount]:
    """Money amounts in `text`.  Without a currency word, a number counts only when it is not followed
    by a counter (天/号/期, days/th…), is not a year and is not a long digit string."""
    found = (_zh_amounts if language.lower().startswith("zh") else _en_amounts)(text, require_currency)
    if not found:
        return found
    # a number inside a longer digit string read out (phone, card, ID) is not money
    runs = [r for r in digit_runs(text, min_len=7)]
    return [a for a in found if a.explicit or not any(r.start <= a.start < r.end for r in runs)]


# ------------------------------------------------------------------ dates


@dataclass(frozen=True, slots=True)
class DateMention:
    date: date
    start: int
    end: int
    text: str


_ZH_WEEKDAY = {
    "一": 0,
    "二": 1,
    "三": 2,
    "四": 3,
    "五": 4,
    "六": 5,
    "日": 6,
    "天": 6,
    "1": 0,
    "2": 1,
    "3": 2,
    "4": 3,
    "5": 4,
    "6": 5,
    "7": 6,
}
_ZH_DAYNUM = r"(?:\d{1,2}|[一二两三四五六七八九十]{1,3})"


def _zh_int(s: str) -> int | None:
    v = zh_number(s)
    return int(v) if v is not None and v == int(v) else None


def _last_day(y: int, m: int) -> date:
    return date(y, m, calendar.monthrange(y, m)[1])


def _add_months(d: date, n: int) -> tuple[int, int]:
    m = d.month - 1 + n
    return d.year + m // 12, m % 12 + 1


def _day_of_month(today: date, day: int, month_offset: int | None) -> date | None:
    if month_offset is None:
        y, m = today.year, today.month
        if day < today.day:
            y, m = _add_months(today, 1)
    else:
        y, m = _add_months(today, month_offset)
    try:
        return date(y, m, day)
    except ValueError:
        return None


def _weekday(today: date, wd: int, which: str, mode: NextWeekday) -> date:
    monday = today - timedelta(days=today.weekday())
    if which == "next":
        if mode == "following_week":
            return monday + timedelta(days=7 + wd)
        delta = (wd - today.weekday()) % 7 or 7
        return today + timedelta(days=delta)
    if which == "next2":
        return monday + timedelta(days=14 + wd)
    if which == "this":
        return monday + timedelta(days=wd)
    delta = (wd - today.weekday()) % 7
    return today + timedelta(days=delta)


_ZH_DATE = re.compile(
    rf"(?P<ymd>(?:(?P<y>\d{{4}})年)?(?P<mo>\d{{1,2}}|[一二三四五六七八九十]{{1,3}})月(?:份)?(?P<d>{_ZH_DAYNUM})[号日])"
    rf"|(?P<mday>(?P<mpre>下个?月|本月|这个?月|下下个?月)?(?P<dd>{_ZH_DAYNUM})[号日](?!子|期))"
    r"|(?P<wk>(?P<wpre>下下个?|下个?|这个?|本)?(?:周|星期|礼拜)(?P<wd>[一二三四五六日天1-7]))"
    r"|(?P<eom>(?P<epre>下个?月|本月|这个?月)?(?:月底|月末|底))"
    r"|(?P<bom>下个?月初|下个?月一号)"
    rf"|(?P<rel>大后天|后天|明天|明日|明儿|今天|今日|今儿|今晚|明早|明晚)"
    rf"|(?P<ndays>(?P<n>\d{{1,2}}|[一二两三四五六七八九十]{{1,3}})天(?:以后|之后|后|以内|之内|内))"
)
_ZH_REL = {
    "今天": 0,
    "今日": 0,
    "今儿": 0,
    "今晚": 0,
    "明天": 1,
    "明日": 1,
    "明儿": 1,
    "明早": 1,
    "明晚": 1,
    "后天": 2,
    "大后天": 3,
}


def _yixia(comp: str, m: re.Match[str], pre: str) -> str:
    """一下 (确认一下, 核对一下) before the date keeps its 下: 确认一下下周五 is 下周五, 确认一下周五 is 周五."""
    if pre.startswith("下") and m.start() > 0 and comp[m.start() - 1] == "一":
        return pre[1:]
    return pre


def _zh_dates(text: str, today: date, mode: NextWeekday) -> list[DateMention]:
    comp, idx = _compact(text)
    out: list[DateMention] = []
    for m in _ZH_DATE.finditer(comp):
        d: date | None = None
        if m.group("ymd"):
            mo, dd = _zh_int(m.group("mo")), _zh_int(m.group("d"))
            if mo and dd and 1 <= mo <= 12:
                y = int(m.group("y")) if m.group("y") else today.year
                try:
                    d = date(y, mo, dd)
                    if not m.group("y") and d < today - timedelta(days=_PAST_YEAR_DAYS):
                        d = date(y + 1, mo, dd)
                except ValueError:
                    d = None
        elif m.group("mday"):
            dd = _zh_int(m.group("dd"))
            pre = m.group("mpre") or ""
            if pre.startswith("下下"):
                pre = _yixia(comp, m, pre)
            off = None if not pre else (2 if pre.startswith("下下") else 1 if pre.startswith("下") else 0)
            if dd and 1 <= dd <= 31:
                d = _day_of_month(today, dd, off)
        elif m.group("wk"):
            pre = _yixia(comp, m, m.group("wpre") or "")
            which = (
                "next2" if pre.startswith("下下") else "next" if pre.startswith("下") else "this" if pre else "coming"
            )
            d = _weekday(today, _ZH_WEEKDAY[m.group("wd")], which, "following_week" if which == "next" else mode)
            if which == "this" and d < today:  # 这周五 said on a Saturday: the coming Friday, as in English
                d = _weekday(today, _ZH_WEEKDAY[m.group("wd")], "coming", mode)
        elif m.group("eom"):
            pre = m.group("epre") or ""
            if not pre and m.group("eom") == "底":
                continue
            if pre.startswith("下"):
                y, mo = _add_months(today, 1)
                d = _last_day(y, mo)
            else:
                d = _last_day(today.year, today.month)
        elif m.group("bom"):
            y, mo = _add_months(today, 1)
            d = date(y, mo, 1)
        elif m.group("rel"):
            d = today + timedelta(days=_ZH_REL[m.group("rel")])
        elif m.group("ndays"):
            n = _zh_int(m.group("n"))
            if n:
                d = today + timedelta(days=n)
        if d is not None:
            out.append(DateMention(d, idx[m.start()], idx[m.end() - 1] + 1, m.group(0)))
    return out


_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9
_WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}
_ORD = (
    r"(?:\d{1,2}(?:st|nd|rd|th)?|"
    + "|".join(sorted(EN_ORDINALS, key=len, reverse=True))
    + r"|twenty[- ](?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)|thirty[- ]first)"
)
_MONTH_RX = "|".join(sorted(_MONTHS, key=len, reverse=True))
_WD_RX = "|".join(_WEEKDAYS)
_EN_DATE = re.compile(
    rf"\b(?:(?P<md>(?P<mon>{_MONTH_RX})\.?\s+(?:the\s+)?(?P<mday>{_ORD})\b)"
    rf"|(?P<dm>(?:the\s+)?(?P<dday>{_ORD})\s+of\s+(?P<mon2>{_MONTH_RX}|this month|next month))"
    rf"|(?P<slash>(?P<sm>\d{{1,2}})/(?P<sd>\d{{1,2}})(?:/(?P<sy>\d{{2,4}}))?)"
    rf"|(?P<wk>(?:(?P<wpre>next|this|coming|this coming)\s+)?(?P<wd>{_WD_RX}))"
    r"|(?P<eom>end of (?:the |this )?(?P<enext>next )?month|month'?s end|end of month)"
    r"|(?P<bom>(?:the )?(?:first|1st|beginning|start) of (?:the |next )?month)"
    r"|(?P<rel>the day after tomorrow|tomorrow|today|tonight)"
    r"|(?P<ndays>in (?P<n>\d{1,2}|[a-z]+) days|(?P<n2>\d{1,2}|[a-z]+) days from (?:now|today))"
    rf"|(?P<theday>(?:on |by |before |until )?the (?P<tday>{_ORD}))\b"
    r")",
    re.IGNORECASE,
)


def _en_ord(s: str) -> int | None:
    s = s.lower().replace("-", " ").strip()
    m = re.match(r"(\d{1,2})", s)
    if m:
        return int(m.group(1))
    if s in EN_ORDINALS:
        return EN_ORDINALS[s]
    parts = s.split()
    if len(parts) == 2 and parts[0] in EN_TENS and parts[1] in EN_ORDINALS:
        return EN_TENS[parts[0]] + EN_ORDINALS[parts[1]]
    return None


def _en_month_day(m: re.Match[str], today: date) -> date | None:
    """December first, the 5th of next month (a month name without a year: this year or next)."""
    mon = (m.group("mon") or m.group("mon2") or "").lower()
    day = _en_ord(m.group("mday") or m.group("dday") or "")
    if not day:
        return None
    if mon in ("this month", "next month"):
        return _day_of_month(today, day, 0 if mon == "this month" else 1)
    mo = _MONTHS.get(mon.rstrip("."))
    if not mo:
        return None
    try:
        d = date(today.year, mo, day)
        return date(today.year + 1, mo, day) if d < today - timedelta(days=_PAST_YEAR_DAYS) else d
    except ValueError:
        return None


def _en_slash(m: re.Match[str], today: date) -> date | None:
    """12/5 or 12/5/2026 (US order)."""
    mo, day = int(m.group("sm")), int(m.group("sd"))
    y = int(m.group("sy")) if m.group("sy") else today.year
    if y < 100:
        y += 2000
    try:
        return date(y, mo, day)
    except ValueError:
        return None


def _en_dates(text: str, today: date, mode: NextWeekday) -> list[DateMention]:
    out: list[DateMention] = []
    for m in _EN_DATE.finditer(text):
        d: date | None = None
        if m.group("md") or m.group("dm"):
            d = _en_month_day(m, today)
        elif m.group("slash"):
            d = _en_slash(m, today)
        elif m.group("wk"):
            pre = (m.group("wpre") or "").lower()
            which = "next" if pre == "next" else "this" if pre == "this" else "coming"
            wd = _WEEKDAYS[m.group("wd").lower()]
            if which == "this":
                d = _weekday(today, wd, "this", mode)
                if d < today:
                    d = _weekday(today, wd, "coming", mode)
            else:
                d = _weekday(today, wd, which, mode)
        elif m.group("eom"):
            if m.group("enext"):
                y, mo = _add_months(today, 1)
                d = _last_day(y, mo)
            else:
                d = _last_day(today.year, today.month)
        elif m.group("bom"):
            y, mo = _add_months(today, 1)
            d = date(y, mo, 1)
        elif m.group("rel"):
            r = m.group("rel").lower()
            d = today + timedelta(days=2 if r.startswith("the day after") else 1 if r == "tomorrow" else 0)
        elif m.group("ndays"):
            raw = (m.group("n") or m.group("n2") or "").lower()
            n = int(raw) if raw.isdigit() else (EN_UNITS.get(raw) or EN_TENS.get(raw))
            if n:
                d = today + timedelta(days=n)
        elif m.group("theday"):
            day = _en_ord(m.group("tday"))
            if day and 1 <= day <= 31:
                d = _day_of_month(today, day, None)
        if d is not None:
            out.append(DateMention(d, m.start(), m.end(), m.group(0)))
    return out


def find_dates(
    text: str, language: str, today: date, *, next_weekday: NextWeekday = "following_week"
) -> list[DateMention]:
    """Dates in `text`, resolved against `today` (the call's date where the debtor is).

    `next_weekday` decides "next Friday" in English: the Friday of the following week (like 下周五), or
    the coming Friday.  A bare day of the month (15号, the 15th) already past this month means next month.
    """
    if language.lower().startswith("zh"):
        return _zh_dates(text, today, next_weekday)
    return _en_dates(text, today, next_weekday)


# ------------------------------------------------------------------ digit strings


@dataclass(frozen=True, slots=True)
class DigitRun:
    digits: str  # "0-9" and a trailing "X" for PRC IDs
    start: int
    end: int


_ZH_DIGIT_CHARS = {
    "零": "0",
    "〇": "0",
    "洞": "0",
    "一": "1",
    "幺": "1",
    "二": "2",
    "两": "2",
    "三": "3",
    "四": "4",
    "五": "5",
    "六": "6",
    "七": "7",
    "八": "8",
    "九": "9",
}
_EN_DIGIT_WORDS = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
_EN_MULT = {"double": 2, "triple": 3}
_DIGITISH = re.compile(
    r"[0-9零〇洞一幺二两三四五六七八九]|(?i:\b(?:zero|oh|o|one|two|three|four|five|six|seven|"
    r"eight|nine|double|triple)\b)"
)
_RUN_SEP = set(" \t-–—.,，、_/·")
_EN_TOKEN = re.compile(r"[A-Za-z]+|\d|[^\w]|_", re.UNICODE)


def digit_runs(text: str, min_len: int = 4) -> list[DigitRun]:
    """Runs of digits read one at a time, in any mix of Arabic digits, Chinese digit characters and
    English digit words, separated at most by spaces/dashes/commas; "X" may end a run (PRC ID)."""
    if len(_DIGITISH.findall(text)) < min_len:
        return []  # fast path: not enough digits of any kind
    runs: list[DigitRun] = []
    digits: list[str] = []
    start = end = -1
    mult = 1

    def flush() -> None:
        nonlocal digits, start, end
        if len(digits) >= min_len:
            runs.append(DigitRun("".join(digits), start, end))
        digits = []
        start = end = -1

    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        d: str | None = None
        j = i + 1
        if ch.isdigit() and ch.isascii():
            d = ch
        elif ch in _ZH_DIGIT_CHARS:
            nxt = text[i + 1 : i + 2]
            if nxt and (nxt in "十百千万亿块元号日月年天期个次点岁"):
                d = None
            else:
                d = _ZH_DIGIT_CHARS[ch]
        elif ch in "Xx" and digits and len(digits) == 17 and not text[i + 1 : i + 2].isalpha():
            d = "X"
        elif ch.isalpha() and ch.isascii():
            while j < n and text[j].isascii() and text[j].isalpha():
                j += 1
            w = text[i:j].lower()
            if w in _EN_MULT:
                mult = _EN_MULT[w]
                i = j
                continue
            d = _EN_DIGIT_WORDS.get(w)
            if w in ("o", "oh") and not digits:
                d = None
        if d is not None:
            if not digits:
                start = i
            digits.extend([d] * mult)
            mult = 1
            end = j
            i = j
            continue
        if ch in _RUN_SEP and digits:
            i += 1
            continue
        mult = 1
        flush()
        i += 1
    flush()
    return runs
