"""Wires the coach to live calls: the call manager's events pass through here on their way to the hub.

For every call a `CallCoach` (sans-I/O, synchronous) is built at call start from the account and its
contact history (loaded asynchronously; segments that arrive meanwhile wait in order).  Each segment
is judged on its raw text, then published masked (ID and card numbers never reach the store, the
sidebar or the logs), followed by the prompts it caused.  A ticker drives the time-based reminders;
at call end the coach's findings are handed to `on_findings` (the CRM summary).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from assist import logs
from assist.accounts import Account, ContactHistory
from assist.coach.detectors.sensitive import mask_segment
from assist.coach.engine import CallCoach, CallContext
from assist.coach.findings import Findings
from assist.coach.playbook import Playbook, load_playbook
from assist.events import CallEnded, CallStarted, CallUpdated, Prompt, TranscriptSegment
from assist.service import alerts

log = logs.get(__name__)

ContextLoader = Callable[[CallStarted], Awaitable[tuple[Account | None, ContactHistory | None]]]
FindingsSink = Callable[[CallStarted, CallEnded, Findings], Awaitable[None]]


@dataclass
class _Live:
    started: CallStarted
    playbook: Playbook
    t0: float = field(default_factory=time.monotonic)
    coach: CallCoach | None = None
    pending: list[Any] = field(default_factory=list)  # events that arrived before the coach was ready
    seen: list[TranscriptSegment] = field(default_factory=list)  # raw finals, to rebuild the coach


class CoachRunner:
    def __init__(
        self,
        publish: Callable[[Any], None],
        load_context: ContextLoader,
        on_findings: FindingsSink | None = None,
        tick_interval: float = 1.0,
    ) -> None:
        self.publish = publish
        self.load_context = load_context
        self.on_findings = on_findings
        self.tick_interval = tick_interval
        self.calls: dict[str, _Live] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self.findings: dict[str, Findings] = {}  # of recently ended calls
        self.counters: dict[str, int] = {"summaries_failed": 0}  # shown in /healthz

    def start(self) -> None:
        self._ticker = asyncio.get_running_loop().create_task(self._tick_loop(), name="coach-ticker")

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        for t in list(self._tasks):
            await asyncio.gather(t, return_exceptions=True)

    async def settle(self) -> None:
        """Wait until the work in flight (coaches being built, summaries being written) is done; cancelling
        the wait leaves that work running."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- the call manager's sink --------------------------------------------------------------

    def __call__(self, ev: Any) -> None:
        if isinstance(ev, CallStarted):
            self.publish(ev)
            new = _Live(ev, load_playbook(ev.language))
            self.calls[ev.call_id] = new
            self._spawn(self._build(new))
            return
        live = self.calls.get(getattr(ev, "call_id", ""))
        if live is None:
            self.publish(mask_segment(ev) if isinstance(ev, TranscriptSegment) else ev)
            return
        if live.coach is None:
            live.pending.append(ev)
            return
        self._handle(live, ev)

    def _handle(self, live: _Live, ev: Any) -> None:
        coach = live.coach
        assert coach is not None
        if isinstance(ev, TranscriptSegment):
            if ev.final:
                live.seen.append(ev)
            prompts = self._safe(live, coach.on_segment, ev)
            self.publish(mask_segment(ev, live.playbook))
            self._emit(prompts)
        elif isinstance(ev, CallEnded):
            self._emit(self._safe(live, coach.end))
            self.calls.pop(ev.call_id, None)
            findings = coach.findings()
            self.findings[ev.call_id] = findings
            while len(self.findings) > 500:
                self.findings.pop(next(iter(self.findings)))
            self._spawn(self._finish(live, ev, findings))
        elif isinstance(ev, CallUpdated):
            self.publish(ev)
            if ev.account_id and ev.account_id != live.started.account_id:
                live.started = live.started.model_copy(update={"account_id": ev.account_id})
                live.coach = None
                self._spawn(self._build(live))
        else:
            self.publish(ev)

    async def _finish(self, live: _Live, ev: CallEnded, findings: Findings) -> None:
        """The summary is committed (with the call's final state) before `call_ended` is shown."""
        try:
            if self.on_findings is not None:
                await self.on_findings(live.started, ev, findings)
        except Exception as exc:
            # a summary that cannot be written must not vanish: an ERROR line, a counter, and an alert
            # supervisors see on the console (start-up recovery tries the call again at the next start)
            self.counters["summaries_failed"] += 1
            log.exception("summary at call end failed", call_id=ev.call_id)
            self.publish(alerts.summary_failed(ev.call_id, exc))
        finally:
            self.publish(ev)

    def _safe(self, live: _Live, fn: Callable[..., list[Prompt]], *args: Any) -> list[Prompt]:
        try:
            return fn(*args)
        except Exception:
            log.exception("coach failed", call_id=live.started.call_id)
            return []

    def _emit(self, prompts: list[Prompt]) -> None:
        for p in prompts:
            self.publish(p)

    async def _build(self, live: _Live) -> None:
        st = live.started
        try:
            account, history = await self.load_context(st)
        except Exception:
            log.exception("account lookup failed; coaching without the account card", call_id=st.call_id)
            account, history = None, None
        ctx = CallContext(
            call_id=st.call_id,
            language=live.playbook.language,
            started_at=st.started_at,
            account=account,
            history=history,
            agent_id=st.agent_id,
            direction=st.direction,
        )
        coach = CallCoach(ctx, live.playbook)
        start = self._safe(live, coach.start)
        for seg in live.seen:  # the account changed mid-call: the new coach catches up silently
            self._safe(live, coach.on_segment, seg)
        self._emit(start)
        live.coach = coach
        pending, live.pending = live.pending, []
        for ev in pending:
            if live.coach is None:  # rebuilt again meanwhile
                live.pending.append(ev)
                continue
            self._handle(live, ev)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            now = time.monotonic()
            for live in list(self.calls.values()):
                if live.coach is not None:
                    self._emit(self._safe(live, live.coach.tick, now - live.t0))
