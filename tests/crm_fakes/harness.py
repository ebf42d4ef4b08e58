"""Helpers shared by the sync tests: a database with calls, sample findings, settings, a drain loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import assist.store.outbox  # noqa: F401  (registers the summaries/outbox migrations before open)
from assist.events import CallEnded, CallStarted
from assist.store.calls import CallStore
from assist.store.db import Database, open_database
from assist.sync.clock import ManualClock
from assist.sync.crm.webhook import WebhookAdapter
from assist.sync.outbox import OutboxWorker
from assist.sync.settings import SyncSettings
from tests.crm_fakes.base import FakeServer
from tests.crm_fakes.webhook import WebhookReceiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

# the shape of assist.coach.findings.Findings.model_dump(mode="json") (more keys than the summary needs)
FINDINGS: dict[str, Any] = {
    "call_id": "c-any",
    "language": "zh-CN",
    "account_id": "501",
    "disclosures": {
        "identity": {"done": True, "at": 4.2, "label": "核实身份", "rule": "CN-ID-01", "segment_id": "s1"},
        "recording_notice": {"done": True, "at": 1.0, "label": "录音告知", "rule": None, "segment_id": "s0"},
        "amount_breakdown": {"done": False, "at": None, "label": "欠款构成", "rule": "CN-DISC-02", "segment_id": None},
    },
    "violations": [
        {
            "kind": "threat",
            "segment": 7,
            "segment_id": "seg-a-3",
            "quote": "你再不还就等着",
            "rule": "CN-ABUSE-01",
            "source": "公约 Art 9",
            "severity": "critical",
            "check": "v1",
            "at": 42.5,
        }
    ],
    "call_time": {
        "allowed": True,
        "warning": False,
        "reason": "",
        "rules": [],
        "remaining": "",
        "next_allowed_at": None,
        "local_time": "10:05",
    },
    "temperament": {"label": "procrastinating", "confidence": 0.8, "angry": False, "anger_level": 0.1, "changes": []},
    "risks": [
        {
            "kind": "high_risk",
            "detail": "客户提到要投诉到12378",
            "rule": "CN-RISK-03",
            "action": "报主管",
            "at": 50.0,
            "segment_id": "seg-c-5",
        }
    ],
    "promise": {
        "amount": 1500.0,
        "date": "2026-12-05",
        "quote": "五号还一千五",
        "segment_ids": ["seg-c-9"],
        "at": 120.0,
        "confirmed_by_agent": True,
    },
    "promises": [],
    "outcome": "promise_to_pay",
    "dispute": False,
    "dispute_detail": None,
    "new_contact_numbers": ["+86 139 0000 1111"],
    "economic_situation": "失业三个月",
    "willingness": "medium",
    "flags": ["callback"],
    "plan_offered": False,
    "redactions": 0,
    "segments": 30,
    "duration": 185.0,
}

SEGMENTS = [{"segment_id": "seg-a-3", "start": 42.5}]


async def open_db(path: Path | str) -> Database:
    """The database at `path`: a SQLite file, or any database URL (tests.support.databases)."""
    return await open_database(path)


F = TypeVar("F", bound=FakeServer)


@asynccontextmanager
async def fake_crm(
    database_url: str, make: Callable[[ManualClock], F]
) -> AsyncIterator[tuple[Database, ManualClock, F]]:
    """The empty database at `database_url` (the `database_url` fixture), a manual clock and a running fake
    CRM made with that clock; all closed after."""
    clock = ManualClock()
    db = await open_db(database_url)
    try:
        async with make(clock) as fake:
            yield db, clock, fake
    finally:
        await db.close()


async def add_call(
    db: Database,
    call_id: str,
    *,
    ended_at: float,
    language: str = "zh-CN",
    account_id: str | None = "501",
    duration: float = 185.0,
    direction: str = "outbound",
) -> None:
    store = CallStore(db)
    end = datetime.fromtimestamp(ended_at, UTC)
    start = datetime.fromtimestamp(ended_at - duration, UTC)
    await store.upsert_started(
        CallStarted(
            call_id=call_id,
            protocol="test",
            agent_id="agent-7",
            account_id=account_id,
            language=language,
            started_at=start,
            customer_phone="+8613800000000",
            direction=direction,
        )
    )
    await store.ended(CallEnded(call_id=call_id, ended_at=end, duration=duration))


def settings(**kw: Any) -> SyncSettings:
    base: dict[str, Any] = {
        "targets": [],
        "grace_minutes": 10,
        "deadline_minutes": 120,
        "backoff_base": 5,
        "backoff_cap": 600,
        "concurrency": 4,
        "http_timeout": 2.0,
    }
    base.update(kw)
    if "webhook" in base["targets"]:  # tests that build adapters themselves pass no URL
        base.setdefault("webhook_url", "http://127.0.0.1:9/unused")
        base.setdefault("webhook_secret", SECRET)
    return SyncSettings(**base)


async def drain(
    worker: OutboxWorker,
    clock: ManualClock,
    *,
    step: float = 30.0,
    max_steps: int = 2000,
    until: Callable[[], bool] | None = None,
    before_step: Callable[[float], None] | None = None,
) -> int:
    """Run the worker pass by pass, moving the clock `step` seconds between passes, until nothing is open
    (or `until()` holds).  Returns the number of steps taken."""
    for i in range(max_steps):
        if before_step is not None:
            before_step(clock.now())
        await worker.run_once()
        if until is not None:
            if until():
                return i
        else:
            counts = await worker.store.counts()
            if counts["held"] + counts["pending"] + counts["inflight"] == 0:
                return i
        clock.advance(step)
    raise AssertionError(f"outbox not drained after {max_steps} steps")


async def submit_call(
    db: Database,
    call_id: str,
    targets: list[str],
    *,
    ended_at: float,
    now: float,
    cfg: SyncSettings | None = None,
    findings: dict[str, Any] | None = None,
    **call_kw: Any,
) -> None:
    """A call that ended at `ended_at`, finalized and submitted by the agent at `now`: its rows are ready."""
    await add_call(db, call_id, ended_at=ended_at, **call_kw)
    from assist.sync.finalize import finalize_from_findings, submit_summary

    await finalize_from_findings(db, call_id, findings or FINDINGS, targets, now, settings=cfg or settings())
    await submit_summary(db, call_id, now)


async def submitted_call(
    db: Database,
    clock: ManualClock,
    call_id: str,
    targets: list[str],
    findings: dict[str, Any] | None = None,
    **call_kw: Any,
) -> None:
    """A call that ended now, finalized and submitted by the agent: its rows are ready."""
    await submit_call(db, call_id, targets, ended_at=clock.now(), now=clock.now(), findings=findings, **call_kw)


def make_worker(
    db: Database, adapters: dict[str, Any], clock: ManualClock, alerts: list[Any] | None = None, **kw: Any
) -> OutboxWorker:
    import random

    cfg = settings(**kw)  # the worker delivers to the adapters it is given
    return OutboxWorker(
        db,
        adapters,
        cfg,
        clock=clock,
        rng=random.Random(3),
        worker_id="w-test",
        on_alert=alerts.append if alerts is not None else None,
    )


async def item(db: Database, call_id: str, target: str) -> dict[str, Any]:
    """The newest outbox row of a call for a target."""
    row = await db.fetchone(
        "SELECT * FROM outbox WHERE call_id=? AND target=? ORDER BY id DESC LIMIT 1", (call_id, target)
    )
    assert row is not None
    return dict(row)


async def delivered_then_edited(
    db: Database, clock: ManualClock, target: str, adapter: Any, edits: dict[str, Any]
) -> OutboxWorker:
    """Call c1 delivered to `target`, then edited by the agent and delivered again; the worker (to close)."""
    await submitted_call(db, clock, "c1", [target])
    worker = make_worker(db, {target: adapter}, clock)
    await worker.run_once()
    from assist.sync.finalize import edit_summary

    await edit_summary(db, "c1", edits, clock.now(), settings=settings())
    await worker.run_once()
    return worker


def webhook_receiver(clock: ManualClock) -> WebhookReceiver:
    """A receiver that knows SECRET and keeps the test's time."""
    return WebhookReceiver(SECRET, now=clock.now)


def webhook_adapter(
    rx: WebhookReceiver, clock: ManualClock, *, timeout: float = 2.0, secret: str = SECRET
) -> WebhookAdapter:
    """An adapter delivering to `rx` and looking accounts up there."""
    return WebhookAdapter(
        rx.url + "/hook", secret, clock=clock, timeout=timeout, account_url=rx.url + "/accounts/{account_id}"
    )
