"""What the sidebar needs from the post-call summary: the draft, edits, submit and CRM delivery state.

`SummaryService` is the interface the browser layer calls; `SyncSummaryService` backs it with the summary and
outbox tables of assist.sync (finalize.get_summary / edit_summary / submit_summary).  What it returns
(`SummaryDraft`, `DeliveryState`) is also what the browser protocol sends.  The draft itself is
written at call end by whoever finalizes the call (the sync wiring); the browser layer polls for it and
pushes it to the agent (`BrowserHub.summary_changed(call_id)` pushes at once).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from assist.store.db import Database
from assist.sync.settings import SyncSettings

SummaryStateName = Literal["draft", "submitted", "auto_submitted", "invalid"]
DeliveryStatus = Literal["awaiting_summary", "no_targets", "waiting_submit", "queued", "sending", "delivered", "failed"]


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Delivery(_Msg):
    target: str
    status: str = Field(description="held, pending, inflight, done, dead, superseded")
    attempts: int = 0
    last_error: str | None = None
    late: bool = False


class SummaryDraft(_Msg):
    """The post-call summary the agent reviews, edits and submits (`version` grows with each edit)."""

    type: Literal["summary_draft"] = "summary_draft"
    call_id: str
    summary_id: str
    version: int
    state: SummaryStateName
    error: str | None = Field(None, description="why an invalid summary did not validate")
    summary: dict[str, Any]
    editable: list[str] = Field(default_factory=list, description="fields the agent may change")
    outcomes: list[str] = Field(default_factory=list, description="allowed values of `outcome`")
    due_at: datetime | None = Field(None, description="the CRM must have it by then (call end + 2 h)")
    release_at: datetime | None = Field(None, description="auto-submitted then if the agent has not submitted")
    submitted_at: datetime | None = None


class DeliveryState(_Msg):
    """Where a call's summary is on its way to the CRM, and the deadline."""

    type: Literal["delivery_state"] = "delivery_state"
    call_id: str
    status: DeliveryStatus
    summary_state: SummaryStateName | None = None
    due_at: datetime | None = None
    overdue: bool = False
    deliveries: list[Delivery] = Field(default_factory=list)
    as_of: datetime


class SummaryRejected(ValueError):
    """An edit or submit did not validate; `problems` lists 'field: what is wrong'."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class SummaryService(Protocol):
    async def get_draft(self, call_id: str) -> SummaryDraft | None:
        """The call's summary as it stands (None until the call has one)."""
        ...

    async def edit(self, call_id: str, edits: dict[str, Any], user: str) -> SummaryDraft:
        """Save the agent's edits as the next version without submitting.  Raises SummaryRejected
        (nothing changed) or LookupError (no summary)."""
        ...

    async def submit(self, call_id: str, edits: dict[str, Any] | None, user: str) -> SummaryDraft:
        """Apply the last edits (if any) and release the summary to the CRM now."""
        ...

    async def delivery_state(self, call_id: str) -> DeliveryState | None:
        """Where the summary is on its way to each CRM target, and its deadline (None: no summary yet)."""
        ...


def overall_status(summary_state: str | None, statuses: list[str]) -> str:
    """One word for the sidebar from the summary state and the outbox rows of its latest version."""
    live = [s for s in statuses if s != "superseded"]
    if summary_state is None:
        return "awaiting_summary"
    if not live:
        return "no_targets"
    if "dead" in live:
        return "failed"
    if all(s == "done" for s in live):
        return "delivered"
    if "inflight" in live:
        return "sending"
    if "pending" in live:
        return "queued"
    return "waiting_submit"


class SyncSummaryService:
    """SummaryService over assist.sync.finalize (the same transactions the CRM outbox uses)."""

    def __init__(self, db: Database, settings: SyncSettings | None = None) -> None:
        self.db = db
        self.settings = settings

    async def get_draft(self, call_id: str) -> SummaryDraft | None:
        from assist.sync.finalize import get_summary

        st = await get_summary(self.db, call_id)
        return _draft(st) if st is not None else None

    async def edit(self, call_id: str, edits: dict[str, Any], user: str) -> SummaryDraft:
        from assist.sync.finalize import edit_summary
        from assist.sync.summary import SummaryError

        try:
            st = await edit_summary(self.db, call_id, edits, datetime.now(UTC), by=user, settings=self.settings)
        except SummaryError as e:
            raise SummaryRejected(e.problems) from None
        return _draft(st)

    async def submit(self, call_id: str, edits: dict[str, Any] | None, user: str) -> SummaryDraft:
        from assist.sync.finalize import submit_summary
        from assist.sync.summary import SummaryError

        try:
            st = await submit_summary(
                self.db, call_id, datetime.now(UTC), edits=edits or None, by=user, settings=self.settings
            )
        except SummaryError as e:
            raise SummaryRejected(e.problems) from None
        return _draft(st)

    async def delivery_state(self, call_id: str) -> DeliveryState | None:
        from assist.sync.finalize import get_summary

        st = await get_summary(self.db, call_id)
        if st is None:
            return None
        now = datetime.now(UTC)
        deliveries = [
            Delivery(
                target=d["target"],
                status=d["status"],
                attempts=d.get("attempts") or 0,
                last_error=d.get("last_error"),
                late=bool(d.get("late")),
            )
            for d in st.deliveries
        ]
        status = overall_status(st.state, [d.status for d in deliveries])
        return DeliveryState(
            call_id=call_id,
            status=status,
            summary_state=st.state,
            due_at=st.due_at,
            overdue=status not in ("delivered", "no_targets") and now > st.due_at,
            deliveries=deliveries,
            as_of=now,
        )


def _draft(st: Any) -> SummaryDraft:
    from assist.sync.summary import EDITABLE_FIELDS, OUTCOMES

    return SummaryDraft(
        call_id=st.call_id,
        summary_id=st.summary_id,
        version=st.version,
        state=st.state,
        error=st.error,
        summary=st.summary,
        editable=sorted(EDITABLE_FIELDS),
        outcomes=list(OUTCOMES),
        due_at=st.due_at,
        release_at=st.release_at,
        submitted_at=st.submitted_at,
    )
