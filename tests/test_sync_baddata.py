"""Bad summaries and bad CRM answers: rejected with a clear error, nothing lost, kept for retry or
dead-lettered with the reason."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from assist.store.db import Database
from assist.sync.clock import ManualClock
from assist.sync.finalize import edit_summary, finalize_from_findings, get_summary, submit_summary
from assist.sync.outbox import OutboxAlert
from assist.sync.summary import SummaryError
from tests.crm_fakes.base import Fault
from tests.crm_fakes.harness import (
    FINDINGS,
    add_call,
    drain,
    fake_crm,
    item,
    make_worker,
    settings,
    submitted_call,
    webhook_adapter,
    webhook_receiver,
)
from tests.crm_fakes.webhook import WebhookReceiver


@pytest_asyncio.fixture
async def env(database_url: str) -> AsyncIterator[tuple[Database, ManualClock, WebhookReceiver]]:
    async with fake_crm(database_url, webhook_receiver) as ready:
        yield ready


async def test_invalid_summary_is_kept_dead_lettered_then_fixed_by_an_edit(
    env: tuple[Database, ManualClock, WebhookReceiver],
) -> None:
    db, clock, rx = env
    await add_call(db, "c1", ended_at=clock.now())
    bad = {**FINDINGS, "promise": {"amount": "a lot", "date": "2026-12-05"}}
    st = await finalize_from_findings(db, "c1", bad, ["webhook"], clock.now(), settings=settings())
    assert st.state == "invalid" and st.error is not None and "promise.amount" in st.error
    assert st.summary["promise"] == {"amount": "a lot", "date": "2026-12-05"}  # kept as given
    assert st.deliveries[0]["status"] == "dead" and "promise.amount" in st.deliveries[0]["last_error"]
    with pytest.raises(SummaryError, match="cannot submit"):
        await submit_summary(db, "c1", clock.now())
    alerts: list[OutboxAlert] = []
    worker = make_worker(db, {"webhook": webhook_adapter(rx, clock)}, clock, alerts)
    await worker.run_once()
    assert [a.kind for a in alerts] == ["dead_letter"] and "promise.amount" in alerts[0].message
    assert not rx.records
    # an edit that does not fix it is refused and changes nothing
    with pytest.raises(SummaryError, match=r"promise\.amount"):
        await edit_summary(db, "c1", {"agent_notes": "x"}, clock.now(), settings=settings())
    assert (await get_summary(db, "c1")).version == 1  # type: ignore[union-attr]
    # the agent corrects the amount and submits: the same row goes out
    st = await submit_summary(db, "c1", clock.now(), edits={"promise": {"amount": 1500, "date": "2026-12-05"}})
    assert st.state == "submitted" and st.version == 2 and st.error is None
    assert st.deliveries[0]["status"] == "pending"
    await worker.run_once()
    assert list(rx.records) == ["sum_c1:v2"] and rx.summaries["sum_c1"]["promise"]["amount"] == 1500
    await worker.close()


async def test_corrupted_payload_is_dead_lettered_not_sent(env: tuple[Database, ManualClock, WebhookReceiver]) -> None:
    db, clock, rx = env
    await submitted_call(db, clock, "c1", ["webhook"])
    await db.execute("""UPDATE outbox SET payload=json_patch(payload, '{"outcome": "gone_fishing"}')""")
    worker = make_worker(db, {"webhook": webhook_adapter(rx, clock)}, clock)
    await worker.run_once()
    row = await item(db, "c1", "webhook")
    assert row["status"] == "dead" and row["last_error_kind"] == "invalid_summary"
    assert "outcome" in row["last_error"] and "gone_fishing" in row["last_error"]
    assert rx.count("hook") == 0
    await worker.close()


async def test_bad_edits_are_refused_and_change_nothing(env: tuple[Database, ManualClock, WebhookReceiver]) -> None:
    db, clock, _ = env
    await add_call(db, "c1", ended_at=clock.now())
    await finalize_from_findings(db, "c1", FINDINGS, ["webhook"], clock.now(), settings=settings())
    before = await db.fetchall("SELECT * FROM outbox")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"promise": {"amount": 0, "date": "2026-12-05"}}, r"promise\.amount"),
        ({"duration_seconds": 1}, "not editable"),
        ({"contact_changes": ["12"]}, "not a phone number"),
    ]
    for edits, needle in cases:
        with pytest.raises(SummaryError, match=needle):
            await edit_summary(db, "c1", edits, clock.now(), settings=settings())
    assert [dict(r) for r in await db.fetchall("SELECT * FROM outbox")] == [dict(r) for r in before]
    assert (await get_summary(db, "c1")).version == 1  # type: ignore[union-attr]
    with pytest.raises(LookupError):
        await edit_summary(db, "nope", {"agent_notes": "x"}, clock.now(), settings=settings())


async def test_receiver_rejecting_the_body_is_dead_lettered_with_its_answer(
    env: tuple[Database, ManualClock, WebhookReceiver],
) -> None:
    db, clock, rx = env
    await submitted_call(db, clock, "c1", ["webhook"])
    rx.push("hook", Fault(status=400, body={"error": "field data.promise.date: expected dd/mm/yyyy"}))
    worker = make_worker(db, {"webhook": webhook_adapter(rx, clock)}, clock)
    await worker.run_once()
    row = await item(db, "c1", "webhook")
    assert row["status"] == "dead" and "expected dd/mm/yyyy" in row["last_error"]
    # the payload is kept: once the receiver is fixed, a retry from the CLI/API delivers it
    from assist.sync.api import retry_outbox_items

    assert await retry_outbox_items(db, all_dead=True, now=clock.now()) == [{"id": row["id"], "result": "queued"}]
    await drain(worker, clock)
    assert list(rx.records) == ["sum_c1:v1"]
    await worker.close()


async def test_unreadable_answers_are_retried(env: tuple[Database, ManualClock, WebhookReceiver]) -> None:
    db, clock, rx = env
    await submitted_call(db, clock, "c1", ["webhook"])
    rx.push("hook", Fault(status=500, body=b"\xff\xfe garbage"))
    worker = make_worker(db, {"webhook": webhook_adapter(rx, clock)}, clock)
    await worker.run_once()
    row = await item(db, "c1", "webhook")
    assert row["status"] == "pending" and row["last_status"] == 500 and "garbage" in row["last_error"]
    await drain(worker, clock)
    assert rx.stored_per_summary() == {"sum_c1:v1": 1}
    await worker.close()


async def test_settings_reject_bad_configuration() -> None:
    with pytest.raises(ValueError, match="unknown target 'zoho'"):
        settings(targets=["zoho"])
    with pytest.raises(ValueError, match="target salesforce needs"):
        settings(targets=["salesforce"])
    with pytest.raises(ValueError, match="thresholds must be positive"):
        settings(alert_minutes=[60, -1])
    s = settings(targets="webhook", webhook_url="http://x", webhook_secret="s", alert_minutes="45, 15")
    assert s.targets == ["webhook"] and s.alert_minutes == [45.0, 15.0]
