"""Several nodes on one PostgreSQL database: each node is its own connection pool (and its own outbox
worker), all in one fresh schema.  Nodes migrate at once without harm; they claim outbox rows side by side
and never the same one; a node that dies mid-delivery leaves leases another node takes over when they
expire; a deadline or dead-letter alert is published by one node only."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from assist.store.db import Database, open_database
from assist.store.outbox import OutboxStore
from assist.store.schema import MIGRATIONS, POSTGRES_MIGRATIONS, migrate
from assist.sync.clock import ManualClock
from assist.sync.outbox import OutboxAlert, OutboxWorker
from tests.crm_fakes.harness import settings, submit_call, webhook_adapter, webhook_receiver
from tests.crm_fakes.webhook import WebhookReceiver
from tests.support.databases import postgres_schema

NODES = 2


@pytest_asyncio.fixture
async def pg_url() -> AsyncIterator[str]:
    async with postgres_schema() as url:
        yield url


@pytest_asyncio.fixture
async def nodes(pg_url: str) -> AsyncIterator[list[Database]]:
    """Two nodes: two pools on the same database, opened (and so migrated) at the same time."""
    dbs = list(await asyncio.gather(*(open_database(pg_url, pool_size=4) for _ in range(NODES))))
    yield dbs
    for db in dbs:
        await db.close()


def _worker(
    db: Database, rx: WebhookReceiver, clock: ManualClock, node: str, alerts: list[OutboxAlert]
) -> OutboxWorker:
    cfg = settings(targets=["webhook"], batch=5, concurrency=5, lease_seconds=60)
    return OutboxWorker(
        db,
        {"webhook": webhook_adapter(rx, clock)},
        cfg,
        clock=clock,
        rng=random.Random(node),
        worker_id=node,
        on_alert=alerts.append,
    )


async def test_nodes_migrating_at_once_apply_each_migration_once(pg_url: str) -> None:
    dbs = await asyncio.gather(*(open_database(pg_url, pool_size=2) for _ in range(4)))
    try:
        rows = await dbs[0].fetchall("SELECT name FROM schema_migrations ORDER BY name")
        assert [r["name"] for r in rows] == sorted(m.name for m in POSTGRES_MIGRATIONS)
        assert await migrate(dbs[1]) == []  # once more: nothing to do
        await dbs[2].execute("INSERT INTO ui_secrets(name, value) VALUES (?, ?)", ("x", "y"))
        row = await dbs[3].fetchone("SELECT value FROM ui_secrets WHERE name=?", ("x",))
        assert row == {"value": "y"}
    finally:
        for db in dbs:
            await db.close()


async def test_both_engines_have_the_same_tables_and_columns(pg_url: str, tmp_path: Path) -> None:
    assert [m.name for m in POSTGRES_MIGRATIONS] == [m.name for m in MIGRATIONS]
    lite = await open_database(tmp_path / "a.db")
    await lite.close()
    with sqlite3.connect(tmp_path / "a.db") as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        sqlite_cols = {
            (t, c[1]) for t in tables if not t.startswith("sqlite_") for c in con.execute(f"PRAGMA table_info({t})")
        }
    pg = await open_database(pg_url)
    try:
        rows = await pg.fetchall(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema=current_schema()"
        )
    finally:
        await pg.close()
    assert {(r["table_name"], r["column_name"]) for r in rows} == sqlite_cols


async def test_concurrent_claims_never_take_one_row_twice(nodes: list[Database]) -> None:
    clock = ManualClock()
    now = clock.now()
    for i in range(30):
        await submit_call(nodes[0], f"c{i:02d}", ["webhook", "salesforce"], ended_at=now - i, now=now)
    stores = [OutboxStore(db) for db in nodes]
    # ten claims at once, five from each node, three rows each
    claims = await asyncio.gather(
        *(stores[k % NODES].claim(f"node-{k % NODES}/{k}", now, 60, 3, ["webhook", "salesforce"]) for k in range(10))
    )
    ids = [r["id"] for batch in claims for r in batch]
    assert len(ids) == 30 and len(set(ids)) == 30
    # the rest, claimed the same way, are exactly the rows left
    rest = await asyncio.gather(
        *(stores[k % NODES].claim(f"node-{k % NODES}/r{k}", now, 60, 10, ["webhook", "salesforce"]) for k in range(6))
    )
    ids += [r["id"] for batch in rest for r in batch]
    assert len(ids) == 60 and len(set(ids)) == 60
    leased = await nodes[1].fetchall("SELECT lease_owner FROM outbox WHERE status='inflight'")
    assert len(leased) == 60


async def test_two_workers_deliver_every_item_exactly_once(nodes: list[Database]) -> None:
    clock = ManualClock()
    n = 40
    for i in range(n):
        await submit_call(nodes[0], f"c{i:02d}", ["webhook"], ended_at=clock.now() - i, now=clock.now())
    alerts: list[OutboxAlert] = []
    async with webhook_receiver(clock) as rx:
        workers = [_worker(db, rx, clock, f"node-{k}", alerts) for k, db in enumerate(nodes)]
        for _ in range(40):
            await asyncio.gather(*(w.run_once() for w in workers))
            if len(rx.records) == n:
                break
        for w in workers:
            await w.close()
    assert rx.count("hook") == n and rx.duplicates == 0  # no item was posted twice
    assert set(rx.stored_per_summary().values()) == {1} and len(rx.records) == n
    rows = await nodes[1].fetchall(
        "SELECT o.status, COUNT(a.id) AS attempts FROM outbox o LEFT JOIN outbox_attempts a ON a.item_id=o.id"
        " GROUP BY o.id, o.status"
    )
    assert {(r["status"], r["attempts"]) for r in rows} == {("done", 1)}
    owners = await nodes[0].fetchall("SELECT DISTINCT worker FROM outbox_attempts")
    assert {r["worker"].split("/")[0] for r in owners} <= {"node-0", "node-1"}
    assert workers[0].worker_id != workers[1].worker_id
    assert alerts == []


async def test_a_dead_nodes_leases_expire_and_another_node_delivers(nodes: list[Database]) -> None:
    clock = ManualClock()
    for i in range(4):
        await submit_call(nodes[0], f"c{i}", ["webhook"], ended_at=clock.now(), now=clock.now())
    # node 0 claims everything and dies before any result is written
    dead = await OutboxStore(nodes[0]).claim("node-0/dead", clock.now(), 60, 10, ["webhook"])
    assert len(dead) == 4
    alerts: list[OutboxAlert] = []
    async with webhook_receiver(clock) as rx:
        survivor = _worker(nodes[1], rx, clock, "node-1", alerts)
        await survivor.start()  # another node starting does not touch node 0's live leases
        await survivor.stop()
        assert await survivor.run_once() == 0
        clock.advance(61)  # the leases run out
        assert await survivor.run_once() == 4
        await survivor.close()
    assert sorted(rx.summaries) == [f"sum_c{i}" for i in range(4)] and rx.duplicates == 0
    rows = await nodes[0].fetchall("SELECT status, ambiguous, attempts FROM outbox")
    assert {(r["status"], r["ambiguous"], r["attempts"]) for r in rows} == {("done", 0, 2)}
    # the dead node's late result is refused: the rows are someone else's now
    late = await OutboxStore(nodes[0]).mark_delivered(
        dead[0],
        "node-0/dead",
        started_at=clock.now(),
        now=clock.now(),
        remote_id=None,
        kind="accepted",
        http_status=200,
    )
    assert late is False


async def test_a_node_restarting_takes_back_its_own_leases_at_once(nodes: list[Database]) -> None:
    clock = ManualClock()
    await submit_call(nodes[0], "c1", ["webhook"], ended_at=clock.now(), now=clock.now())
    assert len(await OutboxStore(nodes[0]).claim("node-0/before-kill", clock.now(), 60, 10, ["webhook"])) == 1
    alerts: list[OutboxAlert] = []
    async with webhook_receiver(clock) as rx:
        restarted = _worker(nodes[1], rx, clock, "node-0", alerts)  # the same node, a new process
        await restarted.start()
        await restarted.stop()
        assert restarted.worker_id.startswith("node-0/") and restarted.worker_id != "node-0/before-kill"
        assert await restarted.run_once() == 1  # no wait for the lease to expire
        await restarted.close()
    assert list(rx.summaries) == ["sum_c1"]


async def _alerts_of(workers: list[OutboxWorker], rounds: int) -> None:
    for _ in range(rounds):
        await asyncio.gather(*(w.maintenance() for w in workers))


async def test_deadline_and_dead_letter_alerts_fire_once_across_nodes(nodes: list[Database]) -> None:
    clock = ManualClock()
    now = clock.now()
    # held summaries (never submitted): due 120 min after the call ended
    await submit_call(nodes[0], "near", ["webhook"], ended_at=now - 110 * 60, now=now)
    await nodes[0].execute("UPDATE outbox SET status='held', next_attempt_at=? WHERE call_id='near'", (now + 1e6,))
    await submit_call(nodes[0], "gone", ["webhook"], ended_at=now, now=now)
    await nodes[0].execute(
        "UPDATE outbox SET status='dead', last_error='answered 400', last_error_kind='http_4xx' WHERE call_id='gone'"
    )
    per_node: list[list[OutboxAlert]] = [[] for _ in nodes]
    async with webhook_receiver(clock) as rx:
        workers = [_worker(db, rx, clock, f"node-{k}", per_node[k]) for k, db in enumerate(nodes)]
        await _alerts_of(workers, 4)
        clock.advance(11 * 60)  # past the deadline
        await _alerts_of(workers, 4)
        for w in workers:
            await w.close()
    alerts = [(a.kind, a.call_id, a.threshold_minutes) for node in per_node for a in node]
    assert sorted(alerts, key=repr) == sorted(
        [("deadline_warning", "near", 20.0), ("dead_letter", "gone", None), ("deadline_missed", "near", 0.0)], key=repr
    )
