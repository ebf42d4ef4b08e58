"""The HubSpot adapter against a local server speaking CRM v3 (calls object, search, contacts, OAuth)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from assist.store.db import Database
from assist.sync.clock import ManualClock
from assist.sync.crm.base import RetryableError
from assist.sync.crm.hubspot import HubSpotAdapter
from assist.sync.crm.ratelimit import TokenBucket
from tests.crm_fakes.base import Fault
from tests.crm_fakes.harness import (
    delivered_then_edited,
    drain,
    fake_crm,
    item,
    make_worker,
    open_db,
    submitted_call,
)
from tests.crm_fakes.hubspot import FakeHubSpot


@pytest_asyncio.fixture
async def env(database_url: str) -> AsyncIterator[tuple[Database, ManualClock, FakeHubSpot]]:
    async with fake_crm(database_url, lambda _: FakeHubSpot()) as ready:
        yield ready


def adapter(hs: FakeHubSpot, clock: ManualClock, **kw: Any) -> HubSpotAdapter:
    args: dict[str, Any] = {
        "base_url": hs.url,
        "access_token": "pat-0",
        "timeout": 2.0,
        "clock": clock,
        "rate_per_second": 1000,
        "search_rate_per_second": 1000,
    }
    args.update(kw)
    return HubSpotAdapter(**args)


async def test_create_call_associated_to_contact(env: tuple[Database, ManualClock, FakeHubSpot]) -> None:
    db, clock, hs = env
    await submitted_call(db, clock, "c1", ["hubspot"])
    worker = make_worker(db, {"hubspot": adapter(hs, clock)}, clock)
    await worker.run_once()
    [cid] = hs.calls_with_key("c1")
    props = hs.calls[cid]["properties"]
    assert props["hs_call_duration"] == "185000"  # milliseconds
    assert props["hs_timestamp"] == str(int(clock.now() * 1000))
    assert props["hs_call_direction"] == "OUTBOUND" and props["hs_call_status"] == "COMPLETED"
    assert props["hs_call_to_number"] == "+8613800000000"
    assert props["hs_call_title"] == "催收通话：承诺还款" and "失业三个月" in props["hs_call_body"]
    assoc = hs.calls[cid]["associations"][0]
    assert assoc["to"]["id"] == "501" and assoc["types"][0] == {
        "associationCategory": "HUBSPOT_DEFINED",
        "associationTypeId": 194,
    }
    row = await item(db, "c1", "hubspot")
    assert row["status"] == "done" and row["remote_id"] == cid
    assert hs.count("search") == 0  # a clean first attempt does not search
    await worker.close()


async def test_timeout_after_create_searches_instead_of_recreating(
    env: tuple[Database, ManualClock, FakeHubSpot],
) -> None:
    db, clock, hs = env
    await submitted_call(db, clock, "c1", ["hubspot"])
    hs.push("create", Fault(delay=1.0, after=True))
    worker = make_worker(db, {"hubspot": adapter(hs, clock, timeout=0.3)}, clock)
    await worker.run_once()
    assert (await item(db, "c1", "hubspot"))["ambiguous"] == 1
    await drain(worker, clock)
    assert hs.created == 1 and len(hs.calls_with_key("c1")) == 1
    assert [r.route for r in hs.received] == ["create", "search", "update"]
    assert (await item(db, "c1", "hubspot"))["remote_id"] == hs.calls_with_key("c1")[0]
    await worker.close()


async def test_search_lag_then_unique_conflict_resolves_to_the_existing_call(
    env: tuple[Database, ManualClock, FakeHubSpot],
) -> None:
    db, clock, hs = env
    await submitted_call(db, clock, "c1", ["hubspot"])
    hs.push("create", Fault(status=504, body="gateway timeout", after=True))  # created, answer lost
    hs.search_lag = 1  # the first search does not see it yet
    worker = make_worker(db, {"hubspot": adapter(hs, clock)}, clock)
    await drain(worker, clock)
    assert hs.created == 1 and len(hs.calls) == 1
    assert [r.route for r in hs.received] == ["create", "search", "create", "search", "update"]
    await worker.close()


async def test_401_refresh_with_oauth_and_dead_letter_for_private_app(
    env: tuple[Database, ManualClock, FakeHubSpot],
) -> None:
    db, clock, hs = env
    await submitted_call(db, clock, "c1", ["hubspot"])
    await submitted_call(db, clock, "c2", ["hubspot"])
    hs.expire_tokens()
    app = adapter(hs, clock, refresh_token="hrtok", client_id="hcid", client_secret="hsecret")
    w1 = make_worker(db, {"hubspot": app}, clock)
    await w1.store.db.execute("UPDATE outbox SET next_attempt_at=next_attempt_at+1000 WHERE call_id='c2'")
    await w1.run_once()
    assert (await item(db, "c1", "hubspot"))["status"] == "done" and app.oauth.refreshes == 1
    assert [r.route for r in hs.received] == ["create", "token", "create"]
    hs.expire_tokens()
    clock.advance(1000)
    w2 = make_worker(db, {"hubspot": adapter(hs, clock)}, clock)  # private-app token: nothing to refresh
    await w2.run_once()
    row = await item(db, "c2", "hubspot")
    assert row["status"] == "dead" and row["last_error_kind"] == "auth" and "private-app" in row["last_error"]
    await w1.close()
    await w2.close()


async def test_token_endpoint_down_is_retried(env: tuple[Database, ManualClock, FakeHubSpot]) -> None:
    db, clock, hs = env
    await submitted_call(db, clock, "c1", ["hubspot"])
    hs.expire_tokens()
    hs.push("token", Fault(status=503, body={"status": "error", "message": "unavailable"}))
    worker = make_worker(
        db, {"hubspot": adapter(hs, clock, refresh_token="hrtok", client_id="hcid", client_secret="hsecret")}, clock
    )
    await worker.run_once()
    row = await item(db, "c1", "hubspot")
    assert row["status"] == "pending" and row["last_error_kind"] == "auth_refresh"
    await drain(worker, clock)
    assert hs.created == 1 and hs.token_grants == 1
    await worker.close()


async def test_429_retry_after_and_5xx(env: tuple[Database, ManualClock, FakeHubSpot]) -> None:
    db, clock, hs = env
    await submitted_call(db, clock, "a", ["hubspot"])
    await submitted_call(db, clock, "b", ["hubspot"])
    hs.push(
        "create",
        Fault(
            status=429,
            headers={"Retry-After": "10"},
            body={"status": "error", "errorType": "RATE_LIMIT", "message": "secondly limit"},
        ),
        Fault(status=503, body={"status": "error", "message": "unavailable"}),
    )
    worker = make_worker(db, {"hubspot": adapter(hs, clock)}, clock, concurrency=1)
    t = clock.now()
    await worker.run_once()
    a, b = await item(db, "a", "hubspot"), await item(db, "b", "hubspot")
    assert a["next_attempt_at"] == pytest.approx(t + 10) and a["last_error_kind"] == "rate_limited"
    assert b["last_status"] == 503 and b["ambiguous"] == 0  # 503: not processed, no search needed
    await drain(worker, clock)
    assert hs.created == 2 and hs.count("search") == 0
    await worker.close()


async def test_token_bucket_keeps_under_the_burst_limit(tmp_path: Path) -> None:
    clock = ManualClock()
    db = await open_db(tmp_path / "assist.db")
    async with FakeHubSpot(burst=5, window=1.0) as hs:
        for i in range(6):
            await submitted_call(db, clock, f"c{i}", ["hubspot"])
        greedy = make_worker(db, {"hubspot": adapter(hs, clock)}, clock, concurrency=6)
        await greedy.run_once()  # no client-side limit: the server's limit bites
        assert sum(1 for r in hs.received if r.route == "create") == 6 and hs.created == 5
        await greedy.close()
    async with FakeHubSpot(burst=5, window=1.0) as hs2:
        for i in range(6):
            await submitted_call(db, clock, f"d{i}", ["hubspot"])
        a = adapter(hs2, clock)
        a.bucket = TokenBucket(3, burst=1)  # at most 4 requests in any 1 s window: under the server's 5
        polite = make_worker(db, {"hubspot": a}, clock, concurrency=6)
        await polite.run_once()
        assert hs2.created == 6 and hs2.count("create") == 6 and a.bucket.waited > 0
        await polite.close()
    await db.close()


async def test_4xx_dead_lettered(env: tuple[Database, ManualClock, FakeHubSpot]) -> None:
    db, clock, hs = env
    await submitted_call(db, clock, "c1", ["hubspot"], account_id="999")  # no such contact
    worker = make_worker(db, {"hubspot": adapter(hs, clock)}, clock)
    await worker.run_once()
    row = await item(db, "c1", "hubspot")
    assert row["status"] == "dead" and row["last_status"] == 400 and "contact 999 does not exist" in row["last_error"]
    await worker.close()


async def test_update_after_edit_patches_the_stored_id(env: tuple[Database, ManualClock, FakeHubSpot]) -> None:
    db, clock, hs = env
    worker = await delivered_then_edited(db, clock, "hubspot", adapter(hs, clock), {"agent_notes": "客户要求周末联系"})
    [cid] = hs.calls_with_key("c1")
    assert hs.created == 1 and hs.updated == 1
    assert hs.received[-1].method == "PATCH" and hs.received[-1].path == f"/crm/v3/objects/calls/{cid}"
    assert "客户要求周末联系" in hs.calls[cid]["properties"]["hs_call_body"]
    await worker.close()


async def test_malformed_and_wrong_shape_answers(env: tuple[Database, ManualClock, FakeHubSpot]) -> None:
    db, clock, hs = env
    await submitted_call(db, clock, "c1", ["hubspot"])
    hs.push("create", Fault(status=201, body="not json", after=True))
    hs.push("search", Fault(status=200, body={"total": 1, "results": "nope"}))
    worker = make_worker(db, {"hubspot": adapter(hs, clock)}, clock)
    await worker.run_once()
    assert "not JSON" in (await item(db, "c1", "hubspot"))["last_error"]
    clock.advance(60)
    await worker.run_once()
    assert "no results list" in (await item(db, "c1", "hubspot"))["last_error"]
    await drain(worker, clock)
    assert hs.created == 1 and len(hs.calls) == 1
    await worker.close()


async def test_lookup_account(env: tuple[Database, ManualClock, FakeHubSpot]) -> None:
    _, clock, hs = env
    a = adapter(hs, clock)
    assert await a.lookup_account("501") == {"id": "501", "firstname": "Li", "lastname": "Wei", "phone": "+86 138"}
    assert await a.lookup_account("404") is None
    hs.push("contact", Fault(status=200, body={"id": "501"}))
    with pytest.raises(RetryableError, match="no properties"):
        await a.lookup_account("501")
    await a.close()
