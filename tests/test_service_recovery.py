"""Start-up recovery alone: a real store (SQLite and PostgreSQL), a fake summary writer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from assist.coach.findings import Findings
from assist.events import CallEnded, CallStarted, Prompt, TranscriptSegment
from assist.service.recovery import recover
from assist.store.accounts import AccountStore
from assist.store.calls import CallStore
from assist.store.db import Database
from assist.sync.finalize import CallEnd

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


@pytest.fixture
async def store(any_db: Database) -> CallStore:
    return CallStore(any_db)


async def _call(store: CallStore, call_id: str, *, ended: bool) -> None:
    await store.upsert_started(
        CallStarted(call_id=call_id, protocol="test", agent_id="a-1", language="zh-CN", started_at=T0)
    )
    await store.add_segment(
        TranscriptSegment(
            call_id=call_id,
            segment_id=f"{call_id}:0",
            index=0,
            speaker="agent",
            final=True,
            start=0.0,
            end=7.5,
            text="您好 本次通话会录音",
        )
    )
    if ended:
        await store.ended(
            CallEnded(
                call_id=call_id, reason="hangup", duration=9.0, ended_at=datetime(2026, 11, 20, 2, 0, 9, tzinfo=UTC)
            )
        )


async def test_live_and_unsummarised_calls_are_rejudged_and_summarised(store: CallStore) -> None:
    await _call(store, "live-1", ended=False)
    await _call(store, "ended-1", ended=True)
    written: dict[str, tuple[Findings, CallEnd]] = {}

    async def finalize(call_id: str, findings: Findings, end: CallEnd) -> None:
        written[call_id] = (findings, end)

    assert await recover(store, AccountStore(store.db), finalize) == 2
    live_end = written["live-1"][1]
    assert (live_end.reason, live_end.duration) == ("interrupted", 7.5)  # as long as its stored audio
    assert written["ended-1"][1] == CallEnd("2026-11-20T02:00:09+00:00", "hangup", 9.0)  # its own end kept
    findings = written["ended-1"][0]  # the coach judged the stored transcript
    assert findings.segments == 1 and findings.disclosures["recording_notice"].segment_id == "ended-1:0"


async def test_a_summary_that_fails_still_ends_the_call_with_its_own_reason(store: CallStore) -> None:
    await _call(store, "live-1", ended=False)
    await _call(store, "ended-1", ended=True)

    async def finalize(call_id: str, findings: Findings, end: CallEnd) -> None:
        raise OSError("disk full")

    raised: list[Prompt] = []
    assert await recover(store, AccountStore(store.db), finalize, alert=raised.append) == 2
    # supervisors are told, per call: the summary will not reach the CRM until someone looks
    assert sorted((p.call_id, p.kind, p.severity, p.audience) for p in raised) == [
        (c, "summary_failed", "high", "supervisor") for c in ("ended-1", "live-1")
    ]
    assert all(p.data == {"error": "OSError", "at_startup": True} and "after the restart" in p.text for p in raised)
    live, ended = await store.get("live-1"), await store.get("ended-1")
    assert live is not None and (live["status"], live["end_reason"]) == ("ended", "interrupted")
    assert ended is not None and (ended["status"], ended["end_reason"]) == ("ended", "hangup")
    assert len(await store.unsummarised()) == 2  # the next start-up tries the summaries again
