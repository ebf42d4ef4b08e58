"""The summary model: built from the call row + the coach's findings, edited by the agent, narrated."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest
from pydantic import BaseModel

from assist.sync.summary import SummaryError, apply_edits, build_summary, validate_summary
from tests.crm_fakes.harness import FINDINGS, SEGMENTS

CALL: dict[str, Any] = {
    "call_id": "c-42",
    "protocol": "test",
    "agent_id": "agent-7",
    "account_id": "501",
    "language": "zh-CN",
    "customer_phone": "+8613800000000",
    "direction": "outbound",
    "started_at": "2026-11-28T02:00:00+00:00",
    "ended_at": "2026-11-28T02:03:05+00:00",
    "duration": 185.0,
    "meta": {"crm_refs": {"hubspot_contact_id": "501"}},
}


def test_build_from_findings_zh() -> None:
    s = build_summary(CALL, FINDINGS, segments=SEGMENTS, public_url="https://assist.example/", recorded=True)
    assert s.summary_id == "sum_c-42" and s.version == 1 and s.language == "zh-CN"
    assert s.outcome == "promise_to_pay"
    assert s.promise is not None and s.promise.amount == 1500.0 and s.promise.date == date(2026, 12, 5)
    assert s.compliance.disclosures_made == ["identity", "recording_notice"]
    assert s.compliance.disclosures_missing == ["amount_breakdown"]
    v = s.compliance.violations[0]
    assert (v.rule, v.quote, v.segment_id, v.at) == ("CN-ABUSE-01", "你再不还就等着", "seg-a-3", 42.5)
    assert s.compliance.passed is False
    assert s.contact_changes.new_numbers == ["+86 139 0000 1111"]
    assert s.temperament is not None and s.temperament.label == "procrastinating"
    assert s.duration_seconds == 185.0
    assert s.transcript_url == "https://assist.example/api/calls/c-42/transcript"
    assert s.recording_url == "https://assist.example/api/calls/c-42/recording"
    assert s.crm_refs == {"hubspot_contact_id": "501"}
    assert s.dispute is None
    # narrative in Chinese, from the fields
    assert "客户承诺于2026-12-05还款1,500.00元" in s.narrative
    assert "失业三个月" in s.narrative and "拖延" in s.narrative and "欠款构成" in s.narrative
    assert "还款意愿：一般" in s.narrative
    assert s.promise.quote == "五号还一千五" and s.customer_flags == ["callback"]
    assert s.risk_flags[0].rule == "CN-RISK-03" and s.risk_flags[0].action == "报主管"
    assert "通话时长3分5秒" in s.narrative


def test_brief_shape_violation_gets_its_time_from_the_segment() -> None:
    f = {
        "outcome": "refused",
        "violations": [{"kind": "abuse", "segment": "seg-a-3", "quote": "滚", "rule": "R1"}],
        "dispute": True,
        "willingness": "unknown",
        "temperament": {"label": "neutral", "confidence": 0.5},
    }
    s = build_summary(CALL, f, segments=SEGMENTS)
    assert s.compliance.violations[0].at == 42.5 and s.compliance.violations[0].segment_id == "seg-a-3"
    assert s.dispute is not None and s.dispute.raised
    assert s.willingness is None and s.temperament is None
    assert s.narrative.startswith("客户明确拒绝还款。")


def test_build_en_us_and_pydantic_findings() -> None:
    class Findings(BaseModel):
        outcome: str = "hardship"
        economic_situation: str | None = "lost job in March"
        dispute: bool = False
        disclosures: dict[str, Any] = {"mini_miranda": {"done": True, "at": 3.0}}

    call = {**CALL, "language": "en-US", "direction": "inbound"}
    s = build_summary(call, Findings())
    assert s.language == "en-US" and s.outcome == "hardship"
    assert s.narrative.startswith("The customer reported financial hardship.")
    assert "Economic situation: lost job in March." in s.narrative
    assert "Compliance check passed." in s.narrative
    assert s.transcript_url is None


def test_dispute_dict_and_outcome_alias() -> None:
    f = {**FINDINGS, "outcome": "dispute", "promise": None, "dispute": {"kind": "amount", "quote": "我只借了五千"}}
    s = build_summary(CALL, f)
    assert s.outcome == "dispute" and s.dispute is not None
    assert s.dispute.kind == "amount" and s.dispute.detail == "我只借了五千"
    assert "异议内容：我只借了五千" in s.narrative
    assert build_summary(CALL, {"outcome": "PTP", "promise": {"amount": "2,000", "date": "2026-12-01"}}).outcome == (
        "promise_to_pay"
    )


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"outcome": "maybe_later"}, "outcome"),
        ({"promise": None}, "promise_to_pay needs a promise"),
        ({"promise": {"amount": -5, "date": "2026-12-05"}}, "promise.amount"),
        ({"promise": {"amount": 100, "date": "next week"}}, "promise.date"),
        ({"new_contact_numbers": ["call me maybe"]}, "not a phone number"),
        ({"violations": "lots"}, "compliance.violations"),
        ({"risks": [{"kind": "", "detail": "x"}]}, "risk_flags.0.kind"),
        ({"temperament": {"label": "calm", "confidence": 7}}, "temperament.confidence"),
    ],
)
def test_bad_findings_are_rejected_with_the_field_named(change: dict[str, Any], needle: str) -> None:
    f = copy.deepcopy(FINDINGS)
    f.update(change)
    with pytest.raises(SummaryError) as err:
        build_summary(CALL, f)
    assert needle in str(err.value)
    assert err.value.problems


def test_unsupported_language_falls_back_to_the_judging_playbook() -> None:
    # a call in a language without narrative templates is summarised in the language of the playbook
    # that judged it (never left as an invalid summary nobody can fix) ...
    s = build_summary({**CALL, "language": "fr-FR"}, {**FINDINGS, "language": "en-US"})
    assert s.language == "en-US" and s.narrative
    assert build_summary({**CALL, "language": "ko-KR"}, {**FINDINGS, "language": None}).language == "zh-CN"
    # ... but a summary that claims an unsupported language is still rejected
    with pytest.raises(SummaryError, match="language"):
        validate_summary({**s.model_dump(mode="json"), "language": "fr-FR"})


def test_edits_make_a_new_version_and_renarrate() -> None:
    s1 = build_summary(CALL, FINDINGS, segments=SEGMENTS)
    s2 = apply_edits(s1, {"promise": {"amount": 2000, "date": "2026-12-10"}, "agent_notes": "weekend only"})
    assert s2.version == 2 and s2.summary_id == s1.summary_id
    assert s2.promise is not None and s2.promise.amount == 2000
    assert "2,000.00" in s2.narrative and "1,500.00" not in s2.narrative
    assert s2.edited_fields == ["promise", "agent_notes"]
    s3 = apply_edits(s2, {"narrative": "客户周末还款。"})
    s4 = apply_edits(s3, {"outcome": "callback"})
    assert s4.version == 4 and s4.narrative == "客户周末还款。"  # the agent's own text is kept
    assert s4.compliance == s1.compliance


def test_edit_errors() -> None:
    s1 = build_summary(CALL, FINDINGS)
    with pytest.raises(SummaryError, match="compliance: not editable"):
        apply_edits(s1, {"compliance": {"passed": True}})
    with pytest.raises(SummaryError, match="outcome"):
        apply_edits(s1, {"outcome": "won the lottery"})
    with pytest.raises(SummaryError, match="non-empty"):
        apply_edits(s1, {})
    assert s1.version == 1
