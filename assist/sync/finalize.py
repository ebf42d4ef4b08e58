"""A summary's life in the database: written with the call's final state, edited, submitted.

Every function runs in ONE transaction that changes the call, the summary and its outbox rows together, so a
crash leaves either all of it or none.  At call end the outbox rows are `held` until the agent submits or the
grace period runs out (their `next_attempt_at` is that moment, so the durable schedule needs no timer).
An edit before anything went out rewrites the waiting rows; an edit after delivery adds a row for the new
version, which the CRM receives as an update of the same record.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from assist.store.db import Database, _Tx
from assist.store.outbox import (
    insert_item,
    latest_items,
    release_summary,
    revise_item,
    supersede_dead,
)
from assist.store.summaries import get_summary_row, insert_summary, update_summary
from assist.sync.clock import from_iso, to_datetime
from assist.sync.settings import SyncSettings
from assist.sync.summary import (
    EDITABLE_FIELDS,
    Summary,
    SummaryError,
    _dispute,
    apply_edits,
    build_summary_data,
    summary_id_for,
    validate_summary,
)

RELEASED = ("submitted", "auto_submitted")


@dataclass(frozen=True, slots=True)
class CallEnd:
    """The call's final state, written in the same transaction as its summary."""

    ended_at: str  # ISO-8601
    reason: str
    duration: float


class SummaryState(BaseModel):
    """What the sidebar and the API show about a call's summary."""

    summary_id: str
    call_id: str
    version: int
    state: str
    error: str | None
    due_at: datetime
    release_at: datetime
    submitted_at: datetime | None
    summary: dict[str, Any]
    deliveries: list[dict[str, Any]]


def _ts(now: float | datetime) -> float:
    return now.timestamp() if isinstance(now, datetime) else float(now)


async def _state(tx: _Tx | Database, call_id: str) -> SummaryState:
    row = await get_summary_row(tx, call_id)
    if row is None:
        raise LookupError(f"call {call_id} has no summary")
    items = await latest_items(tx, row["summary_id"])
    return SummaryState(
        summary_id=row["summary_id"],
        call_id=call_id,
        version=row["version"],
        state=row["state"],
        error=row["error"],
        due_at=to_datetime(row["due_at"]),
        release_at=to_datetime(row["release_at"]),
        submitted_at=to_datetime(row["submitted_at"]),
        summary=row["body"],
        deliveries=[
            {
                "item_id": i["id"],
                "target": i["target"],
                "version": i["version"],
                "status": i["status"],
                "attempts": i["attempts"],
                "last_error": i["last_error"],
                "late": bool(i["late"]),
            }
            for i in sorted(items.values(), key=lambda i: i["target"])
        ],
    )


async def _mark_call(tx: _Tx, call_id: str, summary_id: str, version: int, state: str) -> None:
    patch = json.dumps({"summary": {"id": summary_id, "version": version, "state": state}})
    await tx.execute("UPDATE calls SET meta=json_patch(meta, ?) WHERE call_id=?", (patch, call_id))


async def finalize_call(
    db: Database,
    call_id: str,
    summary: Summary | dict[str, Any],
    targets: Sequence[str],
    now: float | datetime,
    *,
    settings: SyncSettings | None = None,
    end: CallEnd | None = None,
) -> SummaryState:
    """In one transaction: end the call (status 'ended', `end` fields, summary state in calls.meta),
    store version 1 of the summary and one outbox row per CRM target.  A summary that does not validate
    is stored as 'invalid' and its rows dead-lettered with the reason (an edit that fixes it re-queues
    them).  Calling it again for the same call changes nothing and returns the stored state."""
    cfg = settings or SyncSettings()
    t = _ts(now)
    error: str | None = None
    if isinstance(summary, Summary):
        valid: Summary | None = summary
        body = summary.model_dump(mode="json")
    else:
        body = dict(summary)
        try:
            valid = validate_summary(body)
            body = valid.model_dump(mode="json")
        except SummaryError as e:
            valid, error = None, str(e)
    if body.get("call_id", call_id) != call_id:
        raise ValueError(f"summary is for call {body.get('call_id')!r}, not {call_id!r}")
    summary_id = body.get("summary_id") or summary_id_for(call_id)
    async with db.transaction() as tx:
        calls = await tx.fetchall("SELECT ended_at FROM calls WHERE call_id=?", (call_id,))
        if not calls:
            raise LookupError(f"no call {call_id}")
        if await get_summary_row(tx, call_id) is None:
            ended = from_iso(end.ended_at if end else calls[0]["ended_at"]) or t
            due, release = ended + cfg.deadline_seconds, t + cfg.grace_seconds
            state = "draft" if valid else "invalid"
            await tx.execute(
                "UPDATE calls SET status='ended', ended_at=COALESCE(ended_at, ?) WHERE call_id=?",
                (to_datetime(t).isoformat(), call_id),  # type: ignore[union-attr]
            )
            if end is not None:
                await tx.execute(
                    "UPDATE calls SET ended_at=?, end_reason=?, duration=? WHERE call_id=?",
                    (end.ended_at, end.reason, end.duration, call_id),
                )
            await _mark_call(tx, call_id, summary_id, 1, state)
            await insert_summary(
                tx,
                summary_id=summary_id,
                call_id=call_id,
                version=1,
                state=state,
                language=body.get("language"),
                body=body,
                error=error,
                call_ended_at=ended,
                due_at=due,
                release_at=release,
                now=t,
            )
            payload = json.dumps(body, ensure_ascii=False)
            for target in dict.fromkeys(targets):
                await insert_item(
                    tx,
                    summary_id=summary_id,
                    call_id=call_id,
                    target=target,
                    version=1,
                    payload=payload,
                    status="held" if valid else "dead",
                    next_attempt_at=release,
                    call_ended_at=ended,
                    due_at=due,
                    now=t,
                    last_error=error,
                    last_error_kind=None if valid else "invalid_summary",
                )
        return await _state(tx, call_id)


async def finalize_from_findings(
    db: Database,
    call_id: str,
    findings: Any,
    targets: Sequence[str],
    now: float | datetime,
    *,
    settings: SyncSettings | None = None,
    segments: list[dict[str, Any]] | None = None,
    recorded: bool = False,
    end: CallEnd | None = None,
) -> SummaryState:
    """Build the summary from the stored call row and the coach's findings, then `finalize_call`."""
    cfg = settings or SyncSettings()
    rows = await db.fetchall("SELECT * FROM calls WHERE call_id=?", (call_id,))
    if not rows:
        raise LookupError(f"no call {call_id}")
    call = dict(rows[0])
    call["meta"] = json.loads(call.get("meta") or "{}")
    if end is not None:
        call.update(ended_at=end.ended_at, end_reason=end.reason, duration=end.duration)
    if not call.get("ended_at"):
        call["ended_at"] = to_datetime(_ts(now)).isoformat()  # type: ignore[union-attr]
    data = build_summary_data(call, findings, segments=segments, public_url=cfg.public_url, recorded=recorded)
    return await finalize_call(db, call_id, data, targets, now, settings=cfg, end=end)


def _merge_raw(raw: dict[str, Any], edits: dict[str, Any]) -> dict[str, Any]:
    bad = sorted(set(edits) - EDITABLE_FIELDS)
    if bad:
        raise SummaryError([f"{k}: not editable" for k in bad], "edit")
    data = dict(raw)
    for key, value in edits.items():
        data[key] = _dispute(value) if key == "dispute" else value
    data["edited_fields"] = list(dict.fromkeys([*(raw.get("edited_fields") or []), *edits]))
    if "narrative" not in data["edited_fields"]:
        data["narrative"] = ""
    return data


async def edit_summary(
    db: Database,
    call_id: str,
    edits: dict[str, Any],
    now: float | datetime,
    *,
    by: str | None = None,
    submit: bool = False,
    settings: SyncSettings | None = None,
) -> SummaryState:
    """Merge the agent's edits into the next version (SummaryError, and nothing changed, if they do not
    validate) and queue it: rewriting rows that have not gone out, adding update rows for delivered ones."""
    cfg = settings or SyncSettings()
    t = _ts(now)
    async with db.transaction() as tx:
        row = await get_summary_row(tx, call_id)
        if row is None:
            raise LookupError(f"call {call_id} has no summary")
        at = to_datetime(t)
        if row["state"] == "invalid":
            data = _merge_raw(row["body"], edits)
            data["version"] = row["version"] + 1
            data["updated_at"] = at.isoformat() if at else None
            new = validate_summary(data)
        else:
            new = apply_edits(Summary.model_validate(row["body"]), edits, at)
        released = submit or row["state"] in RELEASED or t >= row["release_at"]
        state = "submitted" if submit else row["state"] if row["state"] in RELEASED else "draft"
        payload = new.model_dump_json()
        for target, item in (await latest_items(tx, row["summary_id"])).items():
            go_status, go_at = ("pending", t) if released else ("held", row["release_at"])
            if item["status"] in ("held", "pending"):
                await revise_item(
                    tx,
                    item["id"],
                    summary_id=row["summary_id"],
                    version=new.version,
                    payload=payload,
                    now=t,
                    status="pending" if submit else None,
                    next_attempt_at=t if submit else None,
                )
            elif item["status"] == "dead" and item["last_error_kind"] == "invalid_summary":
                await revise_item(
                    tx,
                    item["id"],
                    summary_id=row["summary_id"],
                    version=new.version,
                    payload=payload,
                    now=t,
                    status=go_status,
                    next_attempt_at=go_at,
                )
            else:
                due = (
                    max(row["due_at"], t + cfg.deadline_seconds)
                    if item["status"] == "done"
                    else row["due_at"]
                )
                await insert_item(
                    tx,
                    summary_id=row["summary_id"],
                    call_id=call_id,
                    target=target,
                    version=new.version,
                    payload=payload,
                    status=go_status,
                    next_attempt_at=go_at,
                    call_ended_at=row["call_ended_at"],
                    due_at=due,
                    now=t,
                )
                await supersede_dead(tx, row["summary_id"], target, new.version, t)
        history = [*row["edits"], {"version": new.version, "at": t, "by": by, "fields": sorted(edits)}]
        await update_summary(
            tx,
            row["summary_id"],
            version=new.version,
            state=state,
            body=new.model_dump(mode="json"),
            error=None,
            edits=history,
            now=t,
            submitted_at=t if submit else None,
        )
        await _mark_call(tx, call_id, row["summary_id"], new.version, state)
        return await _state(tx, call_id)


async def submit_summary(
    db: Database,
    call_id: str,
    now: float | datetime,
    *,
    edits: dict[str, Any] | None = None,
    by: str | None = None,
    settings: SyncSettings | None = None,
) -> SummaryState:
    """The agent pressed submit (optionally with last edits): the held rows go out now."""
    if edits:
        return await edit_summary(db, call_id, edits, now, by=by, submit=True, settings=settings)
    t = _ts(now)
    async with db.transaction() as tx:
        row = await get_summary_row(tx, call_id)
        if row is None:
            raise LookupError(f"call {call_id} has no summary")
        if row["state"] == "invalid":
            raise SummaryError([f"cannot submit: {row['error']}; correct the fields first"], "summary")
        if row["state"] != "submitted":
            await tx.execute(
                "UPDATE summaries SET state='submitted', submitted_at=?, updated_at=? WHERE summary_id=?",
                (t, t, row["summary_id"]),
            )
            await _mark_call(tx, call_id, row["summary_id"], row["version"], "submitted")
        await release_summary(tx, row["summary_id"], t)
        return await _state(tx, call_id)


async def get_summary(db: Database, call_id: str) -> SummaryState | None:
    try:
        return await _state(db, call_id)
    except LookupError:
        return None
