"""The transactional outbox: one row per (summary version, CRM target), and a log of delivery attempts.

status: held (waiting for the agent's submit / the grace period; `next_attempt_at` = release time),
pending (ready at `next_attempt_at`), inflight (leased by a worker until `lease_until`), done,
dead (dead-letter, `last_error` says why), superseded (a newer version replaced a dead one).
Times are Unix seconds (REAL).  Claiming is lease based, earliest deadline first: UPDATE … RETURNING in
one transaction, which on SQLite runs alone (BEGIN IMMEDIATE) and on PostgreSQL picks its rows with
`SELECT … FOR UPDATE SKIP LOCKED`, so workers on several nodes claim side by side and never the same row.
Rows whose lease expired go back to pending.  Every completion is fenced on the lease owner, so a worker
that lost its lease cannot overwrite what another one did.  Alerts are marked with conditional updates:
of several workers only the one whose update changed the row publishes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from assist.store.db import Database, Queryable, Transaction, lock_rows

OPEN_STATUSES = ("held", "pending", "inflight")
STATUSES = ("held", "pending", "inflight", "done", "dead", "superseded")

# a row may not go out while an older version for the same (summary, target) is still open
_NO_OLDER_OPEN = """NOT EXISTS (SELECT 1 FROM outbox p WHERE p.summary_id=o.summary_id AND p.target=o.target
                    AND p.id<o.id AND p.status IN ('held','pending','inflight'))"""


def _marks(n: int) -> str:
    return ",".join("?" * n)


async def insert_item(
    tx: Transaction,
    *,
    summary_id: str,
    call_id: str,
    target: str,
    version: int,
    payload: str,
    status: str,
    next_attempt_at: float,
    call_ended_at: float,
    due_at: float,
    now: float,
    last_error: str | None = None,
    last_error_kind: str | None = None,
) -> None:
    await tx.execute(
        """INSERT INTO outbox(summary_id, call_id, target, version, payload, idempotency_key, status,
                              next_attempt_at, call_ended_at, due_at, created_at, updated_at, last_error,
                              last_error_kind)
           VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
        (
            summary_id,
            call_id,
            target,
            version,
            payload,
            idempotency_key(summary_id, version),
            status,
            next_attempt_at,
            call_ended_at,
            due_at,
            now,
            now,
            last_error,
            last_error_kind,
        ),
    )


def idempotency_key(summary_id: str, version: int) -> str:
    """Stable for one summary version on every retry (webhook-id, Idempotency-Key)."""
    return f"{summary_id}:v{version}"


async def latest_items(tx: Queryable, summary_id: str) -> dict[str, dict[str, Any]]:
    """The newest row of each target for a summary (inside a transaction: locked until it ends, so a
    worker cannot claim a row while an edit rewrites it)."""
    rows = await tx.fetchall(
        """SELECT * FROM outbox o WHERE summary_id=? AND id=(SELECT MAX(id) FROM outbox p
           WHERE p.summary_id=o.summary_id AND p.target=o.target) ORDER BY id"""
        + (lock_rows(tx) if isinstance(tx, Transaction) else ""),
        (summary_id,),
    )
    return {r["target"]: dict(r) for r in rows}


async def revise_item(
    tx: Transaction,
    item_id: int,
    *,
    summary_id: str,
    version: int,
    payload: str,
    now: float,
    status: str | None = None,
    next_attempt_at: float | None = None,
) -> None:
    """Put a newer version into a row that has not gone out yet (held/pending, or dead as invalid)."""
    await tx.execute(
        """UPDATE outbox SET version=?, payload=?, idempotency_key=?, updated_at=?,
                  status=COALESCE(?, status), next_attempt_at=COALESCE(?, next_attempt_at),
                  last_error=CASE WHEN CAST(? AS TEXT) IS NULL THEN last_error ELSE NULL END,
                  last_error_kind=CASE WHEN CAST(? AS TEXT) IS NULL THEN last_error_kind ELSE NULL END,
                  dead_alerted=CASE WHEN CAST(? AS TEXT) IS NULL THEN dead_alerted ELSE 0 END
           WHERE id=?""",
        (
            version,
            payload,
            idempotency_key(summary_id, version),
            now,
            status,
            next_attempt_at,
            status,
            status,
            status,
            item_id,
        ),
    )


async def release_summary(tx: Transaction, summary_id: str, now: float) -> int:
    """The agent submitted: held rows go out now."""
    return await tx.execute(
        "UPDATE outbox SET status='pending', next_attempt_at=?, updated_at=? WHERE summary_id=? AND status='held'",
        (now, now, summary_id),
    )


async def supersede_dead(tx: Transaction, summary_id: str, target: str, below_version: int, now: float) -> int:
    return await tx.execute(
        """UPDATE outbox SET status='superseded', updated_at=?
           WHERE summary_id=? AND target=? AND status='dead'
           AND version<?""",
        (now, summary_id, target, below_version),
    )


class OutboxStore:
    """Queries of the delivery worker, the CLI and the API."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------------------------------------ claiming

    async def claim(
        self,
        worker: str,
        now: float,
        lease_seconds: float,
        limit: int,
        targets: Sequence[str],
        probe_targets: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        """Lease up to `limit` ready rows of `targets`, earliest deadline first, plus at most one row (the
        earliest due, whatever its retry time) of each target in `probe_targets` (half-open circuit)."""
        claimed: list[dict[str, Any]] = []
        if not targets and not probe_targets:
            return claimed
        lease_until = now + lease_seconds
        set_clause = """UPDATE outbox SET status='inflight', lease_owner=?, lease_until=?,
                        attempts=attempts+1,
                        updated_at=? WHERE id IN ({select}) RETURNING *"""
        async with self.db.transaction() as tx:
            skip_locked = lock_rows(tx, "FOR UPDATE OF o SKIP LOCKED")
            if targets and limit > 0:
                select = f"""SELECT o.id FROM outbox o WHERE o.status IN ('pending','held')
                             AND o.next_attempt_at<=? AND o.target IN ({_marks(len(targets))})
                             AND {_NO_OLDER_OPEN}
                             ORDER BY o.due_at, o.id LIMIT ?{skip_locked}"""
                claimed += [
                    dict(r)
                    for r in await tx.fetchall(
                        set_clause.format(select=select), (worker, lease_until, now, now, *targets, limit)
                    )
                ]
            for target in probe_targets:
                select = f"""SELECT o.id FROM outbox o WHERE o.target=? AND (o.status='pending'
                             OR (o.status='held' AND o.next_attempt_at<=?)) AND {_NO_OLDER_OPEN}
                             ORDER BY o.due_at, o.id LIMIT 1{skip_locked}"""
                claimed += [
                    dict(r)
                    for r in await tx.fetchall(
                        set_clause.format(select=select), (worker, lease_until, now, target, now)
                    )
                ]
            for summary_id in sorted({c["summary_id"] for c in claimed}):  # one order on every node
                await tx.execute(
                    """UPDATE summaries SET state='auto_submitted', submitted_at=?, updated_at=?
                       WHERE state='draft' AND release_at<=? AND summary_id=?""",
                    (now, now, now, summary_id),
                )
        claimed.sort(key=lambda r: (r["due_at"], r["id"]))
        return claimed

    async def reclaim_expired(self, now: float) -> int:
        """Rows whose worker died or stalled go back to pending (the request may have gone out: ambiguous).
        A row another node is changing right now is left for the next pass."""
        async with self.db.transaction() as tx:
            skip_locked = lock_rows(tx, "FOR UPDATE SKIP LOCKED")
            return await tx.execute(
                f"""UPDATE outbox SET status='pending', lease_owner=NULL, lease_until=NULL, ambiguous=1,
                          last_error='lease expired: the worker stopped during delivery',
                          last_error_kind='lease', updated_at=?
                   WHERE id IN (SELECT id FROM outbox WHERE status='inflight' AND lease_until<?{skip_locked})""",
                (now, now),
            )

    async def reclaim_owner(self, worker: str, now: float) -> int:
        """At start-up: rows leased by `worker`, or by any earlier worker of that node (owners
        `worker/…`), before it was killed go back to pending at once."""
        async with self.db.transaction() as tx:
            return await tx.execute(
                """UPDATE outbox SET status='pending', lease_owner=NULL, lease_until=NULL, ambiguous=1,
                          last_error='worker restarted during delivery', last_error_kind='lease', updated_at=?
                   WHERE status='inflight' AND (lease_owner=? OR substr(lease_owner, 1, ?)=?)""",
                (now, worker, len(worker) + 1, worker + "/"),
            )

    async def release_target(self, target: str, now: float) -> int:
        """A target recovered: everything of it that waits on a retry is ready now (sent by deadline)."""
        async with self.db.transaction() as tx:
            return await tx.execute(
                "UPDATE outbox SET next_attempt_at=? WHERE target=? AND status='pending' AND next_attempt_at>?",
                (now, target, now),
            )

    async def previous_remote_id(self, summary_id: str, target: str) -> str | None:
        row = await self.db.fetchone(
            """SELECT remote_id FROM outbox WHERE summary_id=? AND target=? AND remote_id IS NOT NULL
               ORDER BY (status='done') DESC, id DESC LIMIT 1""",
            (summary_id, target),
        )
        return row["remote_id"] if row else None

    # ------------------------------------------------------------------------------------------ results

    async def _finish(
        self,
        tx: Transaction,
        item: dict[str, Any],
        worker: str,
        started_at: float,
        now: float,
        outcome: str,
        kind: str,
        http_status: int | None,
        detail: str,
    ) -> None:
        await tx.execute(
            """INSERT INTO outbox_attempts(item_id, attempt, worker, started_at, finished_at, outcome, kind,
                                           http_status, detail) VALUES (?,?,?,?,?,?,?,?,?)""",
            (
                item["id"],
                item["attempts"],
                worker,
                started_at,
                now,
                outcome,
                kind,
                http_status,
                detail[:2000],
            ),
        )

    async def mark_delivered(
        self,
        item: dict[str, Any],
        worker: str,
        *,
        started_at: float,
        now: float,
        remote_id: str | None,
        kind: str,
        http_status: int | None,
        detail: str = "",
    ) -> bool:
        async with self.db.transaction() as tx:
            n = await tx.execute(
                """UPDATE outbox SET status='done', delivered_at=?, late=CASE WHEN ? > due_at THEN 1 ELSE 0 END,
                          remote_id=COALESCE(?, remote_id),
                          lease_owner=NULL, lease_until=NULL, ambiguous=0, last_status=?, updated_at=?,
                          last_error=NULL, last_error_kind=NULL
                   WHERE id=? AND status='inflight' AND lease_owner=?""",
                (now, now, remote_id, http_status, now, item["id"], worker),
            )
            await self._finish(tx, item, worker, started_at, now, "delivered", kind, http_status, detail)
            return n == 1

    async def mark_retry(
        self,
        item: dict[str, Any],
        worker: str,
        *,
        started_at: float,
        now: float,
        next_attempt_at: float,
        kind: str,
        http_status: int | None,
        detail: str,
        ambiguous: bool,
        remote_id: str | None = None,
    ) -> bool:
        async with self.db.transaction() as tx:
            n = await tx.execute(
                """UPDATE outbox SET status='pending', next_attempt_at=?, lease_owner=NULL, lease_until=NULL,
                          ambiguous=CASE WHEN ?=1 THEN 1 ELSE ambiguous END, remote_id=COALESCE(?, remote_id),
                          last_error=?, last_error_kind=?, last_status=?, updated_at=?
                   WHERE id=? AND status='inflight' AND lease_owner=?""",
                (
                    next_attempt_at,
                    int(ambiguous),
                    remote_id,
                    detail[:2000],
                    kind,
                    http_status,
                    now,
                    item["id"],
                    worker,
                ),
            )
            await self._finish(tx, item, worker, started_at, now, "retry", kind, http_status, detail)
            return n == 1

    async def mark_dead(
        self,
        item: dict[str, Any],
        worker: str,
        *,
        started_at: float,
        now: float,
        kind: str,
        http_status: int | None,
        detail: str,
    ) -> bool:
        async with self.db.transaction() as tx:
            n = await tx.execute(
                """UPDATE outbox SET status='dead', lease_owner=NULL, lease_until=NULL, last_error=?,
                          last_error_kind=?, last_status=?, updated_at=?
                   WHERE id=? AND status='inflight' AND lease_owner=?""",
                (detail[:2000], kind, http_status, now, item["id"], worker),
            )
            await self._finish(tx, item, worker, started_at, now, "dead", kind, http_status, detail)
            return n == 1

    # ------------------------------------------------------------------------------------------ alerts

    async def open_near_deadline(self, now: float, horizon_seconds: float) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            f"""SELECT * FROM outbox WHERE status IN ({_marks(len(OPEN_STATUSES))}) AND due_at<=?
                ORDER BY due_at""",
            (*OPEN_STATUSES, now + horizon_seconds),
        )
        return [dict(r) for r in rows]

    async def claim_alert(self, item_id: int, minutes: float) -> bool:
        """Mark that the `minutes`-left alert of an item is sent; True only for the one caller (of all
        workers on all nodes) whose update did it, which alone publishes the alert."""
        async with self.db.transaction() as tx:
            n = await tx.execute(
                """UPDATE outbox SET alerted_minutes=? WHERE id=?
                   AND (alerted_minutes IS NULL OR alerted_minutes>?)""",
                (minutes, item_id, minutes),
            )
        return n == 1

    async def take_unalerted_dead(self) -> list[dict[str, Any]]:
        """Dead rows not alerted yet, marked alerted in the same statement: a row comes back to one caller."""
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                "UPDATE outbox SET dead_alerted=1 WHERE status='dead' AND dead_alerted=0 RETURNING *"
            )
        return [dict(r) for r in rows]

    # ------------------------------------------------------------------------------------------ views

    async def list_items(
        self,
        *,
        status: str | None = None,
        call_id: str | None = None,
        target: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        where, params = [], []
        for col, val in (("status", status), ("call_id", call_id), ("target", target)):
            if val is not None:
                where.append(f"{col}=?")
                params.append(val)
        sql = "SELECT * FROM outbox" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY (status IN ('held','pending','inflight')) DESC, due_at, id LIMIT ?"
        return [dict(r) for r in await self.db.fetchall(sql, (*params, limit))]

    async def get(self, item_id: int) -> dict[str, Any] | None:
        row = await self.db.fetchone("SELECT * FROM outbox WHERE id=?", (item_id,))
        return dict(row) if row else None

    async def attempts(self, item_id: int) -> list[dict[str, Any]]:
        rows = await self.db.fetchall("SELECT * FROM outbox_attempts WHERE item_id=? ORDER BY id", (item_id,))
        return [dict(r) for r in rows]

    async def retry(self, item_ids: Sequence[int], now: float) -> list[tuple[int, str]]:
        """Put dead rows back to pending now.  Returns (id, what happened) for each id."""
        out: list[tuple[int, str]] = []
        async with self.db.transaction() as tx:
            for item_id in item_ids:
                rows = await tx.fetchall("SELECT * FROM outbox WHERE id=?" + lock_rows(tx), (item_id,))
                if not rows:
                    out.append((item_id, "no such item"))
                    continue
                row = rows[0]
                if row["status"] != "dead":
                    out.append((item_id, f"not dead (status {row['status']}): left alone"))
                    continue
                newer = await tx.fetchall(
                    "SELECT id FROM outbox WHERE summary_id=? AND target=? AND version>? LIMIT 1",
                    (row["summary_id"], row["target"], row["version"]),
                )
                if newer:
                    await tx.execute("UPDATE outbox SET status='superseded', updated_at=? WHERE id=?", (now, item_id))
                    out.append((item_id, f"superseded by newer version (item {newer[0]['id']})"))
                    continue
                if row["last_error_kind"] == "invalid_summary":
                    out.append((item_id, "summary is invalid: fix it with an edit, which re-queues it"))
                    continue
                await tx.execute(
                    """UPDATE outbox SET status='pending', next_attempt_at=?, dead_alerted=0, updated_at=?
                       WHERE id=?""",
                    (now, now, item_id),
                )
                out.append((item_id, "queued"))
        return out

    async def dead_ids(self, target: str | None = None) -> list[int]:
        sql = "SELECT id FROM outbox WHERE status='dead'" + (" AND target=?" if target else "") + " ORDER BY due_at"
        return [r["id"] for r in await self.db.fetchall(sql, (target,) if target else ())]

    # ------------------------------------------------------------------------------------------ metrics

    async def counts(self) -> dict[str, int]:
        rows = await self.db.fetchall("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status")
        out = dict.fromkeys(STATUSES, 0)
        out.update({r["status"]: r["n"] for r in rows})
        return out

    async def due_count(self, now: float, targets: Sequence[str], worker: str) -> int:
        """Rows a worker delivering to `targets` has to deliver now: those ready for an attempt, and its own
        leases in flight (a draining node waits for these, not for retries scheduled later)."""
        ready = f"(status IN ('pending','held') AND next_attempt_at<=? AND target IN ({_marks(len(targets))}))"
        row = await self.db.fetchone(
            f"""SELECT COUNT(*) AS n FROM outbox WHERE (status='inflight' AND lease_owner=?)
                {"OR " + ready if targets else ""}""",
            (worker, now, *targets) if targets else (worker,),
        )
        return int(row["n"]) if row else 0

    async def oldest_open(self) -> dict[str, Any] | None:
        row = await self.db.fetchone(
            """SELECT MIN(call_ended_at) AS ended, MIN(due_at) AS due FROM outbox
               WHERE status IN ('held','pending','inflight')"""
        )
        return dict(row) if row and row["ended"] is not None else None

    async def delivery_latencies(self, since: float | None = None, limit: int = 10000) -> list[float]:
        rows = await self.db.fetchall(
            """SELECT delivered_at - call_ended_at AS lat FROM outbox WHERE status='done'
               AND delivered_at>=? ORDER BY delivered_at DESC LIMIT ?""",
            (since if since is not None else 0.0, limit),
        )
        return [r["lat"] for r in rows]

    async def results_by_kind(self, since: float | None = None) -> dict[str, dict[str, int]]:
        rows = await self.db.fetchall(
            """SELECT outcome, kind, COUNT(*) AS n FROM outbox_attempts WHERE finished_at>=?
               GROUP BY outcome, kind""",
            (since if since is not None else 0.0,),
        )
        out: dict[str, dict[str, int]] = {}
        for r in rows:
            out.setdefault(r["outcome"], {})[r["kind"]] = r["n"]
        return out

    async def late_count(self) -> int:
        row = await self.db.fetchone("SELECT COUNT(*) AS n FROM outbox WHERE status='done' AND late=1")
        return int(row["n"]) if row else 0
