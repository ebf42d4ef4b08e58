"""The generic webhook adapter against a Standard Webhooks receiver on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from assist.store.db import Database
from assist.sync.clock import ManualClock
from assist.sync.crm.base import RetryableError
from assist.sync.crm.webhook import WebhookAdapter, secret_bytes, sign, verify
from assist.sync.outbox import OutboxAlert
from assist.sync.summary import summary_id_for
from tests.crm_fakes.base import Fault
from tests.crm_fakes.harness import (
    SECRET,
    delivered_then_edited,
    drain,
    fake_crm,
    item,
    make_worker,
    submitted_call,
    webhook_adapter,
    webhook_receiver,
)
from tests.crm_fakes.webhook import WebhookReceiver


@pytest_asyncio.fixture
async def env(database_url: str) -> AsyncIterator[tuple[Database, ManualClock, WebhookReceiver]]:
    async with fake_crm(database_url, webhook_receiver) as ready:
        yield ready


def test_signature_matches_the_standard_webhooks_test_vector() -> None:
    key = secret_bytes("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = b'{"test": 2432232314}'
    sig = sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert sig == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    verify(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body, f"v1,bogus {sig}", now=1614265400)
    with pytest.raises(ValueError, match="no matching"):
        verify(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body + b" ", sig, now=1614265330)
    with pytest.raises(ValueError, match="too far"):
        verify(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body, sig, now=1614265330 + 301)
    with pytest.raises(ValueError, match="not base64"):
        secret_bytes("whsec_***")


async def test_create(env: tuple[Database, ManualClock, WebhookReceiver]) -> None:
    db, clock, rx = env
    await submitted_call(db, clock, "c1", ["webhook"])
    worker = make_worker(db, {"webhook": webhook_adapter(rx, clock)}, clock)
    assert await worker.run_once() == 1
    got = rx.received[-1]
    assert got.headers["webhook-id"] == got.headers["idempotency-key"] == "sum_c1:v1"
    assert got.headers["webhook-signature"].startswith("v1,") and not rx.rejected
    env_ = got.json()
    assert env_["type"] == "call.summary.created" and env_["data"]["call_id"] == "c1"
    row = await item(db, "c1", "webhook")
    assert row["status"] == "done" and row["remote_id"] == "rec-1" and row["attempts"] == 1
    await worker.close()


async def test_timeout_then_retry_is_not_stored_twice(env: tuple[Database, ManualClock, WebhookReceiver]) -> None:
    db, clock, rx = env
    await submitted_call(db, clock, "c1", ["webhook"])
    rx.push("hook", Fault(delay=1.0, after=True))  # stored, but the answer comes too late
    worker = make_worker(db, {"webhook": webhook_adapter(rx, clock, timeout=0.3)}, clock)
    await worker.run_once()
    row = await item(db, "c1", "webhook")
    assert row["status"] == "pending" and row["last_error_kind"] == "timeout" and row["ambiguous"] == 1
    await drain(worker, clock)
    assert rx.count("hook") == 2 and rx.duplicates == 1
    assert rx.stored_per_summary() == {"sum_c1:v1": 1}
    assert (await item(db, "c1", "webhook"))["status"] == "done"
    await worker.close()


async def test_wrong_secret_is_dead_lettered(env: tuple[Database, ManualClock, WebhookReceiver]) -> None:
    db, clock, rx = env
    await submitted_call(db, clock, "c1", ["webhook"])
    alerts: list[OutboxAlert] = []
    worker = make_worker(db, {"webhook": webhook_adapter(rx, clock, secret="not-the-secret")}, clock, alerts)
    await worker.run_once()
    row = await item(db, "c1", "webhook")
    assert row["status"] == "dead" and row["last_status"] == 401 and "signature mismatch" in row["last_error"]
    assert [a.kind for a in alerts] == ["dead_letter"] and "signature mismatch" in alerts[0].message
    await worker.close()


async def test_429_retry_after_5xx_retried_4xx_dead(env: tuple[Database, ManualClock, WebhookReceiver]) -> None:
    db, clock, rx = env
    for c in ("a", "b", "c", "d"):
        await submitted_call(db, clock, c, ["webhook"])
    rx.push(
        "hook",
        Fault(status=429, headers={"Retry-After": "45"}, body={"error": "slow"}),
        Fault(status=502, body="bad gateway"),
        Fault(status=422, body={"error": "data.outcome unknown to us"}),
        Fault(status=410, body={"error": "endpoint retired"}),
    )
    worker = make_worker(db, {"webhook": webhook_adapter(rx, clock)}, clock, concurrency=1)
    t = clock.now()
    await worker.run_once()
    rows = {c: await item(db, c, "webhook") for c in "abcd"}
    assert rows["a"]["status"] == "pending" and rows["a"]["next_attempt_at"] == pytest.approx(t + 45)
    assert rows["b"]["status"] == "pending" and rows["b"]["last_status"] == 502 and rows["b"]["ambiguous"] == 1
    assert (
        rows["c"]["status"] == "dead"
        and "422" in rows["c"]["last_error"]
        and "unknown to us" in rows["c"]["last_error"]
    )
    assert rows["d"]["status"] == "dead" and rows["d"]["last_error_kind"] == "gone"
    await drain(worker, clock, until=lambda: len(rx.records) == 2)
    assert set(rx.summaries) == {summary_id_for("a"), summary_id_for("b")}
    await worker.close()


async def test_409_means_the_receiver_already_has_it(env: tuple[Database, ManualClock, WebhookReceiver]) -> None:
    db, clock, rx = env
    await submitted_call(db, clock, "c1", ["webhook"])
    rx.push("hook", Fault(status=409, body={"error": "duplicate webhook-id"}))
    worker = make_worker(db, {"webhook": webhook_adapter(rx, clock)}, clock)
    await worker.run_once()
    row = await item(db, "c1", "webhook")
    assert row["status"] == "done"
    attempts = await db.fetchall("SELECT kind FROM outbox_attempts WHERE item_id=?", (row["id"],))
    assert [a["kind"] for a in attempts] == ["duplicate"]
    await worker.close()


async def test_update_after_edit(env: tuple[Database, ManualClock, WebhookReceiver]) -> None:
    db, clock, rx = env
    worker = await delivered_then_edited(
        db, clock, "webhook", webhook_adapter(rx, clock), {"outcome": "callback", "promise": None}
    )
    assert rx.order == ["sum_c1:v1", "sum_c1:v2"]
    assert rx.records["sum_c1:v2"]["type"] == "call.summary.updated"
    assert rx.summaries["sum_c1"]["outcome"] == "callback" and rx.summaries["sum_c1"]["version"] == 2
    await worker.close()


async def test_lookup_account(env: tuple[Database, ManualClock, WebhookReceiver]) -> None:
    _, clock, rx = env
    rx.accounts["A-1"] = {"name": "张三", "balance": 3200}
    a = webhook_adapter(rx, clock)
    assert await a.lookup_account("A-1") == {"name": "张三", "balance": 3200}
    assert await a.lookup_account("nobody") is None
    rx.push("account", Fault(status=200, body=["not", "an", "object"]))
    with pytest.raises(RetryableError, match="not an object"):
        await a.lookup_account("A-1")
    rx.push("account", Fault(status=200, body="{oops"))
    with pytest.raises(RetryableError, match="not JSON"):
        await a.lookup_account("A-1")
    assert await WebhookAdapter(rx.url + "/hook", SECRET).lookup_account("A-1") is None  # no lookup configured
    await a.close()
