"""Connects the coach and the CRM sync to live calls (the stream knows neither).

* account and contact history for each call's coach: the CRM (bounded timeout, cache, last known
  record) when `ASSIST_SYNC_ACCOUNT_SOURCE` is set, else the accounts in the store;
* at call end: the coach's findings become the summary, written in ONE transaction with the call's
  final state and its outbox rows, before the `call_ended` event is shown to anybody;
* after a crash: calls left live are ended as 'interrupted' and summarised from their stored
  transcript, re-judged by the coach, so no call goes without a summary.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from assist import logs
from assist.coach.accounts import Account, AccountError, parse_account
from assist.coach.dialing import ContactHistory
from assist.coach.engine import CallCoach, CallContext
from assist.coach.findings import Findings
from assist.coach.playbook import load_playbook
from assist.events import CallEnded, CallStarted, TranscriptSegment, Word
from assist.service.context import Context
from assist.store.accounts import AccountStore
from assist.sync.accounts import AccountLookup
from assist.sync.crm import build_adapter
from assist.sync.finalize import CallEnd, finalize_from_findings
from assist.sync.settings import SyncSettings

log = logs.get(__name__)
HISTORY_DAYS = 8  # the longest contact-rule window (Regulation F: 7 days) plus a day of time-zone slack


class CallServices:
    def __init__(self, ctx: Context, sync: SyncSettings) -> None:
        self.ctx = ctx
        self.sync = sync
        self.accounts = AccountStore(ctx.db)
        self.lookup: AccountLookup | None = None
        if sync.account_source:
            self.lookup = AccountLookup(build_adapter(sync.account_source, sync), timeout=sync.account_timeout,
                                        ttl=sync.account_cache_seconds)

    async def load_context(self, st: CallStarted) -> tuple[Account | None, ContactHistory | None]:
        if not st.account_id:
            return None, None
        account: Account | None = None
        if self.lookup is not None:
            card = await self.lookup.get(st.account_id)
            if card.record is not None:
                try:
                    account = parse_account({"id": st.account_id, **card.record}, where=f"CRM account {st.account_id}")
                except AccountError as e:
                    log.warning("CRM account record unusable; trying the local store", call_id=st.call_id,
                                error=str(e))
        if account is None:
            account = await self.accounts.get(st.account_id)
        history = await self.accounts.history(st.account_id, since=st.started_at - timedelta(days=HISTORY_DAYS))
        await self.accounts.record_attempt(st.account_id, st.started_at, connected=True,
                                           channel="human", call_id=st.call_id)
        return account, history.before(st.started_at, exclude_call=st.call_id)

    async def on_findings(self, st: CallStarted, ended: CallEnded, findings: Findings) -> None:
        await self.ctx.hub.drain()  # every segment and prompt of the call is stored
        await self._finalize(st.call_id, findings, CallEnd(ended.ended_at.isoformat(), ended.reason, ended.duration))

    async def _finalize(self, call_id: str, findings: Findings, end: CallEnd) -> None:
        segments = await self.ctx.store.transcript(call_id)
        await finalize_from_findings(self.ctx.db, call_id, findings.model_dump(mode="json"), self.sync.targets,
                                     time.time(), settings=self.sync, segments=segments, end=end)
        worker = self.ctx.extras.get("sync_worker")
        if worker is not None:
            worker.wake()

    async def recover(self) -> int:
        """Calls a crash left without a summary: a call left 'live' is ended as interrupted; a call that had
        ended (its end stored) but whose summary was not yet written keeps its own end.  Both are summarised
        from the stored transcript.  (Ending a call and writing its summary are two steps: a kill between
        them used to lose the summary for good, since only 'live' calls were looked at.)"""
        rows = await self.ctx.db.fetchall(
            "SELECT * FROM calls WHERE status='live' OR (status='ended' AND NOT EXISTS "
            "(SELECT 1 FROM summaries s WHERE s.call_id = calls.call_id))")
        for row in rows:
            call_id = row["call_id"]
            transcript = await self.ctx.store.transcript(call_id)
            started = datetime.fromisoformat(row["started_at"]) if row["started_at"] else datetime.now(UTC)
            st = CallStarted(call_id=call_id, protocol=row["protocol"], agent_id=row["agent_id"],
                             account_id=row["account_id"], language=row["language"], started_at=started,
                             direction=row["direction"])
            account = await self.accounts.get(row["account_id"]) if row["account_id"] else None
            playbook = load_playbook(row["language"])
            coach = CallCoach(CallContext(call_id=call_id, language=playbook.language, started_at=started,
                                          account=account, agent_id=st.agent_id, direction=st.direction), playbook)
            coach.start()
            for seg in transcript:
                coach.on_segment(TranscriptSegment(
                    call_id=call_id, segment_id=seg["segment_id"], index=seg["index"], speaker=seg["speaker"],
                    final=True, start=seg["start"], end=seg["end"], text=seg["text"],
                    words=[Word(**w) for w in seg["words"]], loudness_db=seg["loudness_db"],
                    language=seg["language"] or row["language"]))
            coach.end()
            if row["status"] == "ended" and row["ended_at"]:
                end = CallEnd(row["ended_at"], row["end_reason"] or "hangup", float(row["duration"] or 0.0))
            else:
                end = CallEnd(datetime.now(UTC).isoformat(), "interrupted",
                              max((s["end"] for s in transcript), default=0.0))
            try:
                await self._finalize(call_id, coach.findings(), end)
            except Exception:
                log.exception("could not summarise a call after a crash", call_id=call_id)
                # end it all the same (an ended call keeps its own reason); the next start-up tries the summary again
                await self.ctx.db.execute("UPDATE calls SET status='ended', end_reason=? WHERE call_id=?",
                                          (end.reason, call_id))
        if rows:
            log.warning("calls an earlier crash left without a summary were summarised", count=len(rows),
                        interrupted=sum(1 for r in rows if r["status"] == "live"))
        return len(rows)


def warm_up_coach() -> None:
    """Load and compile both playbooks and run a coach once per language, so the first call does not pay
    for YAML parsing, pattern compilation and pypinyin's dictionaries on the event loop."""
    now = datetime.now(UTC)
    for language, text in (("zh-CN", "您好 我是 客服 本次 通话 会 录音 欠款 五千元 下周五 还"),
                           ("en-US", "hi this is a debt collector calling about five hundred dollars")):
        playbook = load_playbook(language)
        coach = CallCoach(CallContext(call_id="warm-up", language=language, started_at=now), playbook)
        coach.start()
        for speaker in ("agent", "customer"):
            coach.on_segment(TranscriptSegment(call_id="warm-up", segment_id=f"w:{speaker}", index=0,
                                               speaker=speaker, final=True, start=0, end=2, text=text,
                                               language=language))
        coach.end()


def alert_publisher(ctx: Context) -> Any:
    def on_alert(alert: Any) -> None:
        ctx.hub.publish(alert)

    return on_alert
