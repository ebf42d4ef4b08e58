"""Call summaries: the latest version of each call's summary, its state and its edit history.

state: draft (waiting for the agent's submit or the grace period), submitted (agent pressed submit),
auto_submitted (grace period ran out), invalid (did not validate; `error` says why, `body` keeps the data).
A version is written in ONE transaction with the call's end or summary state (calls.meta) and its outbox rows:
assist.sync.finalize plans what to write (`FirstVersion`, `NextVersion`), `write_first_version` and
`write_next_version` write it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from assist import logs
from assist.store.db import Queryable, Transaction, lock_rows
from assist.store.jsonvalues import dumps_finite
from assist.store.outbox import insert_item, release_summary, revise_item, supersede_dead

log = logs.get(__name__)
STATES = ("draft", "submitted", "auto_submitted", "invalid")


def _json(value: Any, *, what: str, call_id: str | None = None, summary_id: str | None = None) -> str:
    """JSON text SQLite can read back: a non-finite number that slipped past ingress is written as null,
    and the fields are noted in a warning (the summary is still written, never lost to one bad number)."""
    text, nulled = dumps_finite(value)
    if nulled:
        log.warning(
            f"non-finite numbers in the summary {what} written as null",
            call_id=call_id,
            summary_id=summary_id,
            fields=nulled,
        )
    return text


def summary_row(row: Any) -> dict[str, Any]:
    d = dict(row)
    d["body"] = json.loads(d["body"])
    d["edits"] = json.loads(d["edits"])
    return d


async def get_summary_row(db: Queryable, call_id: str) -> dict[str, Any] | None:
    rows = await db.fetchall("SELECT * FROM summaries WHERE call_id=?", (call_id,))
    return summary_row(rows[0]) if rows else None


async def insert_summary(
    tx: Transaction,
    *,
    summary_id: str,
    call_id: str,
    version: int,
    state: str,
    language: str | None,
    body: dict[str, Any],
    error: str | None,
    call_ended_at: float,
    due_at: float,
    release_at: float,
    now: float,
) -> None:
    await tx.execute(
        """INSERT INTO summaries(summary_id, call_id, version, state, language, body, error, call_ended_at,
                                 due_at, release_at, created_at, updated_at)
           VALUES (?,?,?,?,?,?,?,?,?,?,?,?)""",
        (
            summary_id,
            call_id,
            version,
            state,
            language,
            _json(body, what="body", call_id=call_id, summary_id=summary_id),
            error,
            call_ended_at,
            due_at,
            release_at,
            now,
            now,
        ),
    )


async def update_summary(
    tx: Transaction,
    summary_id: str,
    *,
    version: int,
    state: str,
    body: dict[str, Any],
    error: str | None,
    edits: list[dict[str, Any]],
    now: float,
    submitted_at: float | None = None,
) -> None:
    await tx.execute(
        """UPDATE summaries SET version=?, state=?, body=?, error=?, edits=?, updated_at=?,
                  submitted_at=COALESCE(?, submitted_at) WHERE summary_id=?""",
        (
            version,
            state,
            _json(body, what="body", summary_id=summary_id),
            error,
            _json(edits, what="edits", summary_id=summary_id),
            now,
            submitted_at,
            summary_id,
        ),
    )


@dataclass(frozen=True, slots=True)
class NewItem:
    """An outbox row to add: one CRM target of one summary version."""

    target: str
    version: int
    payload: str
    status: str
    next_attempt_at: float
    call_ended_at: float
    due_at: float
    last_error: str | None = None
    last_error_kind: str | None = None


@dataclass(frozen=True, slots=True)
class ItemRevision:
    """A newer version put into a row that has not gone out (None: that column stays)."""

    item_id: int
    status: str | None = None
    next_attempt_at: float | None = None


@dataclass(frozen=True, slots=True)
class CallEnd:
    """The call's final state as its phone leg reported it."""

    ended_at: str  # ISO-8601
    reason: str
    duration: float


@dataclass(frozen=True, slots=True)
class FirstVersion:
    """Version 1 of a call's summary, written with the call's end and one outbox row per target."""

    call_id: str
    summary_id: str
    state: str
    language: str | None
    body: dict[str, Any]
    error: str | None
    call_ended_at: float
    due_at: float
    release_at: float
    now: float
    ended_at_default: str  # the call's end when neither the store nor `end` has one (ISO-8601)
    end: CallEnd | None
    items: list[NewItem] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class NextVersion:
    """An edit: the summary's next version, the rows it rewrites and the rows it adds."""

    call_id: str
    summary_id: str
    version: int
    state: str
    body: dict[str, Any]
    payload: str
    edits: list[dict[str, Any]]
    now: float
    submitted_at: float | None
    revisions: list[ItemRevision] = field(default_factory=list)
    new_items: list[NewItem] = field(default_factory=list)


async def call_ended_at(db: Queryable, call_id: str) -> tuple[bool, str | None]:
    """(the call exists, its stored end time)."""
    row = await db.fetchone("SELECT ended_at FROM calls WHERE call_id=?", (call_id,))
    return (row is not None, row["ended_at"] if row else None)


async def lock_call(tx: Transaction, call_id: str) -> None:
    """Hold the call's row until `tx` ends, so that two changes of one call's summary (from two tasks or
    two nodes) run one after the other.  On PostgreSQL a row lock; SQLite's write transactions already
    run one at a time."""
    if lock_rows(tx):
        await tx.fetchone("SELECT call_id FROM calls WHERE call_id=?" + lock_rows(tx), (call_id,))


async def write_first_version(tx: Transaction, v: FirstVersion) -> None:
    await tx.execute(
        "UPDATE calls SET status='ended', ended_at=COALESCE(ended_at, ?) WHERE call_id=?",
        (v.ended_at_default, v.call_id),
    )
    if v.end is not None:
        await tx.execute(
            "UPDATE calls SET ended_at=?, end_reason=?, duration=? WHERE call_id=?",
            (v.end.ended_at, v.end.reason, v.end.duration, v.call_id),
        )
    await mark_call(tx, v.call_id, v.summary_id, 1, v.state)
    await insert_summary(
        tx,
        summary_id=v.summary_id,
        call_id=v.call_id,
        version=1,
        state=v.state,
        language=v.language,
        body=v.body,
        error=v.error,
        call_ended_at=v.call_ended_at,
        due_at=v.due_at,
        release_at=v.release_at,
        now=v.now,
    )
    for item in v.items:
        await _insert(tx, v.summary_id, v.call_id, item, v.now)


async def write_next_version(tx: Transaction, v: NextVersion) -> None:
    for rev in v.revisions:
        await revise_item(
            tx,
            rev.item_id,
            summary_id=v.summary_id,
            version=v.version,
            payload=v.payload,
            now=v.now,
            status=rev.status,
            next_attempt_at=rev.next_attempt_at,
        )
    for item in v.new_items:
        await _insert(tx, v.summary_id, v.call_id, item, v.now)
        await supersede_dead(tx, v.summary_id, item.target, v.version, v.now)
    await update_summary(
        tx,
        v.summary_id,
        version=v.version,
        state=v.state,
        body=v.body,
        error=None,
        edits=v.edits,
        now=v.now,
        submitted_at=v.submitted_at,
    )
    await mark_call(tx, v.call_id, v.summary_id, v.version, v.state)


async def write_submitted(
    tx: Transaction, call_id: str, summary_id: str, version: int, now: float, *, already: bool
) -> None:
    """The agent submitted: the summary's state (unless it `already` was submitted) and its held rows go out.
    The outbox rows are written before the summary row, in the order a claim locks them (no deadlock)."""
    await release_summary(tx, summary_id, now)
    if not already:
        await tx.execute(
            "UPDATE summaries SET state='submitted', submitted_at=?, updated_at=? WHERE summary_id=?",
            (now, now, summary_id),
        )
        await mark_call(tx, call_id, summary_id, version, "submitted")


async def mark_call(tx: Transaction, call_id: str, summary_id: str, version: int, state: str) -> None:
    """The summary's id, version and state in the call's meta (what the calls API shows)."""
    patch = json.dumps({"summary": {"id": summary_id, "version": version, "state": state}})
    await tx.execute("UPDATE calls SET meta=json_patch(meta, ?) WHERE call_id=?", (patch, call_id))


async def _insert(tx: Transaction, summary_id: str, call_id: str, item: NewItem, now: float) -> None:
    await insert_item(
        tx,
        summary_id=summary_id,
        call_id=call_id,
        target=item.target,
        version=item.version,
        payload=item.payload,
        status=item.status,
        next_attempt_at=item.next_attempt_at,
        call_ended_at=item.call_ended_at,
        due_at=item.due_at,
        now=now,
        last_error=item.last_error,
        last_error_kind=item.last_error_kind,
    )
