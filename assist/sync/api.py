"""Data for the outbox's API handlers and CLI: items with their state, attempts and deadline; retry; metrics.

Plain async functions returning JSON-ready dicts; the web layer exposes them (e.g. GET /api/outbox,
GET /api/outbox/{id}, POST /api/outbox/{id}/retry, GET /api/outbox/metrics).
"""

from __future__ import annotations

import json
import math
from typing import Any

from assist.store.db import Database
from assist.store.outbox import OutboxStore
from assist.sync.clock import SystemClock, to_iso

OPEN = ("held", "pending", "inflight")


def item_view(row: dict[str, Any], now: float) -> dict[str, Any]:
    open_ = row["status"] in OPEN
    return {
        "id": row["id"],
        "call_id": row["call_id"],
        "summary_id": row["summary_id"],
        "target": row["target"],
        "version": row["version"],
        "status": row["status"],
        "attempts": row["attempts"],
        "idempotency_key": row["idempotency_key"],
        "call_ended_at": to_iso(row["call_ended_at"]),
        "due_at": to_iso(row["due_at"]),
        "minutes_left": round((row["due_at"] - now) / 60, 1) if open_ else None,
        "overdue": open_ and now > row["due_at"],
        "next_attempt_at": to_iso(row["next_attempt_at"]) if row["status"] in ("held", "pending") else None,
        "lease_owner": row["lease_owner"],
        "lease_until": to_iso(row["lease_until"]),
        "delivered_at": to_iso(row["delivered_at"]),
        "late": bool(row["late"]),
        "remote_id": row["remote_id"],
        "last_status": row["last_status"],
        "last_error_kind": row["last_error_kind"],
        "last_error": row["last_error"],
        "created_at": to_iso(row["created_at"]),
        "updated_at": to_iso(row["updated_at"]),
    }


def _now(now: float | None) -> float:
    return SystemClock().now() if now is None else now


async def list_outbox(
    db: Database,
    *,
    status: str | None = None,
    call_id: str | None = None,
    target: str | None = None,
    limit: int = 100,
    now: float | None = None,
) -> list[dict[str, Any]]:
    rows = await OutboxStore(db).list_items(status=status, call_id=call_id, target=target, limit=limit)
    t = _now(now)
    return [item_view(r, t) for r in rows]


async def show_outbox_item(db: Database, item_id: int, now: float | None = None) -> dict[str, Any] | None:
    store = OutboxStore(db)
    row = await store.get(item_id)
    if row is None:
        return None
    view = item_view(row, _now(now))
    view["attempt_log"] = [
        {
            "attempt": a["attempt"],
            "worker": a["worker"],
            "started_at": to_iso(a["started_at"]),
            "finished_at": to_iso(a["finished_at"]),
            "outcome": a["outcome"],
            "kind": a["kind"],
            "http_status": a["http_status"],
            "detail": a["detail"],
        }
        for a in await store.attempts(item_id)
    ]
    view["payload"] = json.loads(row["payload"])
    return view


async def retry_outbox_items(
    db: Database,
    item_ids: list[int] | None = None,
    *,
    all_dead: bool = False,
    target: str | None = None,
    now: float | None = None,
) -> list[dict[str, Any]]:
    """Put dead-lettered items back in the queue (now).  Returns what happened to each."""
    store = OutboxStore(db)
    ids = list(item_ids or [])
    if all_dead:
        ids += [i for i in await store.dead_ids(target) if i not in ids]
    return [{"id": i, "result": r} for i, r in await store.retry(ids, _now(now))]


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))
    return s[k]


async def outbox_depth(db: Database, now: float | None = None) -> dict[str, Any]:
    """The cheap part of `outbox_metrics`, for every scrape: items by status, and the age of the oldest open
    one (seconds since its call ended; 0 when none is open)."""
    store = OutboxStore(db)
    t = _now(now)
    counts = await store.counts()
    oldest = await store.oldest_open()
    return {
        "by_status": counts,
        "open": sum(counts[s] for s in OPEN),
        "oldest_open_age_seconds": max(0.0, t - oldest["ended"]) if oldest else 0.0,
    }


async def outbox_metrics(db: Database, now: float | None = None, *, window: int = 10000) -> dict[str, Any]:
    """Queue depth, oldest pending age, delivery latency (call end → CRM ack) and results by kind."""
    store = OutboxStore(db)
    t = _now(now)
    counts = await store.counts()
    oldest = await store.oldest_open()
    lat = await store.delivery_latencies(limit=window)
    by_kind = await store.results_by_kind()
    attempts = sum(n for kinds in by_kind.values() for n in kinds.values())
    return {
        "at": to_iso(t),
        "queue_depth": sum(counts[s] for s in OPEN),
        "by_status": counts,
        "oldest_pending_age_seconds": round(t - oldest["ended"], 3) if oldest else None,
        "earliest_due_in_seconds": round(oldest["due"] - t, 3) if oldest else None,
        "delivery_latency_seconds": {
            "count": len(lat),
            "p50": percentile(lat, 50),
            "p95": percentile(lat, 95),
            "p99": percentile(lat, 99),
            "max": max(lat) if lat else None,
        },
        "late_deliveries": await store.late_count(),
        "attempts": attempts,
        "results_by_kind": by_kind,
    }
