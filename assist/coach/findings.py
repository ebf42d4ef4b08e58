"""End-of-call findings: what the coach concluded about one call (the CRM summary is built from this).

The schema is documented in docs/coach.md.  `segment` in a violation is the 0-based number of the
final segment in the call (in replay: the segment's line in the file, not counting the header line).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

ViolationKind = Literal["threat", "abuse", "misleading", "third_party_disclosure", "payment_channel"]
RiskKind = Literal["wilful_default", "high_risk", "hardship"]
TemperamentLabel = Literal["dominant", "sensitive", "procrastinating", "neutral"]
Outcome = Literal["promise_to_pay", "refused", "dispute", "hardship", "wrong_party", "callback", "no_commitment"]
Willingness = Literal["high", "medium", "low", "unknown"]

DISCLOSURE_KEYS = (
    "identity",
    "purpose",
    "recording_notice",
    "amount_breakdown",
    "deadline",
    "credit_consequence",
    "legal_consequence",
    "debt_collector_statement",
)


class DisclosureState(BaseModel):
    done: bool = False
    at: float | None = Field(None, description="call-relative seconds when the item was said")
    label: str = ""
    rule: str | None = None
    segment_id: str | None = None


class Violation(BaseModel):
    kind: ViolationKind
    segment: int = Field(description="0-based number of the final segment in the call")
    segment_id: str
    quote: str
    rule: str
    source: str | None = None
    severity: str = "critical"
    check: str = Field("", description="the playbook check that fired (violation id)")
    at: float = 0.0


class CallTimeFinding(BaseModel):
    allowed: bool = True
    warning: bool = False
    reason: str = ""
    rules: list[str] = Field(default_factory=list)
    remaining: str = ""
    next_allowed_at: datetime | None = None
    local_time: str = ""


class TemperamentFinding(BaseModel):
    label: TemperamentLabel = "neutral"
    confidence: float = 0.0
    angry: bool = Field(False, description="the customer was angry at some point of the call")
    anger_level: float = Field(0.0, description="highest anger level reached, 0-1")
    changes: list[dict[str, object]] = Field(default_factory=list)


class RiskFinding(BaseModel):
    kind: RiskKind
    detail: str
    rule: str | None = None
    action: str = ""
    at: float | None = None
    segment_id: str | None = None


class PromiseFinding(BaseModel):
    amount: float
    date: str = Field(description="YYYY-MM-DD in the debtor's time zone")
    quote: str = ""
    segment_ids: list[str] = Field(default_factory=list)
    at: float = 0.0
    confirmed_by_agent: bool = False


class Findings(BaseModel):
    call_id: str
    language: str
    account_id: str | None = None
    disclosures: dict[str, DisclosureState] = Field(default_factory=dict)
    violations: list[Violation] = Field(default_factory=list)
    call_time: CallTimeFinding = Field(default_factory=CallTimeFinding)
    temperament: TemperamentFinding = Field(default_factory=TemperamentFinding)
    risks: list[RiskFinding] = Field(default_factory=list)
    promise: PromiseFinding | None = Field(
        None, description="the last concrete commitment to the next payment (amount and date)"
    )
    promises: list[PromiseFinding] = Field(default_factory=list)
    outcome: Outcome = "no_commitment"
    dispute: bool = False
    dispute_detail: str | None = None
    new_contact_numbers: list[str] = Field(default_factory=list)
    economic_situation: str | None = None
    willingness: Willingness = "unknown"
    flags: list[str] = Field(default_factory=list, description="customer flags raised (callback, attorney…)")
    plan_offered: bool = False
    redactions: int = Field(0, description="ID/card numbers masked in the transcript")
    segments: int = 0
    duration: float = 0.0

    def public(self) -> dict[str, object]:
        """The JSON shape of `assist replay --json` findings."""
        d = self.model_dump(mode="json")
        d["disclosures"] = {k: {"done": v["done"], "at": v["at"]} for k, v in d["disclosures"].items()}
        d["violations"] = [
            {k: v[k] for k in ("kind", "segment", "quote", "rule", "severity", "source")} for v in d["violations"]
        ]
        d["risks"] = [{k: r[k] for k in ("kind", "detail", "rule", "action")} for r in d["risks"]]
        if d["promise"] is not None:
            d["promise"] = {
                "amount": d["promise"]["amount"],
                "date": d["promise"]["date"],
                "quote": d["promise"]["quote"],
            }
        return d
