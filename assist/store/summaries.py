"""Call summaries: the latest version of each call's summary, its state and its edit history.

state: draft (waiting for the agent's submit or the grace period), submitted (agent pressed submit),
auto_submitted (grace period ran out), invalid (did not validate; `error` says why, `body` keeps the data).
Written only inside the transactions of assist.sync.finalize, together with the outbox rows.
"""

from __future__ import annotations

import json
from typing import Any

from assist.store import calls as _calls  # noqa: F401  (calls table first: summaries reference it)
from assist.store.db import Database, _Tx, migration

migration(
    "0100_summaries",
    """
    CREATE TABLE summaries (
        summary_id TEXT PRIMARY KEY,
        call_id TEXT NOT NULL UNIQUE REFERENCES calls(call_id),
        version INTEGER NOT NULL,
        state TEXT NOT NULL,
        language TEXT,
        body TEXT NOT NULL,
        error TEXT,
        edits TEXT NOT NULL DEFAULT '[]',
        call_ended_at REAL NOT NULL,
        due_at REAL NOT NULL,
        release_at REAL NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        submitted_at REAL
    );
    CREATE INDEX summaries_state ON summaries(state, release_at)
    """,
)

STATES = ("draft", "submitted", "auto_submitted", "invalid")


def summary_row(row: Any) -> dict[str, Any]:
    d = dict(row)
    d["body"] = json.loads(d["body"])
    d["edits"] = json.loads(d["edits"])
    return d


async def get_summary_row(db: Database | _Tx, call_id: str) -> dict[str, Any] | None:
    rows = await db.fetchall("SELECT * FROM summaries WHERE call_id=?", (call_id,))
    return summary_row(rows[0]) if rows else None


async def insert_summary(
    tx: _Tx,
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
            json.dumps(body, ensure_ascii=False),
            error,
            call_ended_at,
            due_at,
            release_at,
            now,
            now,
        ),
    )


async def update_summary(
    tx: _Tx,
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
            json.dumps(body, ensure_ascii=False),
            error,
            json.dumps(edits, ensure_ascii=False),
            now,
            submitted_at,
            summary_id,
        ),
    )
