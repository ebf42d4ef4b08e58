"""Account lookup at call start, for the coach's account card: never delays the call.

`AccountLookup.get()` answers from a fresh cache entry at once; otherwise it asks the CRM for at most
`timeout` seconds and, if the CRM is slow or failing, answers with the last known record (marked stale) or
nothing.  A fetch that outlives the timeout still completes in the background and refreshes the cache;
concurrent lookups of one account share one request.
"""

from __future__ import annotations

import asyncio
import functools
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

from assist import logs
from assist.sync.clock import Clock, SystemClock
from assist.sync.crm.base import CrmAdapter, DeliveryError

log = logs.get(__name__)

Source = Literal["live", "cache", "stale", "unavailable"]


@dataclass(frozen=True, slots=True)
class AccountCard:
    account_id: str
    record: dict[str, Any] | None
    source: Source
    fetched_at: float | None = None
    error: str | None = None


@dataclass(slots=True)
class _Entry:
    record: dict[str, Any] | None
    fetched_at: float


class AccountLookup:
    def __init__(
        self,
        adapter: CrmAdapter,
        *,
        timeout: float = 1.5,
        ttl: float = 300.0,
        max_entries: int = 10000,
        clock: Clock | None = None,
    ) -> None:
        self.adapter = adapter
        self.timeout = timeout
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock or SystemClock()
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._inflight: dict[str, asyncio.Task[dict[str, Any] | None]] = {}

    async def lookup_account(self, account_id: str) -> dict[str, Any] | None:
        """The adapter interface: the record (live, cached or last known), or None."""
        return (await self.get(account_id)).record

    async def get(self, account_id: str) -> AccountCard:
        entry = self._cache.get(account_id)
        if entry is not None and self.clock.now() - entry.fetched_at < self.ttl:
            return AccountCard(account_id, entry.record, "cache", entry.fetched_at)
        task = self._inflight.get(account_id)
        if task is None:
            task = asyncio.create_task(self._fetch(account_id))
            self._inflight[account_id] = task
            task.add_done_callback(functools.partial(self._done, account_id))
        try:
            record = await asyncio.wait_for(asyncio.shield(task), self.timeout)
            return AccountCard(account_id, record, "live", self.clock.now())
        except TimeoutError:
            error = f"CRM did not answer within {self.timeout:g} s"
        except DeliveryError as e:
            error = e.detail
        except Exception as e:  # an adapter bug must not break call start
            error = f"{type(e).__name__}: {e}"
        log.warning("account lookup fell back", adapter=self.adapter.name, error=error, cached=entry is not None)
        if entry is not None:
            return AccountCard(account_id, entry.record, "stale", entry.fetched_at, error)
        return AccountCard(account_id, None, "unavailable", None, error)

    async def _fetch(self, account_id: str) -> dict[str, Any] | None:
        record = await self.adapter.lookup_account(account_id)
        self._cache[account_id] = _Entry(record, self.clock.now())
        self._cache.move_to_end(account_id)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return record

    def _done(self, account_id: str, task: asyncio.Task[dict[str, Any] | None]) -> None:
        self._inflight.pop(account_id, None)
        if not task.cancelled():
            task.exception()  # retrieved: a late failure is already reported by get()

    async def close(self) -> None:
        for task in list(self._inflight.values()):
            task.cancel()
        self._inflight.clear()
