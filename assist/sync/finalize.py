"""A summary's life in the database: written with the call's final state, edited, submitted.

Every function runs in ONE transaction that changes the call, the summary and its outbox rows together, so a
crash leaves either all of it or none.  At call end the outbox rows are `held` until the agent submits or the
grace period runs out (their `next_attempt_at` is that moment, so the durable schedule needs no timer).
An edit before anything went out rewrites the waiting rows; an edit after delivery adds a row for the new
version, which the CRM receives as an update of the same record.
Each change is planned here (pure: which rows to write, in which state) and written by assist.store.summaries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from assist.store.calls import CallStore
from assist.store.db import Database, Queryable
from assist.store.outbox import latest_items
from assist.store.summaries import (
    CallEnd,
    FirstVersion,
    ItemRevision,
    NewItem,
    NextVersion,
    get_summary_row,
    lock_call,
    write_first_version,
    write_next_version,
    write_submitted,
)
from assist.store.summaries import call_ended_at as stored_end
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

__all__ = [
    "CallEnd",
    "SummaryState",
    "edit_summary",
    "finalize_call",
    "finalize_from_findings",
    "get_summary",
    "submit_summary",
]

RELEASED = ("submitted", "auto_submitted")


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


def _iso(t: float) -> str:
    at = to_datetime(t)
    assert at is not None
    return at.isoformat()


async def _state(tx: Queryable, call_id: str) -> SummaryState:
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


# ---------------------------------------------------------------------------------------------- call end


Checked = tuple[dict[str, Any], bool, str | None]  # the body to store, whether it validated, why not


def _validated(call_id: str, summary: Summary | dict[str, Any]) -> Checked:
    if isinstance(summary, Summary):
        body, valid, error = summary.model_dump(mode="json"), True, None
    else:
        body, valid, error = dict(summary), False, None
        try:
            body, valid = validate_summary(body).model_dump(mode="json"), True
        except SummaryError as e:
            error = str(e)
    if body.get("call_id", call_id) != call_id:
        raise ValueError(f"summary is for call {body.get('call_id')!r}, not {call_id!r}")
    return body, valid, error


def plan_first_version(
    call_id: str,
    checked: Checked,
    targets: Sequence[str],
    t: float,
    cfg: SyncSettings,
    *,
    stored_ended_at: str | None,
    end: CallEnd | None,
) -> FirstVersion:
    """Version 1 and one outbox row per target: held until the release time, or dead-lettered with the
    reason when the summary does not validate."""
    body, valid, error = checked
    ended = from_iso(end.ended_at if end else stored_ended_at) or t
    due, release = ended + cfg.deadline_seconds, t + cfg.grace_seconds
    payload = json.dumps(body, ensure_ascii=False)
    items = [
        NewItem(
            target=target,
            version=1,
            payload=payload,
            status="held" if valid else "dead",
            next_attempt_at=release,
            call_ended_at=ended,
            due_at=due,
            last_error=error,
            last_error_kind=None if valid else "invalid_summary",
        )
        for target in dict.fromkeys(targets)
    ]
    return FirstVersion(
        call_id=call_id,
        summary_id=body.get("summary_id") or summary_id_for(call_id),
        state="draft" if valid else "invalid",
        language=body.get("language"),
        body=body,
        error=error,
        call_ended_at=ended,
        due_at=due,
        release_at=release,
        now=t,
        ended_at_default=_iso(t),
        end=end,
        items=items,
    )


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
    checked = _validated(call_id, summary)
    async with db.transaction() as tx:
        await lock_call(tx, call_id)
        exists, ended_at = await stored_end(tx, call_id)
        if not exists:
            raise LookupError(f"no call {call_id}")
        if await get_summary_row(tx, call_id) is None:
            plan = plan_first_version(call_id, checked, targets, t, cfg, stored_ended_at=ended_at, end=end)
            await write_first_version(tx, plan)
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
    call = await CallStore(db).get(call_id)
    if call is None:
        raise LookupError(f"no call {call_id}")
    if end is not None:
        call.update(ended_at=end.ended_at, end_reason=end.reason, duration=end.duration)
    if not call.get("ended_at"):
        call["ended_at"] = _iso(_ts(now))
    data = build_summary_data(call, findings, segments=segments, public_url=cfg.public_url, recorded=recorded)
    return await finalize_call(db, call_id, data, targets, now, settings=cfg, end=end)


# ---------------------------------------------------------------------------------------------- edits


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


def _edited(row: dict[str, Any], edits: dict[str, Any], t: float) -> Summary:
    """The next version with the edits applied (SummaryError if it does not validate)."""
    at = to_datetime(t)
    if row["state"] != "invalid":
        return apply_edits(Summary.model_validate(row["body"]), edits, at)
    data = _merge_raw(row["body"], edits)
    data["version"] = row["version"] + 1
    data["updated_at"] = at.isoformat() if at else None
    return validate_summary(data)


def plan_next_version(
    row: dict[str, Any],
    items: dict[str, dict[str, Any]],
    edits: dict[str, Any],
    t: float,
    cfg: SyncSettings,
    *,
    by: str | None,
    submit: bool,
) -> NextVersion:
    """What an edit writes: rows that have not gone out take the new version (a dead-lettered invalid one
    goes back in the queue); for a row that went out (or died otherwise) a new row carries the update."""
    new = _edited(row, edits, t)
    released = submit or row["state"] in RELEASED or t >= row["release_at"]
    go_status, go_at = ("pending", t) if released else ("held", row["release_at"])
    payload = new.model_dump_json()
    revisions: list[ItemRevision] = []
    new_items: list[NewItem] = []
    for target, item in items.items():
        if item["status"] in ("held", "pending"):
            revisions.append(ItemRevision(item["id"], "pending" if submit else None, t if submit else None))
        elif item["status"] == "dead" and item["last_error_kind"] == "invalid_summary":
            revisions.append(ItemRevision(item["id"], go_status, go_at))
        else:
            due = max(row["due_at"], t + cfg.deadline_seconds) if item["status"] == "done" else row["due_at"]
            new_items.append(
                NewItem(
                    target=target,
                    version=new.version,
                    payload=payload,
                    status=go_status,
                    next_attempt_at=go_at,
                    call_ended_at=row["call_ended_at"],
                    due_at=due,
                )
            )
    state = "submitted" if submit else row["state"] if row["state"] in RELEASED else "draft"
    history = [*row["edits"], {"version": new.version, "at": t, "by": by, "fields": sorted(edits)}]
    return NextVersion(
        call_id=row["call_id"],
        summary_id=row["summary_id"],
        version=new.version,
        state=state,
        body=new.model_dump(mode="json"),
        payload=payload,
        edits=history,
        now=t,
        submitted_at=t if submit else None,
        revisions=revisions,
        new_items=new_items,
    )


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
        await lock_call(tx, call_id)
        row = await get_summary_row(tx, call_id)
        if row is None:
            raise LookupError(f"call {call_id} has no summary")
        items = await latest_items(tx, row["summary_id"])
        await write_next_version(tx, plan_next_version(row, items, edits, t, cfg, by=by, submit=submit))
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
        await lock_call(tx, call_id)
        row = await get_summary_row(tx, call_id)
        if row is None:
            raise LookupError(f"call {call_id} has no summary")
        if row["state"] == "invalid":
            raise SummaryError([f"cannot submit: {row['error']}; correct the fields first"], "summary")
        await write_submitted(tx, call_id, row["summary_id"], row["version"], t, already=row["state"] == "submitted")
        return await _state(tx, call_id)


async def get_summary(db: Database, call_id: str) -> SummaryState | None:
    try:
        return await _state(db, call_id)
    except LookupError:
        return None
