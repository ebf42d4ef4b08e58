"""What a summary change writes, planned without a database (assist.sync.finalize's pure half)."""

from __future__ import annotations

import json
from typing import Any

from assist.sync.finalize import plan_first_version, plan_next_version
from assist.sync.settings import SyncSettings
from assist.sync.summary import build_summary
from tests.crm_fakes.harness import FINDINGS, SEGMENTS

CALL: dict[str, Any] = {
    "call_id": "c-42",
    "protocol": "test",
    "agent_id": "agent-7",
    "account_id": "501",
    "language": "zh-CN",
    "started_at": "2026-11-28T02:00:00+00:00",
    "ended_at": "2026-11-28T02:03:05+00:00",
    "duration": 185.0,
    "meta": {},
}
T = 1_800_000_000.0
CFG = SyncSettings()


def _first(valid: bool = True) -> Any:
    summary = build_summary(CALL, FINDINGS, segments=SEGMENTS)
    body = summary.model_dump(mode="json")
    checked = (body, True, None) if valid else ({**body, "outcome": "?"}, False, "outcome: not an outcome")
    return plan_first_version(
        "c-42", checked, ["webhook", "hubspot", "webhook"], T, CFG, stored_ended_at=CALL["ended_at"], end=None
    )


def test_a_valid_first_version_holds_one_row_per_target_until_the_grace_period_ends() -> None:
    plan = _first()
    assert plan.state == "draft" and plan.summary_id == "sum_c-42" and plan.error is None
    assert [i.target for i in plan.items] == ["webhook", "hubspot"]  # a target named twice gets one row
    assert {i.status for i in plan.items} == {"held"}
    assert plan.release_at == T + CFG.grace_seconds
    assert plan.due_at == plan.call_ended_at + CFG.deadline_seconds
    assert json.loads(plan.items[0].payload)["call_id"] == "c-42"


def test_an_invalid_first_version_dead_letters_its_rows_with_the_reason() -> None:
    plan = _first(valid=False)
    assert plan.state == "invalid" and plan.error == "outcome: not an outcome"
    assert {(i.status, i.last_error_kind, i.last_error) for i in plan.items} == {
        ("dead", "invalid_summary", "outcome: not an outcome")
    }


def _row(state: str = "draft") -> dict[str, Any]:
    plan = _first()
    return {
        "call_id": "c-42",
        "summary_id": plan.summary_id,
        "version": 1,
        "state": state,
        "body": plan.body,
        "edits": [],
        "release_at": plan.release_at,
        "due_at": plan.due_at,
        "call_ended_at": plan.call_ended_at,
    }


def test_an_edit_rewrites_rows_not_yet_sent_and_adds_an_update_row_for_a_delivered_one() -> None:
    items = {
        "webhook": {"id": 1, "status": "held", "last_error_kind": None},
        "hubspot": {"id": 2, "status": "done", "last_error_kind": None},
    }
    plan = plan_next_version(_row(), items, {"agent_notes": "call back Friday"}, T + 60, CFG, by="ana", submit=False)
    assert plan.version == 2 and plan.state == "draft" and plan.submitted_at is None
    assert [(r.item_id, r.status, r.next_attempt_at) for r in plan.revisions] == [(1, None, None)]
    assert [(i.target, i.version, i.status) for i in plan.new_items] == [("hubspot", 2, "held")]
    assert plan.new_items[0].due_at == max(_row()["due_at"], T + 60 + CFG.deadline_seconds)
    assert plan.edits == [{"version": 2, "at": T + 60, "by": "ana", "fields": ["agent_notes"]}]


def test_a_submit_with_edits_releases_everything_now() -> None:
    items = {
        "webhook": {"id": 1, "status": "held", "last_error_kind": None},
        "hubspot": {"id": 2, "status": "dead", "last_error_kind": "invalid_summary"},
    }
    plan = plan_next_version(_row(), items, {"agent_notes": "x"}, T + 5, CFG, by=None, submit=True)
    assert plan.state == "submitted" and plan.submitted_at == T + 5
    assert sorted((r.item_id, r.status, r.next_attempt_at) for r in plan.revisions) == [
        (1, "pending", T + 5),
        (2, "pending", T + 5),
    ]
    assert plan.new_items == []
