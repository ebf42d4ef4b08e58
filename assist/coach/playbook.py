"""Playbooks: the per-language YAML that holds every phrase, rule, threshold and guidance text.

`load_playbook(language)` returns the compiled playbook for a call language (cached).  The YAML is
validated strictly (unknown keys, unknown rule ids, rules without a source and bad patterns are
errors that name the place), so a call centre can edit wording and thresholds without touching code.
The format is documented in docs/playbooks.md.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from assist import logs
from assist.coach.match import Matcher, PatternError, PhraseSet
from assist.events import Audience, Severity

log = logs.get(__name__)

PLAYBOOK_DIR = Path(__file__).parent / "playbooks"
DEFAULT_LANGUAGE = "zh-CN"
ViolationKind = Literal["threat", "abuse", "misleading", "third_party_disclosure", "payment_channel"]
TemperamentLabel = Literal["dominant", "sensitive", "procrastinating", "neutral"]


class PlaybookError(ValueError):
    """The playbook file is missing or invalid; the message says where."""


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Rule(_M):
    title: str
    source: str
    severity: Severity = "high"

    @field_validator("source")
    @classmethod
    def _has_source(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("every rule must name its source clause")
        return v


class Settings(_M):
    repeat_interval: float = Field(60.0, description="seconds before the same prompt may be shown again")
    card_repeat_interval: float = Field(30.0, description="seconds between account-card re-surfacings")
    partial_checks: bool = Field(True, description="run compliance checks on partial segments too")
    evidence_chars: int = Field(80, description="longest quote kept as evidence")


class Matching(_M):
    default_gap: int = 6
    fuzzy_pinyin: bool = False
    synonyms: dict[str, str] = Field(default_factory=dict)
    negators: list[str] = Field(default_factory=list)
    fillers: list[str] = Field(default_factory=list)
    max_fillers: int = 4
    scope_negators: list[str] = Field(
        default_factory=list, description="negate a violation phrase later in the same clause (没有人 / never / no one)"
    )
    scope_breaks: list[str] = Field(
        default_factory=list, description="words that end a scope negator's reach (如果 / 就 / if / but)"
    )
    scope_max: int = Field(8, description="tokens a scope negator reaches")
    post_negators: list[str] = Field(
        default_factory=list, description="negate a violation phrase right before them (是不可能的 / isn't true)"
    )
    post_max: int = Field(3, description="tokens between a violation phrase and a post negator")
    scope_conditionals: list[str] = Field(
        default_factory=list,
        description="a scope negator right after one "
        "of these negates a condition, not what follows (if you won't pay…)",
    )
    keep_words: list[str] = Field(default_factory=list, description="English words never auto-corrected")
    weak_chars: str = Field("", description="Chinese characters too common to anchor a short phrase")
    literal_max: int = Field(
        2,
        description="Chinese alternatives up to this many characters need one "
        "non-weak character to agree literally, not just in pinyin",
    )
    lexicon: dict[str, list[str]] = Field(default_factory=dict)


class Phrases(_M):
    patterns: list[str] = Field(default_factory=list)
    except_: list[str] = Field(default_factory=list, alias="except")
    negate: bool = True


class DisclosureItem(_M):
    key: str
    label: str
    rule: str
    due: float | None = Field(None, description="seconds into the call after which a missing item is reminded")
    patterns: list[str] = Field(default_factory=list)
    all_of: list[list[str]] = Field(default_factory=list)
    except_: list[str] = Field(default_factory=list, alias="except")
    negate: bool = True
    needs_date: bool = Field(
        False,
        description="counts only in a segment that names a date (today or later); "
        "a hit or an amount in that segment is enough",
    )
    figures: bool = Field(False, description="each all_of group counts only with an amount next to it")
    skip_if: list[ViolationKind] = Field(
        default_factory=list,
        description="not ticked by a segment that is a "
        "violation of these kinds (a false identity, an exaggerated consequence)",
    )


class Disclosures(_M):
    items: list[DisclosureItem]
    closing: list[str] = Field(default_factory=list)
    reminder_text: str
    closing_text: str
    ticked_text: str = ""
    severity: Severity = "medium"


class ViolationSpec(_M):
    id: str
    kind: ViolationKind
    rule: str
    severity: Severity = "critical"
    patterns: list[str]
    except_: list[str] = Field(default_factory=list, alias="except")
    negate: bool = True
    partial: bool = True
    yield_to: list[ViolationKind] = Field(
        default_factory=list, description="skip when the segment already has a violation of these kinds"
    )
    text: str


class ThirdParty(_M):
    rule: str
    severity: Severity = "critical"
    debt_terms: list[str]
    debtor_refs: list[str] = Field(
        default_factory=list,
        description="words referring to the debtor (他/he); "
        "a disclosure must be about the debtor (the account name counts too)",
    )
    self_intro: list[str] = Field(
        default_factory=list,
        description="how someone says who they are (this is / 我是): followed by the account holder's name, the "
        "debtor is on the line",
    )
    own_name: list[str] = Field(
        default_factory=list,
        description="the agent introducing their own company (我这边是小鹿借款的): a debt word inside it is the "
        "company's name, not a disclosure",
    )
    text: str


class Overdemand(_M):
    """An amount above the total due: stated as the balance (misleading) or demanded (payment_channel)."""

    rule: str
    severity: Severity = "critical"
    tolerance: float = 0.01
    demand: list[str]
    text: str
    statement: list[str] = Field(default_factory=list, description="words that state a balance (欠/一共/balance)")
    statement_kind: ViolationKind = "misleading"
    statement_rule: str | None = None
    statement_text: str = ""
    window: int = Field(8, description="tokens between the words and the amount")


class Payment(_M):
    designated_channels: list[str]
    violations: list[ViolationSpec]
    overdemand: Overdemand


class CallTime(_M):
    start: time
    end: time
    warning_start: time
    rule: str
    warning_rule: str
    blocked_text: str
    warning_text: str
    ok_text: str
    inbound_text: str
    unknown_zones: list[str] = Field(
        default_factory=list,
        description="where the debtor may be when the account has no time zone (default: the playbook's zone)",
    )
    area_codes: bool = Field(False, description="read US area codes of the account phone as zone evidence")

    @field_validator("unknown_zones")
    @classmethod
    def _zones(cls, v: list[str]) -> list[str]:
        for z in v:
            try:
                ZoneInfo(z)
            except (ZoneInfoNotFoundError, ValueError) as e:
                raise ValueError(f"unknown time zone {z!r}") from e
        return v


class Frequency(_M):
    max_connected_per_day: int | None = None
    connected_rule: str | None = None
    connected_text: str = ""
    max_attempts: int | None = None
    attempts_window_days: int = 7
    attempts_rule: str | None = None
    attempts_text: str = ""
    quiet_days_after_conversation: int | None = None
    conversation_rule: str | None = None
    conversation_text: str = ""
    budget_text: str = ""


class TypeSpec(_M):
    label: str
    cues: list[str] = Field(default_factory=list)
    weight: float = 1.0
    guidance: str
    say: list[str] = Field(default_factory=list)
    avoid: str = ""


class Anger(_M):
    label: str
    cues: list[str]
    weight: float = 0.45
    enter: float = 0.6
    exit: float = 0.3
    guidance: str
    say: list[str] = Field(default_factory=list)
    avoid: str = ""


class Temperament(_M):
    overall_min_score: float = Field(1.5, description="evidence over the whole call needed for a call label")
    overall_min_share: float = Field(0.45, description="share of all type evidence the call label must have")
    held_min_utterances: int = Field(
        2,
        description="customer utterances a live label must have been shown to "
        "become the call label when the whole-call evidence is mixed",
    )
    held_min_score: float = Field(1.2, description="whole-call evidence such a held label needs")
    hardship_discount: dict[str, float] = Field(
        default_factory=dict, description="weight of a type's evidence once hardship is known (没钱 is then real)"
    )
    baseline_seconds: float = 30.0
    hysteresis: int = 2
    min_score: float = 0.9
    min_confidence: float = 0.45
    decay: float = 0.85
    anger_decay: float = 0.8
    loud_db: float = 6.0
    quiet_db: float = -6.0
    fast_ratio: float = 1.35
    slow_ratio: float = 0.65
    interrupt_overlap: float = 0.3
    long_pause: float = 3.0
    long_turn: float = 12.0
    signals: dict[str, dict[str, float]] = Field(default_factory=dict)
    anger: Anger
    types: dict[TemperamentLabel, TypeSpec]
    text: str


class RiskSpec(_M):
    rule: str
    severity: Severity = "high"
    audience: Audience = "both"
    patterns: list[str] = Field(default_factory=list)
    except_: list[str] = Field(default_factory=list, alias="except")
    text: str
    action: str


class HighRisk(_M):
    rule: str
    severity: Severity = "high"
    audience: Audience = "supervisor"
    min_total_due: float | None = None
    min_overdue_days: int | None = None
    text: str
    action: str


class Category(_M):
    label: str
    patterns: list[str]
    except_: list[str] = Field(default_factory=list, alias="except")


class Hardship(_M):
    rule: str
    severity: Severity = "high"
    audience: Audience = "both"
    categories: dict[str, Category]
    text: str
    action: str


class Risk(_M):
    wilful_default: RiskSpec
    high_risk: HighRisk
    hardship: Hardship


class Plans(_M):
    instalments: list[int] = Field(default_factory=lambda: [3, 6, 12])
    first_payment_days: int = 7
    min_instalment: float = 100.0
    interval: Literal["month", "week"] = "month"
    request: list[str] = Field(default_factory=list)
    text: str = ""
    option_text: str = ""


class Promise(_M):
    commit: list[str]
    refuse: list[str] = Field(default_factory=list)
    hedge: list[str] = Field(default_factory=list)
    past: list[str] = Field(default_factory=list)
    affirm: list[str] = Field(default_factory=list)
    offer: list[str] = Field(default_factory=list)
    ask: list[str] = Field(default_factory=list)
    full_amount: list[str] = Field(default_factory=list)
    amount_lead: list[str] = Field(
        default_factory=list, description="a verb right before an amount makes a commitment (还一万 / pay 500)"
    )
    owed: list[str] = Field(default_factory=list, description="words before an amount that is owed, not promised")
    correction: list[str] = Field(
        default_factory=list,
        description="self-correction cues (不对 / actually): "
        "the figures after the last one win, and a revision replaces the promise",
    )
    further: list[str] = Field(
        default_factory=list,
        description="later instalments (剩下的 / the rest): listed, but the promise stays the next payment",
    )
    approximate: list[str] = Field(
        default_factory=list,
        description="words right after an amount that make it approximate (两千出头, 一千多, 'or so'): not a figure to "
        "promise",
    )
    date_negators: list[str] = Field(
        default_factory=list,
        description="words next to a date, in its clause, that rule it out as the payment day (今天真的没有, "
        "今天别再打了, 'not today')",
    )
    short_reply: int = Field(16, description="longest reply (characters zh / words×4 en) read as a bare answer")
    window: int = Field(3, description="customer utterances over which amount and date may be combined")
    next_weekday: Literal["following_week", "coming"] = "following_week"
    text: str
    partial_text: str = ""
    readback_text: str = Field("", description="reminder when the agent's next turn does not read the promise back")
    confirmed_text: str = Field(
        "",
        description="the card when the agent already said the amount and date (an "
        "accepted offer): no read-back request",
    )


class Flag(_M):
    id: str
    patterns: list[str]
    except_: list[str] = Field(default_factory=list, alias="except")
    negate: bool = True
    rule: str | None = None
    severity: Severity = "info"
    audience: Audience = "agent"
    text: str = ""
    speaker: Literal["customer", "agent"] = "customer"


class Sensitive(_M):
    rule: str
    severity: Severity = "high"
    keywords: list[str] = Field(default_factory=list)
    min_digits: int = 15
    keyword_min_digits: int = 8
    ssn: bool = False
    keep_last: int = 4
    mask_char: str = "*"
    text: str


class AccountCard(_M):
    text: str
    triggers: list[str] = Field(default_factory=list)
    stage_names: dict[str, str] = Field(default_factory=dict)


class Outcomes(_M):
    labels: dict[str, str] = Field(default_factory=dict)
    willingness: dict[str, str] = Field(default_factory=dict)
    summary_text: str = ""


class Playbook(_M):
    """One language's playbook, as read from YAML."""

    language: str
    name: str
    version: int = 1
    timezone: str
    currency: str
    settings: Settings = Field(default_factory=Settings)
    matching: Matching
    rules: dict[str, Rule]
    account_card: AccountCard
    disclosures: Disclosures
    violations: list[ViolationSpec]
    third_party: ThirdParty
    payment: Payment
    call_time: CallTime
    frequency: Frequency
    temperament: Temperament
    risk: Risk
    promise: Promise
    plans: Plans = Field(default_factory=Plans)
    flags: list[Flag] = Field(default_factory=list)
    sensitive: Sensitive
    economic: dict[str, Category] = Field(default_factory=dict)
    new_number: list[str] = Field(default_factory=list, description="context words before a new phone number")
    not_phone: list[str] = Field(
        default_factory=list,
        description="context words before numbers that are not phone numbers (report, confirmation, account numbers)",
    )
    outcomes: Outcomes = Field(default_factory=Outcomes)
    texts: dict[str, str] = Field(default_factory=dict, description="other prompt texts, by name")

    _matcher: Matcher | None = PrivateAttr(None)
    _phrases: dict[str, PhraseSet] = PrivateAttr(default_factory=dict)
    _path: Path | None = PrivateAttr(None)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown time zone {v!r}") from e
        return v

    # -------------------------------------------------------------- compiled access

    @property
    def matcher(self) -> Matcher:
        m = (self.__pydantic_private__ or {}).get("_matcher")  # direct: pydantic's __getattr__ is slow
        if m is None:
            self.compile()
            m = (self.__pydantic_private__ or {})["_matcher"]
        return m

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_chinese(self) -> bool:
        return self.language.lower().startswith("zh")

    def phrases(self, key: str) -> PhraseSet:
        """The compiled phrase set registered under `key` (e.g. "violation:threat_violence")."""
        table = (self.__pydantic_private__ or {}).get("_phrases")
        if not table:
            self.compile()
            table = (self.__pydantic_private__ or {})["_phrases"]
        try:
            return table[key]
        except KeyError:
            raise KeyError(f"playbook {self.language}: no phrase set {key!r}") from None

    def rule(self, rule_id: str | None) -> Rule | None:
        return self.rules.get(rule_id) if rule_id else None

    def text(self, template: str, **fields: Any) -> str:
        """Fill a text template; unknown fields stay as written."""
        return string.Formatter().vformat(template, (), _Default(fields))

    def _all_pattern_sets(self) -> list[tuple[str, Sequence[str], Sequence[str], bool]]:
        sets: list[tuple[str, Sequence[str], Sequence[str], bool]] = []
        add = sets.append
        add(("card:triggers", self.account_card.triggers, (), True))
        for item in self.disclosures.items:
            add((f"disclosure:{item.key}", item.patterns, item.except_, item.negate))
            for i, group in enumerate(item.all_of):
                add((f"disclosure:{item.key}:{i}", group, (), item.negate))
        add(("disclosure:closing", self.disclosures.closing, (), True))
        for v in [*self.violations, *self.payment.violations]:
            add((f"violation:{v.id}", v.patterns, v.except_, v.negate))
        add(("third_party:debt_terms", self.third_party.debt_terms, (), False))
        add(("third_party:debtor_refs", self.third_party.debtor_refs, (), False))
        add(("third_party:own_name", self.third_party.own_name, (), False))
        add(("payment:designated", self.payment.designated_channels, (), False))
        add(("payment:demand", self.payment.overdemand.demand, (), True))
        for t, spec in self.temperament.types.items():
            add((f"temperament:{t}", spec.cues, (), True))
        add(("temperament:anger", self.temperament.anger.cues, (), True))
        add(("risk:wilful_default", self.risk.wilful_default.patterns, self.risk.wilful_default.except_, True))
        for c, cat in self.risk.hardship.categories.items():
            add((f"risk:hardship:{c}", cat.patterns, cat.except_, True))
        p = self.promise
        add(("promise:commit", p.commit, (), True))
        add(("promise:refuse", p.refuse, (), False))
        add(("promise:hedge", p.hedge, (), False))
        add(("promise:past", p.past, (), True))
        add(("promise:affirm", p.affirm, (), True))
        add(("promise:offer", p.offer, (), False))
        add(("promise:ask", p.ask, (), False))
        add(("promise:full_amount", p.full_amount, (), True))
        add(("promise:amount_lead", p.amount_lead, (), True))
        add(("promise:owed", p.owed, (), False))
        add(("promise:correction", p.correction, (), False))
        add(("promise:further", p.further, (), False))
        for c, cat in self.economic.items():
            add((f"economic:{c}", cat.patterns, (), True))
        add(("new_number", self.new_number, (), False))
        add(("not_phone", self.not_phone, (), False))
        add(("payment:statement", self.payment.overdemand.statement, (), True))
        add(("plans:request", self.plans.request, (), True))
        for f in self.flags:
            add((f"flag:{f.id}", f.patterns, f.except_, f.negate))
        add(("sensitive:keywords", self.sensitive.keywords, (), False))
        return sets

    def compile(self) -> Playbook:
        """Check cross-references and compile every pattern; raises PlaybookError naming the place."""
        where = f"playbook {self.language}"
        for ref, place in self._rule_refs():
            if ref not in self.rules:
                raise PlaybookError(f"{where}: {place} names rule {ref!r}, which is not in `rules`")
        ids = [v.id for v in [*self.violations, *self.payment.violations]]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise PlaybookError(f"{where}: violation ids must be unique, repeated: {sorted(dup)}")
        sets = self._all_pattern_sets()
        m = self.matching
        try:
            matcher = Matcher(
                self.language,
                m.lexicon,
                default_gap=m.default_gap,
                negators=m.negators,
                fillers=m.fillers,
                synonyms=m.synonyms,
                fuzzy_pinyin=m.fuzzy_pinyin,
                keep_words=m.keep_words,
                vocabulary_patterns=[p for _, pats, exc, _ in sets for p in [*pats, *exc]]
                + [*m.scope_negators, *m.scope_breaks, *m.post_negators, *m.scope_conditionals],
                weak_chars=m.weak_chars,
                literal_max=m.literal_max,
            )
            matcher.negation.max_fillers = m.max_fillers
            matcher.negation.configure_scope(
                m.scope_negators,
                m.scope_breaks,
                m.post_negators,
                matcher.norm,
                m.scope_max,
                m.post_max,
                m.scope_conditionals,
            )
            phrases = {
                key: matcher.compile(
                    pats,
                    exceptions=exc,
                    negate=neg,
                    where=f"{where} {key}",
                    gap_negation=key.startswith("violation:"),
                    scope=key.startswith("violation:"),
                )
                for key, pats, exc, neg in sets
            }
        except PatternError as e:
            raise PlaybookError(str(e)) from None
        self._matcher = matcher
        self._phrases = phrases
        return self

    def _rule_refs(self) -> list[tuple[str, str]]:
        refs: list[tuple[str, str]] = []
        for item in self.disclosures.items:
            refs.append((item.rule, f"disclosure {item.key}"))
        for v in [*self.violations, *self.payment.violations]:
            refs.append((v.rule, f"violation {v.id}"))
        if self.payment.overdemand.statement_rule:
            refs.append((self.payment.overdemand.statement_rule, "payment.overdemand.statement_rule"))
        refs += [
            (self.third_party.rule, "third_party"),
            (self.payment.overdemand.rule, "payment.overdemand"),
            (self.call_time.rule, "call_time.rule"),
            (self.call_time.warning_rule, "call_time.warning_rule"),
            (self.risk.wilful_default.rule, "risk.wilful_default"),
            (self.risk.high_risk.rule, "risk.high_risk"),
            (self.risk.hardship.rule, "risk.hardship"),
            (self.sensitive.rule, "sensitive"),
        ]
        f = self.frequency
        for r, place in (
            (f.connected_rule, "frequency.connected_rule"),
            (f.attempts_rule, "frequency.attempts_rule"),
            (f.conversation_rule, "frequency.conversation_rule"),
        ):
            if r:
                refs.append((r, place))
        for flag in self.flags:
            if flag.rule:
                refs.append((flag.rule, f"flag {flag.id}"))
        return refs


class _Default(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


# ------------------------------------------------------------------ loading


def _canonical(language: str) -> str:
    lang = (language or "").strip().replace("_", "-")
    low = lang.lower()
    if low.startswith("zh") or low.startswith("cmn"):
        return "zh-CN"
    if low.startswith("en"):
        return "en-US"
    return lang


def read_playbook(path: Path | str) -> Playbook:
    """Read, validate and compile one playbook file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlaybookError(f"playbook file {path} does not exist") from None
    except yaml.YAMLError as e:
        raise PlaybookError(f"playbook {path}: not valid YAML: {e}") from None
    if not isinstance(raw, Mapping):
        raise PlaybookError(f"playbook {path}: the top level must be a mapping")
    try:
        pb = Playbook.model_validate(raw)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors()[:8])
        raise PlaybookError(f"playbook {path}: {problems}") from None
    pb._path = path
    try:
        return pb.compile()
    except PlaybookError as e:
        raise PlaybookError(f"{path}: {e}") from None


def available_languages(directory: Path | None = None) -> list[str]:
    d = directory or PLAYBOOK_DIR
    return sorted(p.stem for p in d.glob("*.yaml"))


@lru_cache(maxsize=32)
def _load(language: str, directory: str) -> Playbook:
    return read_playbook(Path(directory) / f"{language}.yaml")


# Extra playbooks from the service's setting `playbook_dir` (ASSIST_PLAYBOOK_DIR), set by create_app:
# searched before the packaged ones when load_playbook is given no directory.
_extra_dir: Path | None = None


def use_playbook_dir(directory: Path | str | None) -> None:
    """Search `directory` first for every later `load_playbook(language)` (None: the packaged playbooks only)."""
    global _extra_dir
    _extra_dir = Path(directory) if directory else None


def load_playbook(language: str, directory: Path | str | None = None) -> Playbook:
    """The compiled playbook for a call language (cached).

    `zh`, `zh-cn`, `cmn-Hans-CN` resolve to zh-CN and `en`, `en-GB` to en-US.  A language without a
    playbook falls back to DEFAULT_LANGUAGE (zh-CN) and logs `playbook_fallback`.  `directory` (or the
    packaged assist/coach/playbooks) is searched for `<language>.yaml`; without `directory`, the one
    set by `use_playbook_dir` (ASSIST_PLAYBOOK_DIR) is searched before the packaged one.
    """
    lang = _canonical(language)
    valid = re.fullmatch(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*", lang) is not None
    if directory is None and _extra_dir is not None and valid and (_extra_dir / f"{lang}.yaml").is_file():
        directory = _extra_dir
    d = Path(directory) if directory else PLAYBOOK_DIR
    if not valid or not (d / f"{lang}.yaml").is_file():
        log.warning("playbook_fallback", requested=language, using=DEFAULT_LANGUAGE, available=available_languages(d))
        lang = DEFAULT_LANGUAGE
    return _load(lang, str(d.resolve()))
