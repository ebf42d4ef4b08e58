"""The outbox: one-transaction finalize, grace period and submit, leases, backoff, edits, metrics, CLI; each
test that uses the store runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import json
import random
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from assist.settings import Settings
from assist.store.db import Database, open_database
from assist.store.outbox import OutboxStore
from assist.sync.api import list_outbox, outbox_metrics, show_outbox_item
from assist.sync.backoff import full_jitter, next_attempt_at, parse_retry_after
from assist.sync.cli import run_outbox_cli
from assist.sync.clock import ManualClock
from assist.sync.crm.ratelimit import TokenBucket
from assist.sync.crm.webhook import WebhookAdapter
from assist.sync.finalize import edit_summary, finalize_from_findings, get_summary, submit_summary
from assist.sync.outbox import OutboxAlert, OutboxWorker
from tests.crm_fakes.base import Fault
from tests.crm_fakes.harness import FINDINGS, SECRET, add_call, settings
from tests.crm_fakes.webhook import WebhookReceiver


@pytest_asyncio.fixture
async def db(any_db: Database) -> Database:
    return any_db


# a trigger that refuses outbox rows for 'hubspot', in each engine's dialect
REFUSE_HUBSPOT = {
    "sqlite": """CREATE TRIGGER refuse BEFORE INSERT ON outbox WHEN NEW.target='hubspot'
                 BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END""",
    "postgresql": """CREATE FUNCTION refuse_hubspot() RETURNS trigger LANGUAGE plpgsql AS $$
                     BEGIN IF NEW.target = 'hubspot' THEN RAISE EXCEPTION 'refused by test trigger'; END IF;
                     RETURN NEW; END $$;
                     CREATE TRIGGER refuse BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION refuse_hubspot()""",
}


@pytest_asyncio.fixture
async def clock() -> ManualClock:
    return ManualClock()


@pytest_asyncio.fixture
async def rx(clock: ManualClock) -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver(SECRET, now=clock.now) as server:
        yield server


def make_worker(
    db: Database, rx: WebhookReceiver, clock: ManualClock, alerts: list[OutboxAlert] | None = None, **kw: object
) -> OutboxWorker:
    s = settings(targets=["webhook"], webhook_url=rx.url + "/hook", webhook_secret=SECRET, **kw)
    adapter = WebhookAdapter(rx.url + "/hook", SECRET, clock=clock, timeout=s.http_timeout)
    return OutboxWorker(
        db,
        {"webhook": adapter},
        s,
        clock=clock,
        rng=random.Random(7),
        on_alert=alerts.append if alerts is not None else None,
        worker_id="w-test",
    )


async def test_finalize_writes_call_summary_and_rows_in_one_transaction(db: Database, clock: ManualClock) -> None:
    await add_call(db, "c1", ended_at=clock.now())
    st = await finalize_from_findings(db, "c1", FINDINGS, ["webhook", "salesforce"], clock.now(), settings=settings())
    assert st.state == "draft" and st.version == 1
    assert [(d["target"], d["status"]) for d in st.deliveries] == [("salesforce", "held"), ("webhook", "held")]
    call = await db.fetchone("SELECT status, meta FROM calls WHERE call_id='c1'")
    assert call is not None and call["status"] == "ended"
    assert json.loads(call["meta"])["summary"] == {"id": "sum_c1", "version": 1, "state": "draft"}
    row = await db.fetchone("SELECT due_at, call_ended_at, next_attempt_at FROM outbox WHERE target='webhook'")
    assert row is not None
    assert row["due_at"] == pytest.approx(row["call_ended_at"] + 7200)
    assert row["next_attempt_at"] == pytest.approx(clock.now() + 600)  # the grace period
    # a second finalize of the same call changes nothing
    again = await finalize_from_findings(
        db, "c1", FINDINGS, ["webhook", "salesforce"], clock.now(), settings=settings()
    )
    assert again.deliveries == st.deliveries
    n = await db.fetchone("SELECT COUNT(*) AS n FROM outbox")
    assert n is not None and n["n"] == 2


async def test_finalize_is_all_or_nothing(db: Database, clock: ManualClock) -> None:
    await add_call(db, "c1", ended_at=clock.now())
    await db.execute(REFUSE_HUBSPOT[db.engine])
    with pytest.raises(Exception, match="refused by test trigger"):
        await finalize_from_findings(db, "c1", FINDINGS, ["webhook", "hubspot"], clock.now(), settings=settings())
    assert await get_summary(db, "c1") is None
    assert (await db.fetchall("SELECT * FROM outbox")) == []
    call = await db.fetchone("SELECT meta FROM calls WHERE call_id='c1'")
    assert call is not None and "summary" not in json.loads(call["meta"])


async def test_finalize_unknown_call(db: Database, clock: ManualClock) -> None:
    with pytest.raises(LookupError, match="no call nope"):
        await finalize_from_findings(db, "nope", FINDINGS, ["webhook"], clock.now(), settings=settings())


async def test_grace_period_then_auto_post(db: Database, clock: ManualClock, rx: WebhookReceiver) -> None:
    await add_call(db, "c1", ended_at=clock.now())
    await finalize_from_findings(db, "c1", FINDINGS, ["webhook"], clock.now(), settings=settings())
    worker = make_worker(db, rx, clock)
    clock.advance(599)
    assert await worker.run_once() == 0 and not rx.records
    clock.advance(2)
    assert await worker.run_once() == 1
    assert list(rx.records) == ["sum_c1:v1"]
    st = await get_summary(db, "c1")
    assert st is not None and st.state == "auto_submitted"
    await worker.close()


async def test_submit_posts_at_once(db: Database, clock: ManualClock, rx: WebhookReceiver) -> None:
    await add_call(db, "c1", ended_at=clock.now())
    await finalize_from_findings(db, "c1", FINDINGS, ["webhook"], clock.now(), settings=settings())
    worker = make_worker(db, rx, clock)
    st = await submit_summary(db, "c1", clock.now(), edits={"agent_notes": "ok"}, by="agent-7")
    assert st.state == "submitted" and st.version == 2
    assert await worker.run_once() == 1
    assert list(rx.records) == ["sum_c1:v2"]  # the edit before submit replaced v1: one delivery
    assert rx.summaries["sum_c1"]["agent_notes"] == "ok"
    await worker.close()


async def test_edit_after_delivery_is_an_update_of_the_same_record(
    db: Database, clock: ManualClock, rx: WebhookReceiver
) -> None:
    await add_call(db, "c1", ended_at=clock.now())
    await finalize_from_findings(db, "c1", FINDINGS, ["webhook"], clock.now(), settings=settings())
    await submit_summary(db, "c1", clock.now())
    worker = make_worker(db, rx, clock)
    await worker.run_once()
    clock.advance(1800)
    st = await edit_summary(
        db, "c1", {"promise": {"amount": 900, "date": "2026-12-20"}}, clock.now(), settings=settings()
    )
    assert st.version == 2 and st.deliveries[0]["status"] == "pending"
    await worker.run_once()
    assert rx.order == ["sum_c1:v1", "sum_c1:v2"]
    assert [rx.records[k]["type"] for k in rx.order] == ["call.summary.created", "call.summary.updated"]
    assert rx.summaries["sum_c1"]["version"] == 2 and rx.summaries["sum_c1"]["promise"]["amount"] == 900
    assert rx.stored_per_summary() == {"sum_c1:v1": 1, "sum_c1:v2": 1}
    await worker.close()


async def test_update_waits_for_the_version_in_flight(db: Database, clock: ManualClock) -> None:
    await add_call(db, "c1", ended_at=clock.now())
    await finalize_from_findings(db, "c1", FINDINGS, ["webhook"], clock.now(), settings=settings())
    await submit_summary(db, "c1", clock.now())
    store = OutboxStore(db)
    first = await store.claim("w1", clock.now(), 60, 10, ["webhook"])
    assert [r["version"] for r in first] == [1]
    await edit_summary(db, "c1", {"agent_notes": "later"}, clock.now(), settings=settings())
    assert await store.claim("w2", clock.now(), 60, 10, ["webhook"]) == []  # v2 must not overtake v1
    await store.mark_delivered(
        first[0], "w1", started_at=clock.now(), now=clock.now(), remote_id="r1", kind="accepted", http_status=200
    )
    second = await store.claim("w2", clock.now(), 60, 10, ["webhook"])
    assert [r["version"] for r in second] == [2]
    assert await store.previous_remote_id("sum_c1", "webhook") == "r1"


async def test_claim_earliest_deadline_first_and_leases(db: Database, clock: ManualClock) -> None:
    t0 = clock.now()
    for i, ago in enumerate([10, 50, 30]):  # ended 10, 50, 30 minutes ago
        await add_call(db, f"c{i}", ended_at=t0 - ago * 60)
        await finalize_from_findings(db, f"c{i}", FINDINGS, ["webhook"], t0, settings=settings())
        await submit_summary(db, f"c{i}", t0)
    store = OutboxStore(db)
    rows = await store.claim("w1", t0, 60, 2, ["webhook"])
    assert [r["call_id"] for r in rows] == ["c1", "c2"]
    assert all(r["status"] == "inflight" and r["lease_owner"] == "w1" and r["attempts"] == 1 for r in rows)
    # w1 stalls; its leases expire and come back for someone else, marked ambiguous
    assert await store.reclaim_expired(t0 + 30) == 0
    assert await store.reclaim_expired(t0 + 61) == 2
    rows2 = await store.claim("w2", t0 + 61, 60, 5, ["webhook"])
    assert [r["call_id"] for r in rows2] == ["c1", "c2", "c0"]
    assert all(r["ambiguous"] == 1 for r in rows2[:2]) and rows2[0]["attempts"] == 2
    # the stalled worker wakes up: its result is refused (fenced on the lease owner)
    assert not await store.mark_delivered(
        rows[0], "w1", started_at=t0, now=t0 + 62, remote_id=None, kind="accepted", http_status=200
    )
    assert await store.mark_delivered(
        rows2[0], "w2", started_at=t0, now=t0 + 62, remote_id=None, kind="accepted", http_status=200
    )
    # a restarted worker re-claims its own leases at once
    assert await store.reclaim_owner("w2", t0 + 63) == 2


def test_full_jitter_and_deadline_clamp() -> None:
    rng = random.Random(1)
    for attempt in range(1, 12):
        d = full_jitter(attempt, 5, 600, rng)
        assert 0 <= d <= min(600, 5 * 2 ** (attempt - 1))
    due = 10_000.0
    # far from the deadline: plain backoff; near it: never later than due - margin
    assert next_attempt_at(1000, 20, due, base=5, cap=600, safety_margin=900, rng=rng) <= 1600
    assert next_attempt_at(8990, 20, due, base=5, cap=600, safety_margin=900, rng=random.Random(3)) <= 9100
    # past the last-chance point it keeps trying (delivered late)
    assert 9200 <= next_attempt_at(9200, 20, due, base=5, cap=600, safety_margin=900, rng=rng) <= 9800
    assert next_attempt_at(0, 1, due, base=5, cap=600, safety_margin=900, retry_after=120) == 120
    assert (
        next_attempt_at(0, 1, due, base=5, cap=600, safety_margin=900, retry_after=99999, retry_after_max=3600) == 3600
    )


def test_parse_retry_after() -> None:
    assert parse_retry_after("30", 0) == 30
    assert parse_retry_after(" 2.5 ", 0) == 2.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412420.0) == 60
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412500.0) == 0
    assert parse_retry_after("soon", 0) is None
    assert parse_retry_after(None, 0) is None


async def test_token_bucket_schedule() -> None:
    t = [0.0]
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)
        t[0] += s

    bucket = TokenBucket(10, burst=3, monotonic=lambda: t[0], sleep=sleep)
    for _ in range(5):
        await bucket.acquire()
    assert slept == pytest.approx([0.1, 0.1])  # 3 free, then one token per 1/10 s
    t[0] += 1.0
    await bucket.acquire()
    assert len(slept) == 2


async def test_retry_after_is_honoured(db: Database, clock: ManualClock, rx: WebhookReceiver) -> None:
    await add_call(db, "c1", ended_at=clock.now())
    await finalize_from_findings(db, "c1", FINDINGS, ["webhook"], clock.now(), settings=settings())
    await submit_summary(db, "c1", clock.now())
    rx.push("hook", Fault(status=429, body={"error": "slow down"}, headers={"Retry-After": "120"}))
    worker = make_worker(db, rx, clock)
    await worker.run_once()
    row = await db.fetchone("SELECT * FROM outbox")
    assert row is not None and row["status"] == "pending" and row["last_error_kind"] == "rate_limited"
    assert row["next_attempt_at"] == pytest.approx(clock.now() + 120)
    clock.advance(119)
    assert await worker.run_once() == 0
    clock.advance(1)
    assert await worker.run_once() == 1
    assert list(rx.records) == ["sum_c1:v1"]
    await worker.close()


async def test_metrics_and_api_views(db: Database, clock: ManualClock, rx: WebhookReceiver) -> None:
    t0 = clock.now()
    for i in range(3):
        await add_call(db, f"c{i}", ended_at=t0)
        await finalize_from_findings(db, f"c{i}", FINDINGS, ["webhook"], t0, settings=settings())
    await submit_summary(db, "c0", t0)
    await submit_summary(db, "c1", t0)
    rx.push("hook", Fault(status=503, body={"error": "down"}))
    worker = make_worker(db, rx, clock)
    clock.advance(5)
    await worker.run_once()  # c0: 503; c1: delivered 5 s after call end
    m = await outbox_metrics(db, clock.now())
    assert m["queue_depth"] == 2 and m["by_status"]["held"] == 1 and m["by_status"]["pending"] == 1
    assert m["oldest_pending_age_seconds"] == pytest.approx(5)
    assert m["earliest_due_in_seconds"] == pytest.approx(7195)
    assert m["delivery_latency_seconds"]["count"] == 1
    assert m["delivery_latency_seconds"]["p99"] == pytest.approx(5)
    assert m["results_by_kind"] == {"delivered": {"accepted": 1}, "retry": {"http_5xx": 1}}
    items = await list_outbox(db, now=clock.now())
    assert [i["status"] for i in items] == ["pending", "held", "done"]
    assert items[0]["minutes_left"] == pytest.approx(119.9, abs=0.1) and items[0]["last_error_kind"] == "http_5xx"
    shown = await show_outbox_item(db, items[0]["id"], now=clock.now())
    assert shown is not None and shown["attempt_log"][0]["http_status"] == 503
    assert shown["payload"]["call_id"] == items[0]["call_id"]
    await worker.close()


def test_outbox_cli(database_url: str) -> None:
    clock = ManualClock()

    async def setup() -> None:
        d = await open_database(database_url)
        await add_call(d, "c1", ended_at=clock.now())
        await finalize_from_findings(
            d, "c1", {**FINDINGS, "outcome": "teleported"}, ["webhook"], clock.now(), settings=settings()
        )
        await add_call(d, "c2", ended_at=clock.now())
        await finalize_from_findings(d, "c2", FINDINGS, ["webhook"], clock.now(), settings=settings())
        await d.execute(
            "UPDATE outbox SET status='dead', last_error='webhook receiver answered 400: bad',"
            " last_error_kind='http_4xx' WHERE call_id='c2'"
        )
        await d.close()

    asyncio.run(setup())
    cfg = Settings(database_url=database_url)

    def run(*args: str) -> tuple[int, str]:
        out = io.StringIO()
        code = run_outbox_cli(list(args), cfg, out=out)
        return code, out.getvalue()

    code, text = run("list")
    assert code == 0 and "dead" in text and "c1" in text and "invalid summary: outcome" in text
    code, text = run("list", "--json", "--status", "dead")
    items = json.loads(text)
    assert code == 0 and {i["call_id"] for i in items} == {"c1", "c2"}
    by_call = {i["call_id"]: i["id"] for i in items}
    code, text = run("show", str(by_call["c2"]))
    assert code == 0 and "answered 400" in text and "due_at" in text
    code, text = run("retry", str(by_call["c1"]), str(by_call["c2"]))
    assert code == 1 and f"{by_call['c2']}: queued" in text and "fix it with an edit" in text
    code, text = run("metrics", "--json")
    assert code == 0 and json.loads(text)["by_status"]["pending"] == 1
    assert run("show", "999")[0] == 1
    assert run("frobnicate")[0] == 2
