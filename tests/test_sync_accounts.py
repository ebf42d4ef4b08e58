"""Account lookup at call start: bounded wait, cache, last-known fallback, one request per account."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from assist.sync.accounts import AccountLookup
from assist.sync.clock import ManualClock
from assist.sync.crm.hubspot import HubSpotAdapter
from assist.sync.crm.salesforce import SalesforceAdapter
from tests.crm_fakes.base import Fault
from tests.crm_fakes.hubspot import FakeHubSpot
from tests.crm_fakes.salesforce import FakeSalesforce


@pytest_asyncio.fixture
async def hs() -> AsyncIterator[FakeHubSpot]:
    async with FakeHubSpot() as server:
        yield server


async def test_cache_timeout_and_last_known_record(hs: FakeHubSpot) -> None:
    clock = ManualClock()
    adapter = HubSpotAdapter(base_url=hs.url, access_token="pat-0", clock=clock)
    lookup = AccountLookup(adapter, timeout=0.3, ttl=300, clock=clock)
    live = await lookup.get("501")
    assert live.source == "live" and live.record is not None and live.record["firstname"] == "Li"
    cached = await lookup.get("501")
    assert cached.source == "cache" and hs.count("contact") == 1
    # the CRM turns slow: the call start gets the last known record after at most the timeout
    clock.advance(301)
    hs.contacts["501"]["phone"] = "+86 139 new"
    hs.push("contact", Fault(delay=0.8, after=False))
    stale = await lookup.get("501")
    assert stale.source == "stale" and stale.record is not None and stale.record["phone"] == "+86 138"
    assert stale.error is not None and "did not answer within 0.3 s" in stale.error
    # the slow answer still lands in the cache for the next call
    for _ in range(500):  # wait (at most 5 s) for the background fetch to finish
        if not lookup._inflight:
            break
        await asyncio.sleep(0.01)
    fresh = await lookup.get("501")
    assert fresh.source == "cache" and fresh.record is not None and fresh.record["phone"] == "+86 139 new"
    # failing CRM, unknown account: nothing, with the reason
    hs.set_mode("contact", Fault(status=503, body={"status": "error", "message": "down"}))
    none = await lookup.get("777")
    assert none.source == "unavailable" and none.record is None and none.error is not None and "503" in none.error
    clock.advance(301)
    assert (await lookup.lookup_account("501")) == fresh.record  # failing CRM: last known record
    await lookup.close()
    await adapter.close()


async def test_concurrent_lookups_share_one_request(hs: FakeHubSpot) -> None:
    adapter = HubSpotAdapter(base_url=hs.url, access_token="pat-0")
    lookup = AccountLookup(adapter, timeout=2.0)
    hs.push("contact", Fault(delay=0.2, after=True))
    cards = await asyncio.gather(*(lookup.get("501") for _ in range(5)))
    assert {c.source for c in cards} == {"live"} and hs.count("contact") == 1
    await adapter.close()


async def test_salesforce_account_lookup_and_adapter_errors_never_raise() -> None:
    async with FakeSalesforce() as sf:
        sf.accounts["001A"] = {"Id": "001A", "Name": "赵六"}
        adapter = SalesforceAdapter(
            instance_url=sf.url, login_url=sf.url, access_token="tok-0", account_fields=["Id", "Name"]
        )
        lookup = AccountLookup(adapter, timeout=1.0)
        assert (await lookup.get("001A")).record == {"Id": "001A", "Name": "赵六"}
        assert (await lookup.get("001B")).source == "live"  # a 404 is an answer: no such account

        class Broken:
            name = "broken"

            async def lookup_account(self, account_id: str) -> dict[str, Any] | None:
                raise KeyError(account_id)

            async def close(self) -> None:
                return None

        card = await AccountLookup(Broken(), timeout=1.0).get("x")  # type: ignore[arg-type]
        assert card.source == "unavailable" and card.error == "KeyError: 'x'"
        await adapter.close()
