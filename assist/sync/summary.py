"""The post-call summary: a pydantic model built at call end from the call row and the coach's findings,
with the agent's sidebar edits merged in, and a short narrative rendered from templates (narrative.yaml).

`build_summary()` assembles and validates; `apply_edits()` returns the next version.  Anything that does
not validate raises `SummaryError`, whose message names every field that was wrong.
"""

from __future__ import annotations

import functools
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from assist.events import utcnow

Outcome = Literal["promise_to_pay", "refused", "dispute", "hardship", "wrong_party", "callback", "no_commitment"]
OUTCOMES: tuple[str, ...] = Outcome.__args__  # type: ignore[attr-defined]
Language = Literal["zh-CN", "en-US"]

#: fields the agent may change from the sidebar; compliance, timing and identity are not editable
EDITABLE_FIELDS = frozenset(
    {
        "outcome",
        "willingness",
        "economic_situation",
        "contact_changes",
        "dispute",
        "promise",
        "proposed_plan",
        "risk_flags",
        "customer_flags",
        "temperament",
        "narrative",
        "agent_notes",
    }
)

_OUTCOME_ALIASES = {
    "ptp": "promise_to_pay",
    "promise": "promise_to_pay",
    "none": "no_commitment",
    "third_party": "wrong_party",
    "refusal": "refused",
}


class SummaryError(ValueError):
    """A summary (or an edit of one) did not validate; `problems` lists 'field: what is wrong'."""

    def __init__(self, problems: list[str], what: str = "summary") -> None:
        self.problems = problems
        super().__init__(f"invalid {what}: " + "; ".join(problems))


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Promise(_Part):
    amount: float = Field(gt=0, description="promised amount, in the account's currency")
    date: date
    currency: str | None = Field(None, max_length=8)
    quote: str | None = Field(None, max_length=1000, description="what the customer said")

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, v: Any) -> Any:
        if isinstance(v, str):
            return v.replace(",", "").strip()
        return v

    @field_validator("amount")
    @classmethod
    def _cents(cls, v: float) -> float:
        return round(v, 2)


class ProposedPlan(_Part):
    instalments: int | None = Field(None, ge=1, le=120)
    amount_each: float | None = Field(None, gt=0)
    first_date: date | None = None
    note: str | None = Field(None, max_length=1000)
    offered: bool = Field(True, description="the agent put this plan to the customer")


class ContactChanges(_Part):
    new_numbers: list[str] = Field(default_factory=list)

    @field_validator("new_numbers")
    @classmethod
    def _numbers(cls, v: list[str]) -> list[str]:
        for n in v:
            digits = [c for c in n if c.isdigit()]
            if not 5 <= len(digits) <= 20 or any(not (c.isdigit() or c in "+-() ") for c in n):
                raise ValueError(f"{n!r} is not a phone number")
        return list(dict.fromkeys(v))


class Dispute(BaseModel):
    model_config = ConfigDict(extra="allow")  # keep whatever detail the coach found

    raised: bool = True
    kind: str | None = None
    detail: str | None = Field(None, max_length=2000)


class RiskFlag(_Part):
    kind: str = Field(min_length=1, max_length=64)
    detail: str | None = Field(None, max_length=1000)
    rule: str | None = None
    action: str | None = Field(None, max_length=1000)


class Temperament(_Part):
    label: str = Field(min_length=1, max_length=32)
    confidence: float | None = Field(None, ge=0, le=1)
    angry: bool = False


class Disclosure(_Part):
    key: str
    label: str | None = None
    done: bool
    at: float | None = Field(None, description="call-relative seconds when it was said")


class Violation(_Part):
    kind: str
    rule: str | None = None
    quote: str = ""
    segment_id: str | None = None
    at: float | None = Field(None, description="call-relative seconds of the segment")


class CallTime(_Part):
    allowed: bool = True
    warning: bool = False
    reason: str | None = None


class Compliance(_Part):
    disclosures: list[Disclosure] = Field(default_factory=list)
    disclosures_made: list[str] = Field(default_factory=list)
    disclosures_missing: list[str] = Field(default_factory=list)
    violations: list[Violation] = Field(default_factory=list)
    call_time: CallTime | None = None
    passed: bool = True
    transcribed: bool = Field(
        True,
        description="false: the call was not transcribed, so disclosures and "
        "wording were not checked (none listed as missing)",
    )


def _summary_language(call_language: Any, playbook_language: Any) -> str:
    for lang in (call_language, playbook_language):
        if isinstance(lang, str) and lang.lower()[:2] in ("zh", "en"):
            return "zh-CN" if lang.lower().startswith("zh") else "en-US"
    return "zh-CN"


class Summary(BaseModel):
    """One call's summary, as delivered to every CRM target (version 1 at call end, +1 per edit)."""

    model_config = ConfigDict(extra="forbid")

    summary_id: str
    call_id: str
    version: int = Field(1, ge=1)
    language: Language
    account_id: str | None = None
    agent_id: str | None = None
    direction: Literal["inbound", "outbound"] | None = None
    customer_phone: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_seconds: float = Field(0.0, ge=0)
    outcome: Outcome = "no_commitment"
    willingness: str | None = Field(None, max_length=200)
    economic_situation: str | None = Field(None, max_length=2000)
    contact_changes: ContactChanges = Field(default_factory=ContactChanges)
    dispute: Dispute | None = None
    promise: Promise | None = None
    proposed_plan: ProposedPlan | None = None
    risk_flags: list[RiskFlag] = Field(default_factory=list)
    customer_flags: list[str] = Field(default_factory=list, description="callback, attorney, cease…")
    temperament: Temperament | None = None
    compliance: Compliance = Field(default_factory=Compliance)
    narrative: str = Field("", max_length=4000)
    agent_notes: str | None = Field(None, max_length=4000)
    transcript_url: str | None = None
    recording_url: str | None = None
    crm_refs: dict[str, str] = Field(default_factory=dict, description="ids of the call's records in each CRM")
    edited_fields: list[str] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @field_validator("language", mode="before")
    @classmethod
    def _language(cls, v: Any) -> Any:
        if isinstance(v, str):
            low = v.lower()
            if low.startswith("zh") or low == "cmn":
                return "zh-CN"
            if low.startswith("en"):
                return "en-US"
        return v

    @field_validator("outcome", mode="before")
    @classmethod
    def _outcome(cls, v: Any) -> Any:
        if v is None:
            return "no_commitment"
        if isinstance(v, str):
            key = v.strip().lower().replace("-", "_").replace(" ", "_")
            return _OUTCOME_ALIASES.get(key, key)
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Summary:
        if self.outcome == "promise_to_pay" and self.promise is None:
            raise ValueError("outcome promise_to_pay needs a promise with an amount and a date")
        if self.outcome == "dispute" and (self.dispute is None or not self.dispute.raised):
            self.dispute = Dispute(raised=True)
        if not self.narrative:
            self.narrative = render_narrative(self)
        return self

    @property
    def record_key(self) -> str:
        """The key CRM records are upserted on (Salesforce external id, HubSpot unique property)."""
        return self.call_id


# ---------------------------------------------------------------------------------------------- building


def summary_id_for(call_id: str) -> str:
    return f"sum_{call_id}"


def _findings_dict(findings: Any) -> dict[str, Any]:
    if findings is None:
        return {}
    if isinstance(findings, BaseModel):
        return findings.model_dump(mode="json")
    if isinstance(findings, dict):
        return findings
    raise SummaryError([f"findings: expected a dict or a pydantic model, got {type(findings).__name__}"])


def _pick(value: Any, keys: tuple[str, ...]) -> Any:
    """The known keys of a findings object (the coach's may carry more, e.g. segment ids)."""
    if isinstance(value, dict):
        return {k: value[k] for k in keys if value.get(k) not in (None, "")}
    return value


def _dispute(value: Any) -> Any:
    if value is None or value is False:
        return None
    if value is True:
        return {"raised": True}
    if isinstance(value, dict):
        d = dict(value)
        d.setdefault("raised", True)
        if d.get("detail") is None and isinstance(d.get("quote"), str):
            d["detail"] = d["quote"]
        return d
    return value  # let validation say what is wrong


def _compliance(f: dict[str, Any], seg_start: dict[str, float], transcribed: bool = True) -> dict[str, Any]:
    disclosures_raw = f.get("disclosures") or {}
    disclosures: list[Any] = []
    if isinstance(disclosures_raw, dict):
        for key, d in disclosures_raw.items():
            if isinstance(d, dict):
                label = d.get("label") or None
                disclosures.append({"key": key, "done": bool(d.get("done")), "at": d.get("at"), "label": label})
            else:
                disclosures.append({"key": key, "done": bool(d), "at": None})
    else:
        disclosures = disclosures_raw  # wrong shape: validation reports it
    violations: list[Any] = []
    for v in f.get("violations") or []:
        if isinstance(v, dict):
            seg = next((x for x in (v.get("segment_id"), v.get("segment")) if isinstance(x, str)), None)
            at = v.get("at")
            if at is None and seg is not None:
                at = seg_start.get(seg)
            violations.append(
                {
                    "kind": v.get("kind"),
                    "rule": v.get("rule"),
                    "quote": v.get("quote") or "",
                    "segment_id": seg,
                    "at": at,
                }
            )
        else:
            violations.append(v)
    call_time = f.get("call_time")
    if isinstance(call_time, dict):
        call_time = {k: call_time.get(k) for k in ("allowed", "warning", "reason") if call_time.get(k) is not None}
    if not transcribed:  # nothing was heard: no disclosure can be judged made or missed
        disclosures = []
    ok_list = isinstance(disclosures, list) and all(isinstance(d, dict) for d in disclosures)
    made = [d["key"] for d in disclosures if d["done"]] if ok_list else []
    missing = [d["key"] for d in disclosures if not d["done"]] if ok_list else []
    time_ok = not isinstance(call_time, dict) or call_time.get("allowed", True) is not False
    return {
        "disclosures": disclosures,
        "disclosures_made": made,
        "disclosures_missing": missing,
        "violations": violations,
        "call_time": call_time,
        "passed": not violations and not missing and time_ok,
        "transcribed": transcribed,
    }


def build_summary_data(
    call: dict[str, Any],
    findings: Any,
    *,
    segments: list[dict[str, Any]] | None = None,
    public_url: str | None = None,
    recorded: bool = False,
) -> dict[str, Any]:
    """Assemble the summary's fields from a `CallStore.get()` row and the findings, without validating."""
    f = _findings_dict(findings)
    call_id = call["call_id"]
    seg_start = {s["segment_id"]: float(s["start"]) for s in segments or [] if "segment_id" in s}
    meta = call.get("meta") or {}
    duration = call.get("duration")
    if not duration and call.get("started_at") and call.get("ended_at"):
        duration = (
            datetime.fromisoformat(call["ended_at"]) - datetime.fromisoformat(call["started_at"])
        ).total_seconds()
    base = public_url.rstrip("/") if public_url else None
    temperament = f.get("temperament")
    if isinstance(temperament, dict):
        temperament = {
            k: temperament.get(k) for k in ("label", "confidence", "angry") if temperament.get(k) is not None
        }
        label = temperament.get("label")
        if not label or (label == "neutral" and not temperament.get("angry")):
            temperament = None  # nothing worth telling the CRM
    dispute = f.get("dispute")
    if dispute is True and f.get("dispute_detail"):
        dispute = {"raised": True, "detail": f["dispute_detail"]}
    plan = f.get("proposed_plan")
    if plan is None and f.get("plan_offered"):
        plan = {"offered": True}
    willingness = f.get("willingness")
    refs = meta.get("crm_refs")
    crm_refs: dict[str, Any] = refs if isinstance(refs, dict) else {}
    return {
        "summary_id": summary_id_for(call_id),
        "call_id": call_id,
        "version": 1,
        # the narrative is written in the call's language when there are templates for it, else in the
        # language of the playbook that judged the call (the coach falls back the same way)
        "language": _summary_language(call.get("language"), f.get("language")),
        "account_id": call.get("account_id"),
        "agent_id": call.get("agent_id"),
        "direction": call.get("direction"),
        "customer_phone": call.get("customer_phone"),
        "started_at": call.get("started_at"),
        "ended_at": call.get("ended_at"),
        "duration_seconds": max(0.0, float(duration or 0.0)),
        "outcome": f.get("outcome"),
        "willingness": None if willingness in (None, "", "unknown") else willingness,
        "economic_situation": f.get("economic_situation"),
        "contact_changes": {"new_numbers": f.get("new_contact_numbers") or []},
        "dispute": _dispute(dispute),
        "promise": _pick(f.get("promise"), ("amount", "date", "currency", "quote")),
        "proposed_plan": plan,
        "risk_flags": [_pick(r, ("kind", "detail", "rule", "action")) for r in f.get("risks") or []],
        "customer_flags": f.get("flags") or [],
        "temperament": temperament,
        # the stored row says 0/1, a CallStore row False/True; a row without the column was transcribed
        "compliance": _compliance(f, seg_start, transcribed=bool(call.get("transcribed", True) in (None, True, 1))),
        "transcript_url": f"{base}/api/calls/{call_id}/transcript" if base else None,
        "recording_url": f"{base}/api/calls/{call_id}/recording" if base and recorded else None,
        "crm_refs": {str(k): str(v) for k, v in crm_refs.items()},
    }


def _problems(err: ValidationError) -> list[str]:
    out = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "summary"
        got = e.get("input")
        shown = repr(got)[:60] if not isinstance(got, dict) else "{…}"
        out.append(f"{loc}: {e['msg']} (got {shown})")
    return out


def validate_summary(data: dict[str, Any]) -> Summary:
    try:
        return Summary.model_validate(data)
    except ValidationError as err:
        raise SummaryError(_problems(err)) from None


def build_summary(call: dict[str, Any], findings: Any, **kw: Any) -> Summary:
    """Build and validate version 1 of a call's summary; raises SummaryError naming each bad field."""
    return validate_summary(build_summary_data(call, findings, **kw))


def apply_edits(summary: Summary, edits: dict[str, Any], at: datetime | None = None) -> Summary:
    """Merge the agent's field edits into the next version.  The narrative is re-rendered from the
    fields unless the agent wrote it themselves."""
    if not isinstance(edits, dict) or not edits:
        raise SummaryError(["edits: expected a non-empty object of field -> value"], "edit")
    bad = sorted(set(edits) - EDITABLE_FIELDS)
    if bad:
        raise SummaryError([f"{k}: not editable (editable: {', '.join(sorted(EDITABLE_FIELDS))})" for k in bad], "edit")
    data = summary.model_dump(mode="json")
    for key, value in edits.items():
        if key == "dispute":
            value = _dispute(value)
        elif key == "contact_changes" and isinstance(value, list):
            value = {"new_numbers": value}
        data[key] = value
    edited = list(dict.fromkeys([*summary.edited_fields, *edits]))
    data["edited_fields"] = edited
    if "narrative" not in edited:
        data["narrative"] = ""
    data["version"] = summary.version + 1
    data["updated_at"] = (at or utcnow()).isoformat()
    try:
        return Summary.model_validate(data)
    except ValidationError as err:
        raise SummaryError(_problems(err), "edit") from None


# ---------------------------------------------------------------------------------------------- narrative


@functools.cache
def _templates() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((Path(__file__).with_name("narrative.yaml")).read_text("utf-8"))
    return loaded


def _money(v: float) -> str:
    return f"{v:,.2f}"


def render_narrative(s: Summary) -> str:
    """A few sentences in the call's language, from the summary's fields."""
    t = _templates()[s.language]
    sep = t["list_sep"]
    out: list[str] = []
    if s.outcome == "promise_to_pay" and s.promise:
        out.append(
            t["outcome"]["promise_to_pay"].format(
                date=s.promise.date.isoformat(),
                amount=_money(s.promise.amount),
                currency=s.promise.currency or t["currency"],
            )
        )
    else:
        out.append(t["outcome"][s.outcome])
    if s.dispute and s.dispute.detail:
        out.append(t["dispute_detail"].format(value=s.dispute.detail))
    if s.willingness:
        out.append(t["willingness"].format(value=t["willingness_labels"].get(s.willingness, s.willingness)))
    if s.economic_situation:
        out.append(t["economic_situation"].format(value=s.economic_situation))
    if s.proposed_plan:
        p, parts = s.proposed_plan, t["plan_parts"]
        bits = []
        if p.instalments:
            bits.append(parts["instalments"].format(n=p.instalments))
        if p.amount_each:
            bits.append(parts["amount_each"].format(amount=_money(p.amount_each), currency=t["currency"]))
        if p.first_date:
            bits.append(parts["first_date"].format(date=p.first_date.isoformat()))
        if p.note:
            bits.append(p.note)
        if bits:
            out.append(t["plan"].format(value=sep.join(bits)))
        elif p.offered:
            out.append(t["plan_offered"])
    if s.contact_changes.new_numbers:
        out.append(t["contacts"].format(count=len(s.contact_changes.new_numbers)))
    if s.risk_flags:
        out.append(t["risks"].format(value=sep.join(r.detail or r.kind for r in s.risk_flags)))
    if s.temperament:
        out.append(t["temperament"].format(value=t["temperament_labels"].get(s.temperament.label, s.temperament.label)))
    c = s.compliance
    if not c.transcribed:
        out.append(t["untranscribed"])
        if c.call_time and not c.call_time.allowed and c.call_time.reason:
            out.append(t["call_time"].format(value=c.call_time.reason))
    elif c.passed:
        out.append(t["compliance_ok"])
    else:
        if c.disclosures_missing:
            labels = {d.key: d.label or d.key for d in c.disclosures}
            out.append(t["missing"].format(value=sep.join(labels.get(k, k) for k in c.disclosures_missing)))
        if c.violations:
            kinds = sep.join(dict.fromkeys(v.rule or v.kind for v in c.violations))
            out.append(t["violations"].format(count=len(c.violations), value=kinds))
        if c.call_time and not c.call_time.allowed and c.call_time.reason:
            out.append(t["call_time"].format(value=c.call_time.reason))
    secs = round(s.duration_seconds)
    out.append(t["duration"].format(minutes=secs // 60, seconds=secs % 60))
    joiner = "" if s.language == "zh-CN" else " "
    return joiner.join(out)[:4000]
