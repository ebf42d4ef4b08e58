"""The delivery worker: leases due outbox rows (earliest deadline first), posts them through the CRM adapters,
and records the result durably.

* Failures are retried with full-jitter exponential backoff (Retry-After honoured), with one attempt
  scheduled a safety margin before the deadline; past the deadline it keeps trying and flags the delivery
  late.  Permanent errors and summaries that no longer validate go to the dead-letter state with the reason.
* A target failing repeatedly (5xx, timeouts, 429…) trips a per-target circuit: the worker stops hammering
  it and probes with the most urgent item; when a probe succeeds, every waiting item of that target is made
  ready at once, so after an outage summaries go out in deadline order.
* Supervisors are alerted (`on_alert(OutboxAlert)`) when an open item has 60 and 20 minutes left
  (configurable), when its deadline passes, when it is dead-lettered, and when it is delivered late.
* Every worker leases under an owner id of its own: its node's id (stable per node) and a random part, so
  two processes never share one.  At start-up a worker re-claims the leases its node's earlier workers
  left (killed mid-delivery), and any worker re-claims anyone's expired leases.  Workers on several nodes
  share one PostgreSQL database: each row is claimed by one of them, and each alert (deadline, dead
  letter) is published by the one worker whose conditional update marked it.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import secrets
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from assist import logs
from assist.events import utcnow
from assist.store.db import Database
from assist.store.outbox import OutboxStore
from assist.sync.backoff import next_attempt_at
from assist.sync.clock import Clock, SystemClock, to_datetime
from assist.sync.crm.base import TARGET_FAILURES, CrmAdapter, DeliveryItem, PermanentError, RetryableError
from assist.sync.settings import SyncSettings
from assist.sync.summary import Summary, SummaryError, _problems

log = logs.get(__name__)

AlertKind = Literal["deadline_warning", "deadline_missed", "dead_letter", "delivered_late"]


class OutboxAlert(BaseModel):
    """A supervisor alert about one outbox item (the service core puts it on the live feed)."""

    type: Literal["outbox_alert"] = "outbox_alert"
    kind: AlertKind
    severity: Literal["critical", "high", "medium"]
    item_id: int
    call_id: str
    summary_id: str
    target: str
    version: int
    status: str
    attempts: int
    due_at: datetime
    minutes_left: float
    threshold_minutes: float | None = None
    last_error: str | None = None
    message: str
    at: datetime


AlertCallback = Callable[[OutboxAlert], Awaitable[None] | None]


def default_worker_id() -> str:
    """This node's id: the host name."""
    return f"{socket.gethostname()}-sync"


def lease_owner_id(node_id: str) -> str:
    """The owner id of one worker: its node's id and a random part (`node/1f2e3d4c`)."""
    return f"{node_id}/{secrets.token_hex(4)}"


@dataclass(slots=True)
class _Circuit:
    failures: int = 0
    open_until: float | None = None
    opened: int = 0
    probing: bool = False


class OutboxWorker:
    def __init__(
        self,
        db: Database,
        adapters: dict[str, CrmAdapter],
        settings: SyncSettings,
        *,
        clock: Clock | None = None,
        on_alert: AlertCallback | None = None,
        worker_id: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.store = OutboxStore(db)
        self.adapters = adapters
        self.settings = settings
        self.clock = clock or SystemClock()
        self.on_alert = on_alert
        self.node_id = worker_id or settings.worker_id or default_worker_id()
        self.worker_id = lease_owner_id(self.node_id)
        self.rng = rng or random.Random()
        self.circuits: dict[str, _Circuit] = {t: _Circuit() for t in adapters}
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._stopping = False
        self.alerts_sent = 0
        self.results: Counter[tuple[str, str]] = Counter()  # (target, delivered|retry|dead) -> attempts

    # ------------------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        n = await self.store.reclaim_owner(self.node_id, self.clock.now())
        if n:
            log.warning("re-claimed deliveries interrupted by a restart", count=n, worker=self.worker_id)
        self._stopping = False
        self._runner = asyncio.create_task(self.run(), name="outbox-worker")

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming; let deliveries in flight finish (up to `grace` s; the rest are re-claimed later)."""
        self._stopping = True
        self._wake.set()
        if self._runner is not None:
            await self._runner
            self._runner = None
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.wait(pending)

    async def close(self) -> None:
        await self.stop()
        for adapter in self.adapters.values():
            await adapter.close()

    async def due(self) -> int:
        """How many deliveries this worker has to make now (ready rows of its targets, its leases in flight)."""
        return await self.store.due_count(self.clock.now(), list(self.adapters), self.worker_id)

    def wake(self) -> None:
        """New work was committed (a submit or an edit): look now instead of at the next poll."""
        self._wake.set()

    # ------------------------------------------------------------------------------------------ loops

    async def run_once(self) -> int:
        """One pass: maintenance, then claim up to a batch of due rows and deliver them.  Returns how many."""
        await self.maintenance()
        rows = await self._claim(self.settings.batch)
        sem = asyncio.Semaphore(self.settings.concurrency)

        async def one(row: dict[str, Any]) -> None:
            async with sem:
                await self._deliver(row)

        await asyncio.gather(*(one(r) for r in rows))
        return len(rows)

    async def run(self) -> None:
        """Pipelined: keep up to `concurrency` deliveries in flight; sleep until woken or polled."""
        last_maintenance = -1e18
        while not self._stopping:
            self._wake.clear()
            try:
                mono = time.monotonic()
                if mono - last_maintenance >= min(1.0, self.settings.poll_seconds):
                    await self.maintenance()
                    last_maintenance = mono
                free = self.settings.concurrency - len(self._tasks)
                if free > 0:
                    for row in await self._claim(min(free, self.settings.batch)):
                        task = asyncio.create_task(self._deliver(row))
                        self._tasks.add(task)
                        task.add_done_callback(self._task_done)
            except Exception:
                log.exception("outbox worker pass failed; trying again")
            if self._stopping:
                break
            try:
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_seconds)
            except TimeoutError:
                pass

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery task crashed", error=repr(task.exception()))
        self._wake.set()

    # ------------------------------------------------------------------------------------------ claiming

    async def _claim(self, limit: int) -> list[dict[str, Any]]:
        now = self.clock.now()
        closed, probes = [], []
        for target, c in self.circuits.items():
            if c.open_until is None:
                closed.append(target)
            elif now >= c.open_until and not c.probing:
                probes.append(target)
        rows = await self.store.claim(self.worker_id, now, self.settings.lease_seconds, limit, closed, probes)
        for target in probes:
            self.circuits[target].probing = any(r["target"] == target for r in rows)
        return rows

    # ------------------------------------------------------------------------------------------ delivery

    async def _deliver(self, row: dict[str, Any]) -> None:
        started = self.clock.now()
        target = row["target"]
        try:
            summary = Summary.model_validate_json(row["payload"])
        except ValidationError as e:
            err = SummaryError(_problems(e))
            await self._dead(row, started, "invalid_summary", None, str(err))
            return
        remote_id = row["remote_id"] or await self.store.previous_remote_id(row["summary_id"], target)
        item = DeliveryItem(
            item_id=row["id"],
            target=target,
            summary=summary,
            idempotency_key=row["idempotency_key"],
            attempt=row["attempts"],
            remote_id=remote_id,
            ambiguous=bool(row["ambiguous"]),
        )
        adapter = self.adapters[target]
        try:
            result = await adapter.deliver(item)
        except RetryableError as e:
            await self._retry(row, started, e)
        except PermanentError as e:
            await self._dead(row, started, e.kind, e.http_status, e.detail)
            await self._target_answered(target)  # the CRM answered: it is up
        except Exception as e:  # an adapter bug: keep the item, retry later, say what broke
            log.exception("adapter failed unexpectedly", target=target, item=row["id"])
            await self._retry(row, started, RetryableError("internal", f"{type(e).__name__}: {e}"))
        else:
            now = self.clock.now()
            ok = await self.store.mark_delivered(
                row,
                self.worker_id,
                started_at=started,
                now=now,
                remote_id=result.remote_id,
                kind=result.kind,
                http_status=result.http_status,
                detail=result.detail,
            )
            log.info(
                "summary delivered",
                item=row["id"],
                target=target,
                call_id=row["call_id"],
                version=row["version"],
                attempt=row["attempts"],
                kind=result.kind,
                late=now > row["due_at"],
            )
            self.results[(target, "delivered")] += 1
            if not ok:
                log.warning("delivered, but the lease had been lost; the CRM dedupes the repeat", item=row["id"])
            await self._target_answered(target)
            if ok and now > row["due_at"]:
                await self._emit(row, "delivered_late", now, status="done")

    async def _retry(self, row: dict[str, Any], started: float, e: RetryableError) -> None:
        now = self.clock.now()
        s = self.settings
        when = next_attempt_at(
            now,
            row["attempts"],
            row["due_at"],
            base=s.backoff_base,
            cap=s.backoff_cap,
            safety_margin=s.safety_margin_minutes * 60,
            retry_after=e.retry_after,
            retry_after_max=s.retry_after_max,
            rng=self.rng,
        )
        self.results[(row["target"], "retry")] += 1
        await self.store.mark_retry(
            row,
            self.worker_id,
            started_at=started,
            now=now,
            next_attempt_at=when,
            kind=e.kind,
            http_status=e.http_status,
            detail=e.detail,
            ambiguous=e.ambiguous,
            remote_id=e.remote_id,
        )
        log.warning(
            "delivery failed; will retry",
            item=row["id"],
            target=row["target"],
            attempt=row["attempts"],
            kind=e.kind,
            status=e.http_status,
            detail=e.detail,
            retry_in=round(when - now, 1),
        )
        if e.kind in TARGET_FAILURES:
            self._circuit_failed(row["target"], now, e.retry_after)
        else:
            await self._target_answered(row["target"])

    async def _dead(self, row: dict[str, Any], started: float, kind: str, status: int | None, detail: str) -> None:
        now = self.clock.now()
        self.results[(row["target"], "dead")] += 1
        await self.store.mark_dead(
            row, self.worker_id, started_at=started, now=now, kind=kind, http_status=status, detail=detail
        )
        log.error(
            "delivery dead-lettered",
            item=row["id"],
            target=row["target"],
            kind=kind,
            status=status,
            detail=detail,
        )
        await self._alert_dead(now)

    # ------------------------------------------------------------------------------------------ circuit

    def _circuit_failed(self, target: str, now: float, retry_after: float | None) -> None:
        c = self.circuits[target]
        c.failures += 1
        if c.probing or (c.open_until is None and c.failures >= self.settings.circuit_failures):
            if retry_after is not None:
                delay = min(retry_after, self.settings.retry_after_max)
            else:  # equal jitter: never probe in a tight loop
                ceiling = min(self.settings.backoff_cap, self.settings.backoff_base * 2 ** min(c.opened, 30))
                delay = ceiling / 2 + self.rng.uniform(0, ceiling / 2)
            if c.open_until is None:
                log.warning("target failing: pausing it and probing", target=target, failures=c.failures)
            c.open_until = now + delay
            c.opened += 1
        c.probing = False

    async def _target_answered(self, target: str) -> None:
        """The target is reachable: close its circuit; if it was open, release what waited on it."""
        c = self.circuits[target]
        was_open = c.open_until is not None
        self.circuits[target] = _Circuit()
        if was_open:
            n = await self.store.release_target(target, self.clock.now())
            log.info("target recovered: waiting deliveries released", target=target, released=n)
            self.wake()

    # ------------------------------------------------------------------------------------------ alerts

    async def maintenance(self) -> None:
        now = self.clock.now()
        n = await self.store.reclaim_expired(now)
        if n:
            log.warning("re-claimed deliveries whose lease expired", count=n)
        thresholds = sorted({*self.settings.alert_minutes, 0.0}, reverse=True)
        horizon = thresholds[0] * 60
        for row in await self.store.open_near_deadline(now, horizon):
            left = row["due_at"] - now
            crossed = [m for m in thresholds if left <= m * 60]
            if not crossed:
                continue
            m = min(crossed)
            if row["alerted_minutes"] is not None and m >= row["alerted_minutes"]:
                continue
            if await self.store.claim_alert(row["id"], m):  # another worker may have sent it already
                await self._emit(row, "deadline_missed" if m == 0 else "deadline_warning", now, threshold=m)
        await self._alert_dead(now)

    async def _alert_dead(self, now: float) -> None:
        for row in await self.store.take_unalerted_dead():
            await self._emit(row, "dead_letter", now)

    async def _emit(
        self,
        row: dict[str, Any],
        kind: AlertKind,
        now: float,
        *,
        threshold: float | None = None,
        status: str | None = None,
    ) -> None:
        left = (row["due_at"] - now) / 60
        where = f"summary of call {row['call_id']} (v{row['version']}) to {row['target']}"
        text = {
            "deadline_warning": f"{where} not delivered yet: {left:.0f} min left",
            "deadline_missed": f"{where} missed its deadline; still retrying",
            "dead_letter": f"{where} dead-lettered: {row.get('last_error') or 'unknown reason'}",
            "delivered_late": f"{where} delivered {-left:.0f} min after its deadline",
        }[kind]
        if kind in ("deadline_warning", "deadline_missed") and row.get("last_error"):
            text += f" (attempts {row['attempts']}, last error: {row['last_error'][:200]})"
        severity: Literal["critical", "high", "medium"] = (
            "critical"
            if kind in ("deadline_missed", "dead_letter")
            else "high"
            if kind == "delivered_late" or (threshold is not None and threshold <= 20)
            else "medium"
        )
        alert = OutboxAlert(
            kind=kind,
            severity=severity,
            item_id=row["id"],
            call_id=row["call_id"],
            summary_id=row["summary_id"],
            target=row["target"],
            version=row["version"],
            status=status or row["status"],
            attempts=row["attempts"],
            due_at=to_datetime(row["due_at"]) or utcnow(),
            minutes_left=round(left, 2),
            threshold_minutes=threshold,
            last_error=row.get("last_error"),
            message=text,
            at=to_datetime(now) or utcnow(),
        )
        self.alerts_sent += 1
        log.warning("outbox alert", kind=kind, item=row["id"], target=row["target"], minutes_left=round(left, 1))
        if self.on_alert is None:
            return
        try:
            res = self.on_alert(alert)
            if inspect.isawaitable(res):
                await res
        except Exception:
            log.exception("on_alert callback failed")
