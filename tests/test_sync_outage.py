"""A long CRM outage (503 for 90 minutes of simulated time), then recovery: every summary arrives exactly
once, in deadline order; supervisors were alerted at 60 and 20 minutes left; late ones are flagged late."""

from __future__ import annotations

import random

from assist.sync.clock import ManualClock
from assist.sync.outbox import OutboxAlert, OutboxWorker
from tests.crm_fakes.base import Fault
from tests.crm_fakes.harness import drain, open_db, settings, submit_call, webhook_adapter, webhook_receiver

# minutes before the outage began that each call ended (its deadline is 120 min after that)
ENDED_AGO = [25, 0, 60, 15, 45, 4, 65, 35, 20, 55, 40, 50]
OUTAGE_MIN = 90


async def test_long_outage_then_recovery(database_url: str) -> None:
    clock = ManualClock()
    t0 = clock.now()
    db = await open_db(database_url)
    cfg = settings(targets=["webhook"], backoff_cap=120, concurrency=1, batch=20, safety_margin_minutes=15)
    for ago in ENDED_AGO:
        call_id = f"call-{ago:02d}"
        await submit_call(db, call_id, ["webhook"], ended_at=t0 - ago * 60, now=t0, cfg=cfg)

    alerts: list[OutboxAlert] = []
    async with webhook_receiver(clock) as rx:
        rx.set_mode("hook", Fault(status=503, body={"error": "maintenance"}))
        adapter = webhook_adapter(rx, clock)
        worker = OutboxWorker(
            db,
            {"webhook": adapter},
            cfg,
            clock=clock,
            on_alert=alerts.append,
            rng=random.Random(11),
            worker_id="w-outage",
        )
        requests_during_outage: list[int] = []

        def recover(now: float) -> None:
            if now >= t0 + OUTAGE_MIN * 60 and "hook" in rx.modes:
                requests_during_outage.append(rx.count("hook"))
                rx.set_mode("hook", None)

        await drain(worker, clock, step=30, before_step=recover)
        end = clock.now()
        await worker.close()

    # exactly once each, nothing re-sent after a success, and the first stored in deadline order
    assert rx.stored_per_summary() == {f"sum_call-{a:02d}:v1": 1 for a in ENDED_AGO}
    assert rx.duplicates == 0
    assert rx.first_delivery_order() == [f"sum_call-{a:02d}" for a in sorted(ENDED_AGO, reverse=True)]
    # the down CRM was probed, not hammered (12 items retrying on their own would be ~500 requests)
    assert requests_during_outage and requests_during_outage[0] < 100
    assert end - (t0 + OUTAGE_MIN * 60) < 5 * 60

    by_call: dict[str, list[tuple[str, float | None]]] = {}
    for a in alerts:
        by_call.setdefault(a.call_id, []).append((a.kind, a.threshold_minutes))
    rows = {r["call_id"]: dict(r) for r in await db.fetchall("SELECT * FROM outbox")}
    for ago in ENDED_AGO:
        call_id = f"call-{ago:02d}"
        got = by_call.get(call_id, [])
        assert ("deadline_warning", 60.0) in got, (call_id, got)
        # 20 minutes left came before the CRM was back for calls that ended >= 15 min before the outage
        assert (("deadline_warning", 20.0) in got) == (ago >= 15), (call_id, got)
        late = ago >= 35  # their deadline passed during the outage
        assert (("deadline_missed", 0.0) in got) == late, (call_id, got)
        assert (("delivered_late", None) in got) == late, (call_id, got)
        assert rows[call_id]["status"] == "done" and bool(rows[call_id]["late"]) == late
        assert len(got) == len(set(got))  # no alert twice
    assert all(a.severity == "critical" for a in alerts if a.kind == "deadline_missed")
    tried = [a for a in alerts if a.kind == "deadline_warning" and a.attempts > 0]
    assert tried and all("maintenance" in (a.last_error or "") and "maintenance" in a.message for a in tried)
    await db.close()


async def test_retry_after_on_503_paces_the_probes(database_url: str) -> None:
    clock = ManualClock()
    db = await open_db(database_url)
    cfg = settings(targets=["webhook"], concurrency=2)
    for i in range(4):
        await submit_call(db, f"c{i}", ["webhook"], ended_at=clock.now(), now=clock.now(), cfg=cfg)
    async with webhook_receiver(clock) as rx:
        rx.set_mode("hook", Fault(status=503, body={"error": "later"}, headers={"Retry-After": "600"}))
        worker = OutboxWorker(
            db, {"webhook": webhook_adapter(rx, clock)}, cfg, clock=clock, rng=random.Random(5), worker_id="w"
        )
        t0 = clock.now()
        await drain(worker, clock, step=30, until=lambda: clock.now() >= t0 + 3600)
        # one hour of 503 + Retry-After: 600 -> the first 4 attempts, then about one probe per 10 minutes
        assert 4 <= rx.count("hook") <= 4 + 7
        rx.set_mode("hook", None)
        await drain(worker, clock, step=30)
        await worker.close()
    assert len(rx.records) == 4 and rx.duplicates == 0
    await db.close()
