"""Validate the labelled coach corpus (tests/data/coach/<lang>-<nn>-<slug>.jsonl).

Checks every call file for: JSON Lines that parse, the header/segment schema, increasing and realistic
segment times, expectation labels that point at agent segments, and labels that agree with each other
and with the account card (total_due, high-risk threshold, call-time and frequency rules recomputed from
started_at + history, promise amounts that were actually spoken, new numbers the customer actually said).
Then checks corpus coverage (every detector and violation kind in both languages).

Usage:  python tests/data/coach/validate.py [FILE ...]
        python tests/data/coach/validate.py --dir DIR [--dir DIR ...]
With no FILE, validates every *.jsonl in this directory except the engine's own dev-* files, then checks
coverage. With FILEs, validates just those files (no coverage check). With --dir, validates every *.jsonl
in each DIR (except dev-* files) and checks the coverage of each DIR on its own, e.g.
``--dir tests/data/coach/heldout`` for the held-out corpus.
Exit status 0 when everything passes, 1 otherwise (each problem printed as ``file:line: message``).

``account.timezone`` may be missing and ``account.phone`` (digits) may be given. An unknown zone is judged
in every candidate zone (README "Unknown time zone"): the zone(s) of a known US area code for en-US, else
every US zone for en-US, and Asia/Shanghai for zh-CN. Dates (due_date, promise) use the first candidate.
US area codes are read only for en-US calls: an 11-digit Chinese mobile (150...) would otherwise look like
a US number with the leading 1.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

HERE = Path(__file__).resolve().parent
LANGS = ("zh-CN", "en-US")
NAME_RE = re.compile(r"^(zh-CN|en-US)-(\d{2})-([a-z0-9]+(?:-[a-z0-9]+)*)\.jsonl$")

DISCLOSURES_ZH = (
    "identity",
    "purpose",
    "recording_notice",
    "amount_breakdown",
    "deadline",
    "credit_consequence",
    "legal_consequence",
)
DISCLOSURES_EN = (*DISCLOSURES_ZH, "debt_collector_statement")
VIOLATION_KINDS = ("threat", "abuse", "misleading", "third_party_disclosure", "payment_channel")
TEMPERAMENTS = ("dominant", "sensitive", "procrastinating", "neutral")
RISKS = ("wilful_default", "high_risk", "hardship")
OUTCOMES = ("promise_to_pay", "refused", "dispute", "hardship", "wrong_party", "callback", "no_commitment")
EXPECT_KEYS = {
    "disclosures",
    "violations",
    "call_time",
    "temperament",
    "risks",
    "promise",
    "outcome",
    "dispute",
    "new_contact_numbers",
}
ACCOUNT_KEYS = {
    "id",
    "name",
    "principal",
    "interest",
    "penalty",
    "total_due",
    "overdue_days",
    "stage",
    "due_date",
    "currency",
}
ACCOUNT_OPTIONAL = {"history", "timezone", "phone"}
CURRENCY = {"zh-CN": "CNY", "en-US": "USD"}

# Thresholds shared with the coach (documented in README.md).
HIGH_RISK_TOTAL = {"CNY": 50000.0, "USD": 10000.0}
HIGH_RISK_DAYS = 90
CN_QUIET = (22.0, 8.0)  # no collection from 22:00 to 08:00 debtor-local
CN_WARN = (21.0, 22.0)  # warning window
CN_MAX_CONNECTED_PER_DAY = 3  # the 4th connected call of the local day is not allowed
US_WINDOW = (8.0, 21.0)  # allowed 08:00-21:00 debtor-local
US_WARN = (20.5, 21.0)
US_MAX_ATTEMPTS_7D = 7  # the 8th attempt within 7 days is not allowed
US_CONVERSATION_DAYS = 7  # no call within 7 days after a telephone conversation

# Unknown debtor zone (README "Unknown time zone", Reg F 1006.6(b)(1)(i)).
US_ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
)
CN_ZONE = "Asia/Shanghai"
_ET, _CT, _MT, _AZ, _PT, _AK, _HI = US_ZONES
# US area code -> IANA zone(s), main zone first. Area codes that span two zones list both.
AREA_CODE_ZONES: dict[str, tuple[str, ...]] = {
    # Eastern
    "202": (_ET,),
    "203": (_ET,),
    "212": (_ET,),
    "215": (_ET,),
    "216": (_ET,),
    "239": (_ET,),
    "267": (_ET,),
    "301": (_ET,),
    "302": (_ET,),
    "305": (_ET,),
    "313": (_ET,),
    "321": (_ET,),
    "347": (_ET,),
    "404": (_ET,),
    "407": (_ET,),
    "410": (_ET,),
    "412": (_ET,),
    "413": (_ET,),
    "470": (_ET,),
    "508": (_ET,),
    "513": (_ET,),
    "516": (_ET,),
    "518": (_ET,),
    "561": (_ET,),
    "571": (_ET,),
    "603": (_ET,),
    "614": (_ET,),
    "617": (_ET,),
    "646": (_ET,),
    "678": (_ET,),
    "703": (_ET,),
    "704": (_ET,),
    "716": (_ET,),
    "718": (_ET,),
    "727": (_ET,),
    "754": (_ET,),
    "757": (_ET,),
    "770": (_ET,),
    "786": (_ET,),
    "804": (_ET,),
    "813": (_ET,),
    "843": (_ET,),
    "864": (_ET,),
    "904": (_ET,),
    "917": (_ET,),
    "919": (_ET,),
    "954": (_ET,),
    "973": (_ET,),
    "980": (_ET,),
    # Central
    "205": (_CT,),
    "210": (_CT,),
    "214": (_CT,),
    "217": (_CT,),
    "225": (_CT,),
    "251": (_CT,),
    "281": (_CT,),
    "312": (_CT,),
    "314": (_CT,),
    "316": (_CT,),
    "319": (_CT,),
    "334": (_CT,),
    "346": (_CT,),
    "402": (_CT,),
    "405": (_CT,),
    "414": (_CT,),
    "469": (_CT,),
    "501": (_CT,),
    "504": (_CT,),
    "512": (_CT,),
    "601": (_CT,),
    "608": (_CT,),
    "612": (_CT,),
    "615": (_CT,),
    "630": (_CT,),
    "651": (_CT,),
    "713": (_CT,),
    "737": (_CT,),
    "773": (_CT,),
    "816": (_CT,),
    "817": (_CT,),
    "832": (_CT,),
    "847": (_CT,),
    "901": (_CT,),
    "918": (_CT,),
    "972": (_CT,),
    # Mountain
    "303": (_MT,),
    "307": (_MT,),
    "385": (_MT,),
    "406": (_MT,),
    "435": (_MT,),
    "505": (_MT,),
    "575": (_MT,),
    "719": (_MT,),
    "720": (_MT,),
    "801": (_MT,),
    "915": (_MT,),
    "970": (_MT,),
    # Arizona (no daylight saving time)
    "480": (_AZ,),
    "520": (_AZ,),
    "602": (_AZ,),
    "623": (_AZ,),
    "928": (_AZ,),
    # Pacific
    "206": (_PT,),
    "209": (_PT,),
    "213": (_PT,),
    "253": (_PT,),
    "310": (_PT,),
    "323": (_PT,),
    "360": (_PT,),
    "408": (_PT,),
    "415": (_PT,),
    "425": (_PT,),
    "503": (_PT,),
    "509": (_PT,),
    "510": (_PT,),
    "530": (_PT,),
    "559": (_PT,),
    "562": (_PT,),
    "619": (_PT,),
    "626": (_PT,),
    "650": (_PT,),
    "661": (_PT,),
    "702": (_PT,),
    "707": (_PT,),
    "714": (_PT,),
    "725": (_PT,),
    "760": (_PT,),
    "775": (_PT,),
    "805": (_PT,),
    "818": (_PT,),
    "858": (_PT,),
    "909": (_PT,),
    "916": (_PT,),
    "925": (_PT,),
    "949": (_PT,),
    "971": (_PT,),
    # Alaska and Hawaii
    "907": (_AK,),
    "808": (_HI,),
    # Area codes that span two zones
    "208": ("America/Boise", _PT),  # Idaho: south Mountain, panhandle Pacific
    "270": (_CT, _ET),  # western Kentucky
    "308": (_CT, _MT),  # western Nebraska
    "541": (_PT, "America/Boise"),  # eastern Oregon (Malheur County on Mountain)
    "605": (_CT, _MT),  # South Dakota
    "620": (_CT, _MT),  # south-west Kansas
    "701": (_CT, _MT),  # North Dakota
    "785": (_CT, _MT),  # north-west Kansas
    "812": ("America/Indiana/Indianapolis", _CT),  # southern Indiana
    "850": (_CT, _ET),  # Florida panhandle (Tallahassee is Eastern)
    "906": ("America/Detroit", "America/Menominee"),  # Michigan's Upper Peninsula
    "931": (_CT, _ET),  # Tennessee
}

SEGMENTS_MIN, SEGMENTS_MAX = 8, 30
ZH_RATE = (2.5, 7.0)  # spoken units (characters/digits) per second
EN_RATE = (1.4, 4.5)  # words per second
MAX_OVERLAP = 1.5  # seconds a segment may start before the previous one ends

ZH_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "幺": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
ZH_UNITS = {"十": 10, "百": 100, "千": 1000}
EN_ONES = {
    "zero": 0,
    "oh": 0,
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


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)

    def add(self, where: str, msg: str) -> None:
        self.errors.append(f"{where}: {msg}")


@dataclass
class CallInfo:
    path: Path
    language: str
    number: int
    expect: dict[str, Any]
    local_start: datetime
    zones: tuple[str, ...] = ()


# ---------------------------------------------------------------- numbers spoken in the transcript


def zh_number(run: str) -> int | None:
    """Value of a Chinese/arabic numeral run: 一万二=12000, 两千五=2500, 一千零五十=1050, 8000."""
    if run.isdigit():
        return int(run)
    total = section = num = 0
    last_unit = 0
    after_zero = False
    seen = False
    for ch in run:
        if ch.isdigit():
            num = num * 10 + int(ch)
            seen = True
        elif ch in ZH_DIGITS:
            if ZH_DIGITS[ch] == 0:
                after_zero = True
            num = ZH_DIGITS[ch]
            seen = True
        elif ch in ZH_UNITS:
            section += (num or 1) * ZH_UNITS[ch]
            last_unit, num, after_zero = ZH_UNITS[ch], 0, False
            seen = True
        elif ch == "万":
            total += (section + num) * 10000
            section, num, last_unit, after_zero = 0, 0, 10000, False
            seen = True
        else:
            return None
    if not seen:
        return None
    if num and last_unit >= 100 and not after_zero and num < 10:
        num *= last_unit // 10  # abbreviated tail: 一万二 -> 12000, 三千五 -> 3500
    return total + section + num


def zh_amounts(text: str) -> set[int]:
    values: set[int] = set()
    for run in re.findall(r"[0-9零〇一幺二两三四五六七八九十百千万]+", text.replace(" ", "")):
        value = zh_number(run)
        if value is not None:
            values.add(value)
    return values


def en_amounts(text: str) -> set[int]:
    """Amounts in an English segment, as digits ($1,200) or words (five hundred, four fifty)."""
    values = {int(m.replace(",", "")) for m in re.findall(r"\d[\d,]*", text)}
    words = re.findall(r"[a-z]+", text.lower().replace("-", " "))
    run: list[str] = []
    for w in [*words, "."]:
        if w in EN_ONES or w in EN_TENS or (w in ("hundred", "thousand", "and") and run):
            run.append(w)
            continue
        while run and run[-1] == "and":
            run.pop()
        if run:
            values |= _en_run_values(run)
        run = []
    return values


def _en_run_values(run: list[str]) -> set[int]:
    out: set[int] = set()
    total = current = 0
    for w in run:
        if w in EN_ONES:
            current += EN_ONES[w]
        elif w in EN_TENS:
            current += EN_TENS[w]
        elif w == "hundred":
            current = (current or 1) * 100
        elif w == "thousand":
            total += (current or 1) * 1000
            current = 0
    out.add(total + current)
    # colloquial "four fifty" = 450, "eighteen fifty" = 1850, "twenty four hundred" handled above
    plain = [w for w in run if w != "and"]
    if len(plain) >= 2 and plain[0] in EN_ONES and all(w not in ("hundred", "thousand") for w in plain):
        head = EN_ONES[plain[0]]
        tail = sum(EN_ONES.get(w, 0) + EN_TENS.get(w, 0) for w in plain[1:])
        if tail >= 10:
            out.add(head * 100 + tail)
    return out


def spoken_digits(text: str, language: str) -> str:
    """All digits of a segment, with spoken digits (幺三八, five five five) turned into digits."""
    if language == "zh-CN":
        kept = (c for c in text if c.isdigit() or c in ZH_DIGITS)
        return "".join(str(ZH_DIGITS[c]) if c in ZH_DIGITS else c for c in kept)
    out = []
    for tok in re.findall(r"[a-z]+|\d", text.lower()):
        if tok.isdigit():
            out.append(tok)
        elif tok in EN_ONES and EN_ONES[tok] < 10:
            out.append(str(EN_ONES[tok]))
    return "".join(out)


# ---------------------------------------------------------------- rule recomputation


def parse_ts(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return ts if ts.tzinfo is not None else None


def hour_of(ts: datetime) -> float:
    return ts.hour + ts.minute / 60 + ts.second / 3600


def us_area_code(phone: Any) -> str | None:
    """Area code of a US number given as digits, with or without the leading 1."""
    if not isinstance(phone, str) or not phone.isdigit():
        return None
    if len(phone) == 11 and phone.startswith("1"):
        phone = phone[1:]
    if len(phone) == 10 and phone[0] in "23456789":
        return phone[:3]
    return None


def candidate_zones(account: dict[str, Any], language: str) -> tuple[str, ...]:
    """The debtor's zone, or every zone they may be in when it is unknown (first = the one for dates)."""
    if account.get("timezone") is not None:
        return (account["timezone"],)
    if language == "en-US":
        code = us_area_code(account.get("phone"))
        if code in AREA_CODE_ZONES:
            return AREA_CODE_ZONES[code]
        return US_ZONES
    return (CN_ZONE,)


def expected_call_time_zones(
    language: str,
    started: datetime,
    zones: tuple[str, ...],
    history: list[tuple[datetime, bool]],
    where: str,
    report: Report,
) -> dict[str, bool]:
    """allowed only if allowed in every candidate zone; warning if in the warning window in any."""
    verdicts = []
    for zone in zones:
        tz = ZoneInfo(zone)
        verdicts.append(
            expected_call_time(
                language, started.astimezone(tz), [(at.astimezone(tz), conn) for at, conn in history], where, report
            )
        )
    return {"allowed": all(v["allowed"] for v in verdicts), "warning": any(v["warning"] for v in verdicts)}


def expected_call_time(
    language: str, local: datetime, history: list[tuple[datetime, bool]], where: str, report: Report
) -> dict[str, bool]:
    h = hour_of(local)
    if language == "zh-CN":
        in_quiet = h >= CN_QUIET[0] or h < CN_QUIET[1]
        warning = CN_WARN[0] <= h < CN_WARN[1]
        connected_today = sum(1 for at, conn in history if conn and at.date() == local.date())
        allowed = not in_quiet and connected_today + 1 <= CN_MAX_CONNECTED_PER_DAY
        return {"allowed": allowed, "warning": warning}
    in_window = US_WINDOW[0] <= h < US_WINDOW[1]
    warning = US_WARN[0] <= h < US_WARN[1]
    verdicts = []
    # Two readings of "within 7 days": debtor-local calendar days (Reg F) and a rolling 7x24h window.
    # The corpus avoids cases where they differ, so the label never depends on that choice.
    for calendar in (True, False):

        def recent(at: datetime, calendar: bool = calendar) -> bool:
            if calendar:
                return (local.date() - at.date()).days < US_CONVERSATION_DAYS
            return local - at < timedelta(days=US_CONVERSATION_DAYS)

        attempts = sum(1 for at, _ in history if recent(at)) + 1
        talked = any(conn and recent(at) for at, conn in history)
        verdicts.append(in_window and attempts <= US_MAX_ATTEMPTS_7D and not talked)
    if verdicts[0] != verdicts[1]:
        report.add(where, "history is ambiguous: calendar-day and 24-hour 7-day windows disagree")
    return {"allowed": verdicts[0], "warning": warning}


def is_high_risk(account: dict[str, Any]) -> bool:
    threshold = HIGH_RISK_TOTAL[account["currency"]]
    return float(account["total_due"]) >= threshold or int(account["overdue_days"]) >= HIGH_RISK_DAYS


# ---------------------------------------------------------------- one file


def number_like(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_file(path: Path, report: Report) -> CallInfo | None:
    name = path.name
    m = NAME_RE.match(name)
    if not m:
        report.add(name, "file name must be <zh-CN|en-US>-<nn>-<slug>.jsonl")
        return None
    language, number = m.group(1), int(m.group(2))
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        report.add(name, f"not UTF-8: {exc}")
        return None
    rows: list[dict[str, Any]] = []
    for i, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            report.add(f"{name}:{i}", "blank line")
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            report.add(f"{name}:{i}", f"invalid JSON: {exc}")
            return None
        if not isinstance(obj, dict):
            report.add(f"{name}:{i}", "each line must be a JSON object")
            return None
        rows.append(obj)
    if not rows:
        report.add(name, "empty file")
        return None
    header, segments = rows[0], rows[1:]
    where = f"{name}:1"
    if set(header) != {"call", "expect"}:
        report.add(where, f"header keys must be call, expect (got {sorted(header)})")
        return None
    call, expect = header["call"], header["expect"]
    if not isinstance(call, dict) or set(call) != {"language", "started_at", "account"}:
        report.add(where, "call must have exactly language, started_at, account")
        return None
    if call["language"] != language:
        report.add(where, f"language {call['language']!r} does not match file name {language!r}")
    started = parse_ts(call["started_at"])
    if started is None:
        report.add(where, f"started_at {call['started_at']!r} is not ISO-8601 with an offset")
        return None
    account = call["account"]
    local = check_account(account, language, started, where, report)
    if local is None:
        return None
    zones = candidate_zones(account, language)
    history = [(at, h["connected"]) for h in account.get("history", []) if (at := parse_ts(h["at"])) is not None]
    check_segments(segments, language, name, report)
    if not isinstance(expect, dict):
        report.add(where, "expect must be an object")
        return None
    check_expect(expect, language, account, local, started, zones, history, segments, where, report)
    return CallInfo(path, language, number, expect, local, zones)


def check_account(account: Any, language: str, started: datetime, where: str, report: Report) -> datetime | None:
    if not isinstance(account, dict):
        report.add(where, "account must be an object")
        return None
    missing = ACCOUNT_KEYS - set(account)
    extra = set(account) - ACCOUNT_KEYS - ACCOUNT_OPTIONAL
    if missing or extra:
        report.add(where, f"account keys: missing {sorted(missing)}, unexpected {sorted(extra)}")
        return None
    for key in ("principal", "interest", "penalty", "total_due"):
        if not number_like(account[key]) or account[key] < 0:
            report.add(where, f"account.{key} must be a non-negative number")
            return None
    parts = account["principal"] + account["interest"] + account["penalty"]
    if abs(parts - account["total_due"]) > 0.005:
        report.add(where, f"total_due {account['total_due']} != principal+interest+penalty {parts}")
    if account["currency"] != CURRENCY[language]:
        report.add(where, f"currency must be {CURRENCY[language]} for {language}")
    if "phone" in account and not (isinstance(account["phone"], str) and re.fullmatch(r"\d{7,15}", account["phone"])):
        report.add(where, f"account.phone {account['phone']!r} must be a string of 7-15 digits")
        return None
    if "timezone" in account and not isinstance(account["timezone"], str):
        report.add(where, f"account.timezone {account['timezone']!r} must be an IANA zone name")
        return None
    try:
        tz = ZoneInfo(candidate_zones(account, language)[0])
    except (ZoneInfoNotFoundError, ValueError):
        report.add(where, f"unknown timezone {account['timezone']!r}")
        return None
    local = started.astimezone(tz)
    days = account["overdue_days"]
    if not isinstance(days, int) or days < 1:
        report.add(where, "overdue_days must be a positive integer")
        return None
    try:
        due = date.fromisoformat(account["due_date"])
    except (TypeError, ValueError):
        report.add(where, f"due_date {account['due_date']!r} is not YYYY-MM-DD")
        return None
    if due + timedelta(days=days) != local.date():
        report.add(where, f"due_date {due} + {days} days != local call date {local.date()}")
    stage = f"M{min(6, math.ceil(days / 30))}"
    if account["stage"] != stage:
        report.add(where, f"stage {account['stage']!r} should be {stage!r} for {days} overdue days")
    for i, h in enumerate(account.get("history", [])):
        at = parse_ts(h.get("at")) if isinstance(h, dict) else None
        if at is None or set(h) != {"at", "connected"} or not isinstance(h["connected"], bool):
            report.add(where, f"history[{i}] must be {{at: ISO-8601 with offset, connected: bool}}")
            return None
        if at >= started:
            report.add(where, f"history[{i}] at {h['at']} is not before started_at")
    return local


def speech_units(text: str, language: str) -> float:
    if language == "zh-CN":
        return float(len(re.findall(r"[\u4e00-\u9fff0-9]", text)) + len(re.findall(r"[A-Za-z]+", text)))
    return float(len(text.split()))


def check_segments(segments: list[dict[str, Any]], language: str, name: str, report: Report) -> None:
    if not SEGMENTS_MIN <= len(segments) <= SEGMENTS_MAX:
        report.add(name, f"{len(segments)} segments; a call needs {SEGMENTS_MIN}-{SEGMENTS_MAX}")
    prev: dict[str, Any] | None = None
    lo, hi = ZH_RATE if language == "zh-CN" else EN_RATE
    for i, seg in enumerate(segments):
        where = f"{name}:{i + 2}"
        if set(seg) != {"start", "end", "speaker", "text"}:
            report.add(where, f"segment keys must be start, end, speaker, text (got {sorted(seg)})")
            continue
        if not number_like(seg["start"]) or not number_like(seg["end"]) or seg["start"] < 0:
            report.add(where, "start/end must be non-negative numbers")
            continue
        if seg["end"] <= seg["start"]:
            report.add(where, "end must be after start")
        if seg["speaker"] not in ("agent", "customer"):
            report.add(where, f"speaker {seg['speaker']!r} must be agent or customer")
        if not isinstance(seg["text"], str) or not seg["text"].strip():
            report.add(where, "text must be a non-empty string")
            continue
        if prev is not None:
            if seg["start"] <= prev["start"]:
                report.add(where, "start must increase")
            if seg["start"] < prev["end"] - MAX_OVERLAP:
                report.add(where, f"overlaps the previous segment by more than {MAX_OVERLAP}s")
        duration = seg["end"] - seg["start"]
        rate = speech_units(seg["text"], language) / duration if duration > 0 else 0.0
        # one- or two-syllable backchannels (嗯, 行, "yes") have no meaningful rate
        if duration > 0 and speech_units(seg["text"], language) > 2 and not lo <= rate <= hi:
            report.add(where, f"speech rate {rate:.1f}/s outside {lo}-{hi}")
        prev = seg
    speakers = {s.get("speaker") for s in segments}
    if speakers != {"agent", "customer"}:
        report.add(name, "a call needs both an agent and a customer")


def check_expect(
    expect: dict[str, Any],
    language: str,
    account: dict[str, Any],
    local: datetime,
    started: datetime,
    zones: tuple[str, ...],
    history: list[tuple[datetime, bool]],
    segments: list[dict[str, Any]],
    where: str,
    report: Report,
) -> None:
    missing = EXPECT_KEYS - {"temperament"} - set(expect)
    extra = set(expect) - EXPECT_KEYS
    if missing or extra:
        report.add(where, f"expect keys: missing {sorted(missing)}, unexpected {sorted(extra)}")
        return
    # disclosures
    wanted = DISCLOSURES_ZH if language == "zh-CN" else DISCLOSURES_EN
    disc = expect["disclosures"]
    if not isinstance(disc, dict) or set(disc) != set(wanted) or not all(isinstance(v, bool) for v in disc.values()):
        report.add(where, f"disclosures must map exactly {list(wanted)} to booleans")
    # violations
    seen: set[tuple[str, int]] = set()
    order: list[tuple[int, str]] = []
    for v in expect["violations"]:
        if not isinstance(v, dict) or set(v) != {"kind", "segment"}:
            report.add(where, f"violation {v!r} must be {{kind, segment}}")
            continue
        kind, idx = v["kind"], v["segment"]
        if kind not in VIOLATION_KINDS:
            report.add(where, f"unknown violation kind {kind!r}")
        if not isinstance(idx, int) or not 0 <= idx < len(segments):
            report.add(where, f"violation segment {idx!r} out of range")
            continue
        if segments[idx].get("speaker") != "agent":
            report.add(where, f"violation {kind} points at segment {idx}, which is not the agent's")
        if (kind, idx) in seen:
            report.add(where, f"duplicate violation {kind}@{idx}")
        seen.add((kind, idx))
        order.append((idx, kind))
    if order != sorted(order):
        report.add(where, "violations must be listed in segment order")
    # call time
    ct = expect["call_time"]
    computed = expected_call_time_zones(language, started, zones, history, where, report)
    if ct != computed:
        shown = ", ".join(f"{z} {started.astimezone(ZoneInfo(z)):%Y-%m-%d %H:%M}" for z in zones)
        report.add(where, f"call_time {ct} but the rules give {computed} (local {shown})")
    # temperament
    if "temperament" in expect:
        t = expect["temperament"]
        if (
            not isinstance(t, dict)
            or set(t) != {"label", "angry"}
            or t["label"] not in TEMPERAMENTS
            or not isinstance(t["angry"], bool)
        ):
            report.add(where, f"temperament {t!r} must be {{label: {'|'.join(TEMPERAMENTS)}, angry: bool}}")
    # risks
    risks = expect["risks"]
    if not isinstance(risks, list) or any(r not in RISKS for r in risks) or len(set(risks)) != len(risks):
        report.add(where, f"risks {risks!r} must be distinct kinds among {RISKS}")
        risks = []
    if ("high_risk" in risks) != is_high_risk(account):
        report.add(
            where,
            f"high_risk label disagrees with the threshold (total_due {account['total_due']}, "
            f"overdue_days {account['overdue_days']})",
        )
    # promise
    promise = expect["promise"]
    if promise is not None:
        check_promise(promise, language, account, local, segments, where, report)
    # outcome and flags
    outcome, dispute = expect["outcome"], expect["dispute"]
    if outcome not in OUTCOMES:
        report.add(where, f"unknown outcome {outcome!r}")
    if not isinstance(dispute, bool):
        report.add(where, "dispute must be a boolean")
    check_outcome(outcome, promise, dispute, risks, where, report)
    # new contact numbers
    numbers = expect["new_contact_numbers"]
    customer_digits = [spoken_digits(s["text"], language) for s in segments if s.get("speaker") == "customer"]
    if not isinstance(numbers, list):
        report.add(where, "new_contact_numbers must be a list")
        return
    for n in numbers:
        if not isinstance(n, str) or not re.fullmatch(r"\d{7,15}", n):
            report.add(where, f"new contact number {n!r} must be a string of 7-15 digits")
        elif not any(n in d for d in customer_digits):
            report.add(where, f"new contact number {n} is not said by the customer")
    if len(set(numbers)) != len(numbers):
        report.add(where, "duplicate new contact number")


def check_promise(
    promise: Any,
    language: str,
    account: dict[str, Any],
    local: datetime,
    segments: list[dict[str, Any]],
    where: str,
    report: Report,
) -> None:
    if not isinstance(promise, dict) or set(promise) != {"amount", "date"} or not number_like(promise["amount"]):
        report.add(where, f"promise {promise!r} must be null or {{amount: number, date: YYYY-MM-DD}}")
        return
    try:
        when = date.fromisoformat(promise["date"])
    except (TypeError, ValueError):
        report.add(where, f"promise date {promise['date']!r} is not YYYY-MM-DD")
        return
    if when < local.date():
        report.add(where, f"promise date {when} is before the call ({local.date()})")
    amount = float(promise["amount"])
    if not 0 < amount <= float(account["total_due"]):
        report.add(where, f"promise amount {amount} must be positive and at most total_due")
    if amount != float(account["total_due"]):
        finder = zh_amounts if language == "zh-CN" else en_amounts
        if not any(amount in finder(s["text"]) for s in segments):
            report.add(where, f"promise amount {amount:g} is not spoken anywhere in the call")


def check_outcome(outcome: str, promise: Any, dispute: Any, risks: list[str], where: str, report: Report) -> None:
    """Outcome precedence:
    wrong_party > promise_to_pay > dispute > hardship > refused > callback > no_commitment."""
    if outcome == "wrong_party":
        if promise is not None or dispute:
            report.add(where, "wrong_party calls carry no promise and no dispute")
        return
    if (promise is not None) != (outcome == "promise_to_pay"):
        report.add(where, "outcome promise_to_pay iff a promise was made (right party)")
        return
    if promise is not None:
        return
    if dispute and outcome != "dispute":
        report.add(where, "a dispute without a promise has outcome dispute")
    elif not dispute and outcome == "dispute":
        report.add(where, "outcome dispute needs dispute: true")
    elif not dispute and "hardship" in risks and outcome != "hardship":
        report.add(where, "hardship without promise or dispute has outcome hardship")
    elif outcome == "hardship" and "hardship" not in risks:
        report.add(where, "outcome hardship needs the hardship risk")
    elif outcome == "refused" and "wilful_default" not in risks:
        report.add(where, "an explicit refusal is also the wilful_default risk")


# ---------------------------------------------------------------- corpus coverage


def check_coverage(calls: list[CallInfo], report: Report) -> None:
    by_lang: dict[str, list[CallInfo]] = defaultdict(list)
    for c in calls:
        by_lang[c.language].append(c)
    minimum = {"zh-CN": 26, "en-US": 18}
    for lang in LANGS:
        group = by_lang[lang]
        if len(group) < minimum[lang]:
            report.add("corpus", f"{lang}: {len(group)} calls, need at least {minimum[lang]}")
        numbers = Counter(c.number for c in group)
        dupes = [n for n, k in numbers.items() if k > 1]
        if dupes:
            report.add("corpus", f"{lang}: duplicate call numbers {dupes}")
        kinds = {v["kind"] for c in group for v in c.expect["violations"]}
        for kind in VIOLATION_KINDS:
            if kind not in kinds:
                report.add("corpus", f"{lang}: no call with a {kind} violation")
        if not any(not c.expect["violations"] for c in group):
            report.add("corpus", f"{lang}: no violation-free call")
        wanted = DISCLOSURES_ZH if lang == "zh-CN" else DISCLOSURES_EN
        for key in wanted:
            values = {c.expect["disclosures"][key] for c in group}
            if values != {True, False}:
                report.add("corpus", f"{lang}: disclosure {key} is never {not values.pop()}")
        if not any(not c.expect["call_time"]["allowed"] for c in group):
            report.add("corpus", f"{lang}: no call-time/frequency violation")
        if not any(c.expect["call_time"]["warning"] for c in group):
            report.add("corpus", f"{lang}: no call-time warning")
        outcomes = {c.expect["outcome"] for c in group}
        for o in OUTCOMES:
            if o not in outcomes:
                report.add("corpus", f"{lang}: outcome {o} never occurs")
        labels = {c.expect["temperament"]["label"] for c in group if "temperament" in c.expect}
        for label in TEMPERAMENTS:
            if label not in labels:
                report.add("corpus", f"{lang}: temperament {label} never occurs")
        if not any(c.expect.get("temperament", {}).get("angry") for c in group):
            report.add("corpus", f"{lang}: no angry customer")
        risks = {r for c in group for r in c.expect["risks"]}
        for r in RISKS:
            if r not in risks:
                report.add("corpus", f"{lang}: risk {r} never occurs")
        if not any(c.expect["new_contact_numbers"] for c in group):
            report.add("corpus", f"{lang}: no new contact number")
        if not any(c.expect["dispute"] for c in group):
            report.add("corpus", f"{lang}: no dispute")


def corpus_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.jsonl") if not p.name.startswith("dev-"))


def main(argv: list[str]) -> int:
    dirs: list[Path] = []
    files: list[str] = []
    args = iter(argv)
    for a in args:
        if a == "--dir" or a.startswith("--dir="):
            value = a.split("=", 1)[1] if "=" in a else next(args, None)
            if not value:
                print("--dir needs a folder")
                return 2
            dirs.append(Path(value))
        else:
            files.append(a)
    report = Report()
    if not argv:
        groups = [corpus_files(HERE)]
    elif dirs:
        groups = [corpus_files(d) for d in dirs]
        for d, group in zip(dirs, groups, strict=True):
            if not group:
                report.add(str(d), "no call files")
        if files:
            groups.append([Path(a) for a in files])
    else:
        groups = [[Path(a) for a in files]]
    paths = [p for group in groups for p in group]
    calls: list[CallInfo] = []
    for i, group in enumerate(groups):
        group_calls = [c for p in group if (c := check_file(p, report)) is not None]
        calls += group_calls
        if not argv or i < len(dirs):
            check_coverage(group_calls, report)
    for err in report.errors:
        print(err)
    langs = Counter(c.language for c in calls)
    summary = ", ".join(f"{lang} {langs[lang]}" for lang in LANGS)
    if report.errors:
        print(f"FAILED: {len(report.errors)} problem(s) in {len(paths)} file(s) ({summary})")
        return 1
    print(f"OK: {len(calls)} calls ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
