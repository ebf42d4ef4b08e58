"""The Salesforce adapter against a local server speaking the REST API (Task upsert by External ID)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from assist.store.db import Database
from assist.sync.clock import ManualClock
from assist.sync.crm.base import PermanentError
from assist.sync.crm.salesforce import SalesforceAdapter
from tests.crm_fakes.base import Fault
from tests.crm_fakes.harness import delivered_then_edited, drain, fake_crm, item, make_worker, submitted_call
from tests.crm_fakes.salesforce import FakeSalesforce


@pytest_asyncio.fixture
async def env(database_url: str) -> AsyncIterator[tuple[Database, ManualClock, FakeSalesforce]]:
    async with fake_crm(database_url, lambda _: FakeSalesforce()) as ready:
        yield ready


def adapter(sf: FakeSalesforce, clock: ManualClock, **kw: Any) -> SalesforceAdapter:
    args: dict[str, Any] = {
        "instance_url": sf.url,
        "login_url": sf.url,
        "client_id": "cid",
        "client_secret": "csecret",
        "refresh_token": "rtok",
        "access_token": "tok-0",
        "timeout": 2.0,
        "clock": clock,
    }
    args.update(kw)
    return SalesforceAdapter(**args)


def upserts(sf: FakeSalesforce) -> list[dict[str, Any]]:
    return [r.json() for r in sf.received if r.route == "upsert"]


async def test_create_task_with_call_fields(env: tuple[Database, ManualClock, FakeSalesforce]) -> None:
    db, clock, sf = env
    await submitted_call(db, clock, "c1", ["salesforce"])
    worker = make_worker(db, {"salesforce": adapter(sf, clock)}, clock)
    await worker.run_once()
    task = sf.tasks["c1"]
    assert task["Call_Key__c"] == "c1" and task["TaskSubtype"] == "Call" and task["Status"] == "Completed"
    assert task["CallType"] == "Outbound" and task["CallDurationInSeconds"] == 185
    assert task["CallObject"] == "c1" and task["CallDisposition"] == "promise_to_pay"
    assert task["Subject"] == "催收通话：承诺还款"
    assert task["Description"].startswith("客户承诺于2026-12-05还款1,500.00元")
    assert "Violation at 42.5s: CN-ABUSE-01" in task["Description"]
    row = await item(db, "c1", "salesforce")
    assert row["status"] == "done" and row["remote_id"] == task["Id"]
    assert sf.received[-1].path.endswith("/sobjects/Task/Call_Key__c/c1")
    await worker.close()


async def test_timeout_then_retry_does_not_duplicate(env: tuple[Database, ManualClock, FakeSalesforce]) -> None:
    db, clock, sf = env
    await submitted_call(db, clock, "c1", ["salesforce"])
    sf.push("upsert", Fault(delay=1.0, after=True))
    worker = make_worker(db, {"salesforce": adapter(sf, clock, timeout=0.3)}, clock)
    await worker.run_once()
    assert (await item(db, "c1", "salesforce"))["last_error_kind"] == "timeout"
    await drain(worker, clock)
    assert sf.count("upsert") == 2 and sf.created == 1 and sf.updated == 1 and len(sf.tasks) == 1
    assert "TaskSubtype" not in upserts(sf)[1]  # after an ambiguous failure it may exist: never re-set it
    await worker.close()


async def test_expired_session_is_refreshed(env: tuple[Database, ManualClock, FakeSalesforce]) -> None:
    db, clock, sf = env
    await submitted_call(db, clock, "c1", ["salesforce"])
    sf.expire_tokens()
    a = adapter(sf, clock)
    worker = make_worker(db, {"salesforce": a}, clock)
    await worker.run_once()
    row = await item(db, "c1", "salesforce")
    assert row["status"] == "done" and row["attempts"] == 1
    assert sf.token_grants == 1 and a.oauth.access_token == "tok-1"
    assert [r.route for r in sf.received] == ["upsert", "token", "upsert"]
    await worker.close()


async def test_concurrent_401s_share_one_refresh(env: tuple[Database, ManualClock, FakeSalesforce]) -> None:
    db, clock, sf = env
    for c in ("a", "b", "c"):
        await submitted_call(db, clock, c, ["salesforce"])
    sf.expire_tokens()
    sf.push("token", Fault(delay=0.3))  # a slow grant: every request meets its 401 while it is under way
    worker = make_worker(db, {"salesforce": adapter(sf, clock)}, clock, concurrency=3)
    await worker.run_once()
    assert sf.token_grants == 1 and sf.count("upsert") == 6 and len(sf.tasks) == 3
    await worker.close()


async def test_no_token_at_start_gets_one(env: tuple[Database, ManualClock, FakeSalesforce]) -> None:
    db, clock, sf = env
    await submitted_call(db, clock, "c1", ["salesforce"])
    worker = make_worker(db, {"salesforce": adapter(sf, clock, access_token=None, instance_url=None)}, clock)
    await worker.run_once()
    assert [r.route for r in sf.received] == ["token", "upsert"] and len(sf.tasks) == 1
    await worker.close()


async def test_refused_refresh_token_is_dead_lettered(env: tuple[Database, ManualClock, FakeSalesforce]) -> None:
    db, clock, sf = env
    await submitted_call(db, clock, "c1", ["salesforce"])
    sf.expire_tokens()
    worker = make_worker(db, {"salesforce": adapter(sf, clock, refresh_token="revoked")}, clock)
    await worker.run_once()
    row = await item(db, "c1", "salesforce")
    assert row["status"] == "dead" and row["last_error_kind"] == "auth"
    assert "invalid_grant" in row["last_error"]
    await worker.close()


async def test_rate_limits_and_5xx_are_retried(env: tuple[Database, ManualClock, FakeSalesforce]) -> None:
    db, clock, sf = env
    for call in ("a", "b", "c"):
        await submitted_call(db, clock, call, ["salesforce"])
    sf.push(
        "upsert",
        Fault(status=429, headers={"Retry-After": "30"}, body=[{"errorCode": "X", "message": "slow"}]),
        Fault(status=403, body=[{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit"}]),
        Fault(status=503, body=[{"errorCode": "SERVER_UNAVAILABLE", "message": "try later"}]),
    )
    worker = make_worker(db, {"salesforce": adapter(sf, clock)}, clock, concurrency=1)
    t = clock.now()
    await worker.run_once()
    a, b, c = [await item(db, x, "salesforce") for x in "abc"]
    assert a["status"] == "pending" and a["next_attempt_at"] == pytest.approx(t + 30)
    assert b["status"] == "pending" and b["last_error_kind"] == "rate_limited"
    assert b["next_attempt_at"] == pytest.approx(t + 300)
    assert c["status"] == "pending" and c["last_status"] == 503
    await drain(worker, clock)
    assert sf.created == 3 and len(sf.tasks) == 3
    await worker.close()


async def test_4xx_is_dead_lettered_with_salesforce_error(env: tuple[Database, ManualClock, FakeSalesforce]) -> None:
    db, clock, sf = env
    await submitted_call(db, clock, "c1", ["salesforce"])
    await submitted_call(db, clock, "c2", ["salesforce"])
    sf.push(
        "upsert",
        Fault(
            status=400,
            body=[{"errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "Outcome needs a follow-up date"}],
        ),
    )
    worker = make_worker(db, {"salesforce": adapter(sf, clock)}, clock, concurrency=1)
    await worker.run_once()
    dead = await item(db, "c1", "salesforce")
    assert dead["status"] == "dead" and "FIELD_CUSTOM_VALIDATION_EXCEPTION" in dead["last_error"]
    assert (await item(db, "c2", "salesforce"))["status"] == "done"
    # a missing External ID field: the real 404 of the API
    await submitted_call(db, clock, "c3", ["salesforce"])
    worker2 = make_worker(db, {"salesforce": adapter(sf, clock, external_id_field="Nope__c")}, clock)
    await worker2.run_once()
    row = await item(db, "c3", "salesforce")
    assert row["status"] == "dead" and row["last_status"] == 404 and "Nope__c" in row["last_error"]
    await worker.close()
    await worker2.close()


async def test_update_after_edit_upserts_the_same_task(env: tuple[Database, ManualClock, FakeSalesforce]) -> None:
    db, clock, sf = env
    edits = {"outcome": "refused", "promise": None}
    worker = await delivered_then_edited(db, clock, "salesforce", adapter(sf, clock), edits)
    assert sf.created == 1 and sf.updated == 1 and len(sf.tasks) == 1
    assert sf.tasks["c1"]["CallDisposition"] == "refused" and "拒绝还款" in sf.tasks["c1"]["Subject"]
    assert "TaskSubtype" not in upserts(sf)[1]
    assert (await item(db, "c1", "salesforce"))["remote_id"] == sf.tasks["c1"]["Id"]
    await worker.close()


async def test_malformed_success_body_is_retried_without_duplicate(
    env: tuple[Database, ManualClock, FakeSalesforce],
) -> None:
    db, clock, sf = env
    await submitted_call(db, clock, "c1", ["salesforce"])
    sf.push("upsert", Fault(status=201, body="<html>proxy page</html>", after=True))
    worker = make_worker(db, {"salesforce": adapter(sf, clock)}, clock)
    await worker.run_once()
    row = await item(db, "c1", "salesforce")
    assert row["status"] == "pending" and row["last_error_kind"] == "bad_response"
    assert "not JSON" in row["last_error"] and row["ambiguous"] == 1
    sf.push("upsert", Fault(status=200, body={"success": True}, after=True))  # wrong shape: no id
    clock.advance(3600)
    await worker.run_once()
    assert "without a record id" in (await item(db, "c1", "salesforce"))["last_error"]
    await drain(worker, clock)
    assert sf.created == 1 and len(sf.tasks) == 1
    assert (await item(db, "c1", "salesforce"))["remote_id"] == sf.tasks["c1"]["Id"]
    await worker.close()


async def test_lookup_account(env: tuple[Database, ManualClock, FakeSalesforce]) -> None:
    _, clock, sf = env
    sf.accounts["001000000000001AAA"] = {
        "Id": "001000000000001AAA",
        "Name": "王五",
        "Phone": "+86 10 1234",
        "Secret__c": "x",
    }
    a = adapter(sf, clock, account_fields=["Id", "Name", "Phone"])
    assert await a.lookup_account("001000000000001AAA") == {
        "Id": "001000000000001AAA",
        "Name": "王五",
        "Phone": "+86 10 1234",
    }
    assert await a.lookup_account("001000000000404AAA") is None
    sf.push("account", Fault(status=400, body=[{"errorCode": "MALFORMED_ID", "message": "bad id"}]))
    with pytest.raises(PermanentError, match="MALFORMED_ID"):
        await a.lookup_account("??")
    await a.close()
