"""Connects the coach and the CRM sync to live calls (the stream knows neither).

* account and contact history for each call's coach: the CRM (bounded timeout, cache, last known
  record) when `ASSIST_SYNC_ACCOUNT_SOURCE` is set, else the accounts in the store;
* at call end: the coach's findings become the summary, written in ONE transaction with the call's
  final state and its outbox rows, before the `call_ended` event is shown to anybody.
Calls a crash left without a summary are summarised at start-up by assist.service.recovery.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from assist import logs
from assist.accounts import Account, AccountError, ContactHistory, parse_account
from assist.coach.engine import CallCoach, CallContext
from assist.coach.findings import Findings
from assist.coach.playbook import load_playbook
from assist.events import CallEnded, CallStarted, TranscriptSegment
from assist.service.hub import Hub
from assist.store.accounts import AccountStore
from assist.store.calls import CallStore
from assist.store.db import Database
from assist.sync.accounts import AccountLookup
from assist.sync.crm import build_adapter
from assist.sync.finalize import CallEnd, finalize_from_findings
from assist.sync.settings import SyncSettings

log = logs.get(__name__)
HISTORY_DAYS = 8  # the longest contact-rule window (Regulation F: 7 days) plus a day of time-zone slack


class CallServices:
    """What the coach runner needs around a call: its context at the start, its summary at the end."""

    def __init__(
        self, db: Database, store: CallStore, hub: Hub, sync: SyncSettings, wake_sync: Callable[[], None]
    ) -> None:
        self.db = db
        self.store = store
        self.hub = hub
        self.sync = sync
        self.wake_sync = wake_sync  # the outbox worker looks at the new rows now instead of at its next poll
        self.accounts = AccountStore(db)
        self.lookup: AccountLookup | None = None
        if sync.account_source:
            self.lookup = AccountLookup(
                build_adapter(sync.account_source, sync), timeout=sync.account_timeout, ttl=sync.account_cache_seconds
            )

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
                    log.warning("CRM account record unusable; trying the local store", call_id=st.call_id, error=str(e))
        if account is None:
            account = await self.accounts.get(st.account_id)
        history = await self.accounts.history(st.account_id, since=st.started_at - timedelta(days=HISTORY_DAYS))
        await self.accounts.record_attempt(
            st.account_id, st.started_at, connected=True, channel="human", call_id=st.call_id
        )
        return account, history.before(st.started_at, exclude_call=st.call_id)

    async def on_findings(self, st: CallStarted, ended: CallEnded, findings: Findings) -> None:
        await self.hub.drain()  # every segment and prompt of the call is stored
        await self.finalize(st.call_id, findings, CallEnd(ended.ended_at.isoformat(), ended.reason, ended.duration))

    async def finalize(self, call_id: str, findings: Findings, end: CallEnd) -> None:
        """Write the call's summary (with its end and its outbox rows) and wake the delivery worker."""
        segments = await self.store.transcript(call_id)
        await finalize_from_findings(
            self.db,
            call_id,
            findings.model_dump(mode="json"),
            self.sync.targets,
            time.time(),
            settings=self.sync,
            segments=segments,
            end=end,
        )
        self.wake_sync()


def warm_up_coach() -> None:
    """Load and compile both playbooks and run a coach once per language, so the first call does not pay
    for YAML parsing, pattern compilation and pypinyin's dictionaries on the event loop."""
    now = datetime.now(UTC)
    for language, text in (
        ("zh-CN", "您好 我是 客服 本次 通话 会 录音 欠款 五千元 下周五 还"),
        ("en-US", "hi this is a debt collector calling about five hundred dollars"),
    ):
        playbook = load_playbook(language)
        coach = CallCoach(CallContext(call_id="warm-up", language=language, started_at=now), playbook)
        coach.start()
        for speaker in ("agent", "customer"):
            coach.on_segment(
                TranscriptSegment(
                    call_id="warm-up",
                    segment_id=f"w:{speaker}",
                    index=0,
                    speaker=speaker,
                    final=True,
                    start=0,
                    end=2,
                    text=text,
                    language=language,
                )
            )
        coach.end()
