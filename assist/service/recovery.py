"""Start-up recovery: calls a crash left without a summary get one.

Ending a call and writing its summary are two steps, so a kill can fall between them.  At start-up a call
still 'live' in the store is ended as 'interrupted'; a call whose end was stored but whose summary was not
keeps its own end.  Either way the coach re-judges the stored transcript and the summary is written as at a
normal call end.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from assist import logs
from assist.accounts import Account
from assist.coach.engine import CallCoach, CallContext
from assist.coach.findings import Findings
from assist.coach.playbook import load_playbook
from assist.events import Prompt, TranscriptSegment, Word
from assist.service import alerts
from assist.store.accounts import AccountStore
from assist.store.calls import CallStore
from assist.sync.finalize import CallEnd

log = logs.get(__name__)

Finalize = Callable[[str, Findings, CallEnd], Awaitable[None]]


async def recover(
    store: CallStore, accounts: AccountStore, finalize: Finalize, alert: Callable[[Prompt], None] | None = None
) -> int:
    """Summarise every call a crash left without a summary; returns how many there were.  A summary that
    cannot be written is logged and, with `alert`, raised to supervisors (it is tried again at the next start)."""
    rows = await store.unsummarised()
    for row in rows:
        call_id = row["call_id"]
        transcript = await store.transcript(call_id)
        account = await accounts.get(row["account_id"]) if row["account_id"] else None
        end = _end_of(row, transcript)
        try:
            await finalize(call_id, rejudge(row, transcript, account), end)
        except Exception as exc:
            log.exception("could not summarise a call after a crash", call_id=call_id)
            if alert is not None:
                alert(alerts.summary_failed(call_id, exc, at_startup=True))
            # end it all the same (an ended call keeps its own reason); the next start-up tries the summary again
            await store.mark_ended(call_id, end.reason)
    if rows:
        log.warning(
            "calls an earlier crash left without a summary were summarised",
            count=len(rows),
            interrupted=sum(1 for r in rows if r["status"] == "live"),
        )
    return len(rows)


def rejudge(call: dict[str, Any], transcript: list[dict[str, Any]], account: Account | None) -> Findings:
    """The coach's findings for a stored call, from its stored final segments."""
    call_id = call["call_id"]
    started = datetime.fromisoformat(call["started_at"]) if call["started_at"] else datetime.now(UTC)
    playbook = load_playbook(call["language"])
    coach = CallCoach(
        CallContext(
            call_id=call_id,
            language=playbook.language,
            started_at=started,
            account=account,
            agent_id=call["agent_id"],
            direction=call["direction"],
        ),
        playbook,
    )
    coach.start()
    for seg in transcript:
        coach.on_segment(
            TranscriptSegment(
                call_id=call_id,
                segment_id=seg["segment_id"],
                index=seg["index"],
                speaker=seg["speaker"],
                final=True,
                start=seg["start"],
                end=seg["end"],
                text=seg["text"],
                words=[Word(**w) for w in seg["words"]],
                loudness_db=seg["loudness_db"],
                language=seg["language"] or call["language"],
            )
        )
    coach.end()
    return coach.findings()


def _end_of(call: dict[str, Any], transcript: list[dict[str, Any]]) -> CallEnd:
    """An ended call keeps its stored end; one left live ends now as 'interrupted', as long as its audio."""
    if call["status"] == "ended" and call["ended_at"]:
        return CallEnd(call["ended_at"], call["end_reason"] or "hangup", float(call["duration"] or 0.0))
    return CallEnd(datetime.now(UTC).isoformat(), "interrupted", max((s["end"] for s in transcript), default=0.0))
