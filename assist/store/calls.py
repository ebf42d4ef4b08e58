"""Calls, their final transcript segments and their prompts, written as they happen."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from assist import logs
from assist.events import CallEnded, CallStarted, CallUpdated, Prompt, TranscriptSegment
from assist.store.db import INTEGRITY_ERRORS, Database
from assist.store.jsonvalues import dumps_finite

log = logs.get(__name__)
# the key under which a call's metadata notes the fields whose non-finite numbers were stored as null
NULLED_NOTE = "non_finite_nulled"


def _meta_json(call_id: str, meta: dict[str, Any]) -> str:
    """A call's metadata as JSON SQLite can patch: non-finite numbers become null, noted in the metadata
    and logged (they should have been refused at ingress)."""
    text, nulled = dumps_finite(meta)
    if nulled:
        log.warning("non-finite numbers in call metadata stored as null", call_id=call_id, fields=nulled)
        text, _ = dumps_finite({**json.loads(text), NULLED_NOTE: nulled})
    return text


class DuplicateSegment(Exception):
    """A final segment's id is already stored: the store keeps the first and refuses the second."""


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


class CallStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def upsert_started(self, ev: CallStarted, status: str = "live") -> None:
        await self.db.execute(
            """
            INSERT INTO calls(call_id, protocol, external_id, agent_id, account_id, language, customer_phone,
                              direction, status, transcribed, started_at, meta)
            VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
            ON CONFLICT(call_id) DO UPDATE SET
                protocol=CASE WHEN excluded.protocol='api' THEN calls.protocol ELSE excluded.protocol END,
                external_id=COALESCE(excluded.external_id, calls.external_id),
                agent_id=COALESCE(excluded.agent_id, calls.agent_id),
                account_id=COALESCE(excluded.account_id, calls.account_id),
                language=excluded.language,
                customer_phone=COALESCE(excluded.customer_phone, calls.customer_phone),
                direction=COALESCE(excluded.direction, calls.direction),
                status=CASE WHEN calls.status='ended' THEN calls.status ELSE excluded.status END,
                transcribed=excluded.transcribed,
                started_at=COALESCE(calls.started_at, excluded.started_at),
                meta=json_patch(calls.meta, excluded.meta)
            """,
            (
                ev.call_id,
                ev.protocol,
                ev.external_id,
                ev.agent_id,
                ev.account_id,
                ev.language,
                ev.customer_phone,
                ev.direction,
                status,
                int(ev.transcribed),
                _iso(ev.started_at) if status != "registered" else None,
                _meta_json(ev.call_id, ev.meta),
            ),
        )

    async def update(self, ev: CallUpdated) -> None:
        await self.db.execute(
            """UPDATE calls SET agent_id=COALESCE(?, agent_id), account_id=COALESCE(?, account_id),
               language=COALESCE(?, language), meta=json_patch(meta, ?) WHERE call_id=?""",
            (ev.agent_id, ev.account_id, ev.language, _meta_json(ev.call_id, ev.meta), ev.call_id),
        )

    async def ended(self, ev: CallEnded) -> None:
        await self.db.execute(
            "UPDATE calls SET status='ended', ended_at=?, end_reason=?, duration=? WHERE call_id=?",
            (_iso(ev.ended_at), ev.reason, ev.duration, ev.call_id),
        )

    async def add_segment(self, seg: TranscriptSegment) -> None:
        """Store a final segment.  A segment id already stored is never overwritten (a transcript is
        append-only): DuplicateSegment is raised instead, for the caller to log."""
        if not seg.final:
            raise ValueError("only final segments are stored")
        try:
            await self.db.execute(
                """INSERT INTO segments(segment_id, call_id, speaker, idx, start, "end", text, words,
                   loudness_db, language, at) VALUES (?,?,?,?,?,?,?,?,?,?,?)""",
                (
                    seg.segment_id,
                    seg.call_id,
                    seg.speaker,
                    seg.index,
                    seg.start,
                    seg.end,
                    seg.text,
                    json.dumps([w.model_dump() for w in seg.words]),
                    seg.loudness_db,
                    seg.language,
                    _iso(seg.at),
                ),
            )
        except INTEGRITY_ERRORS as exc:
            raise DuplicateSegment(f"segment {seg.segment_id} is already stored; not overwritten") from exc

    async def add_prompt(self, p: Prompt) -> None:
        await self.db.execute(
            """INSERT INTO prompts(prompt_id, call_id, kind, severity, body, created_at) VALUES (?,?,?,?,?,?)
               ON CONFLICT(prompt_id) DO UPDATE SET call_id=excluded.call_id, kind=excluded.kind,
                 severity=excluded.severity, body=excluded.body, created_at=excluded.created_at""",
            (p.prompt_id, p.call_id, p.kind, p.severity, p.model_dump_json(), _iso(p.created_at)),
        )

    async def get(self, call_id: str) -> dict[str, Any] | None:
        row = await self.db.fetchone("SELECT * FROM calls WHERE call_id=?", (call_id,))
        return _call_row(row) if row else None

    async def list_calls(
        self, *, status: str | None = None, agent_id: str | None = None, account_id: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        where, params = [], []
        for col, val in (("status", status), ("agent_id", agent_id), ("account_id", account_id)):
            if val is not None:
                where.append(f"{col}=?")
                params.append(val)
        sql = "SELECT * FROM calls" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY COALESCE(started_at, created_at) DESC LIMIT ?"
        rows = await self.db.fetchall(sql, (*params, limit))
        return [_call_row(r) for r in rows]

    async def transcript(self, call_id: str) -> list[dict[str, Any]]:
        rows = await self.db.fetchall("SELECT * FROM segments WHERE call_id=? ORDER BY start, speaker", (call_id,))
        return [
            {
                "segment_id": r["segment_id"],
                "speaker": r["speaker"],
                "index": r["idx"],
                "start": r["start"],
                "end": r["end"],
                "text": r["text"],
                "words": json.loads(r["words"]),
                "loudness_db": r["loudness_db"],
                "language": r["language"],
            }
            for r in rows
        ]

    async def prompts(self, call_id: str) -> list[dict[str, Any]]:
        rows = await self.db.fetchall("SELECT body FROM prompts WHERE call_id=? ORDER BY created_at", (call_id,))
        return [json.loads(r["body"]) for r in rows]

    async def prompts_above_info(self, call_ids: list[str]) -> list[Prompt]:
        """The prompts above 'info' of these calls (what the console may show as alerts)."""
        if not call_ids:
            return []
        marks = ",".join("?" * len(call_ids))
        rows = await self.db.fetchall(
            f"SELECT body FROM prompts WHERE severity != 'info' AND call_id IN ({marks})", tuple(call_ids)
        )
        return [Prompt.model_validate_json(r["body"]) for r in rows]

    async def call_of_prompt(self, prompt_id: str) -> str | None:
        row = await self.db.fetchone("SELECT call_id FROM prompts WHERE prompt_id=?", (prompt_id,))
        return str(row["call_id"]) if row else None

    # ------------------------------------------------------------------ start-up recovery

    async def unsummarised(self) -> list[dict[str, Any]]:
        """Calls a crash left without a summary: still 'live', or ended with no summary row."""
        rows = await self.db.fetchall(
            "SELECT * FROM calls WHERE status='live' OR (status='ended' AND NOT EXISTS "
            "(SELECT 1 FROM summaries s WHERE s.call_id = calls.call_id))"
        )
        return [_call_row(r) for r in rows]

    async def cancel_registered(self, call_id: str, reason: str) -> None:
        """A registered call that never started was called off: 'cancelled' (not 'ended', which start-up
        recovery would try to summarise)."""
        await self.db.execute(
            "UPDATE calls SET status='cancelled', end_reason=? WHERE call_id=? AND status='registered'",
            (reason, call_id),
        )

    async def mark_ended(self, call_id: str, reason: str) -> None:
        """End a call whose summary could not be written (its other end fields stay)."""
        await self.db.execute("UPDATE calls SET status='ended', end_reason=? WHERE call_id=?", (reason, call_id))


def _call_row(row: Any) -> dict[str, Any]:
    d = dict(row)
    d["meta"] = json.loads(d.get("meta") or "{}")
    d["transcribed"] = bool(d.get("transcribed"))
    return d
