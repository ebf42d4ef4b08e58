"""The event hub: where the coach's output meets the store and the live listeners.

Every event goes through one ordered pipeline (a queue and one task), so everybody sees the same
order and nothing is shown before it is safe:
1. the persist steps store what must survive a restart (calls, final segments, prompts) — an event is
   written *before* anyone sees it, so a crash never loses a segment a listener was shown;
2. the observers (in-memory views such as the browser's call directory) see it, before any listener;
3. live subscribers (the sidebar, the supervisor console, benchmarks) get it, each through a bounded
   queue: one that cannot keep up is dropped (it reconnects and gets a snapshot) instead of slowing
   everybody else.
`publish` never blocks (it is called from the audio path); `drain()` waits until the pipeline is
empty (graceful shutdown and snapshots lose nothing).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from assist import logs
from assist.events import CallEnded, CallStarted, CallUpdated, Prompt, TranscriptSegment
from assist.store.calls import CallStore

log = logs.get(__name__)

PersistStep = Callable[[Any], Awaitable[None]]
Observer = Callable[[Any], None]


@dataclass(eq=False)
class Subscriber:
    call_id: str | None  # None = every call
    filter: Callable[[Any], bool] | None = None
    queue: asyncio.Queue[Any] = field(default_factory=lambda: asyncio.Queue(maxsize=2000))
    dropped: bool = False

    def wants(self, ev: Any) -> bool:
        if self.call_id is not None and getattr(ev, "call_id", None) != self.call_id:
            return False
        return self.filter is None or self.filter(ev)


class Hub:
    def __init__(self, persist: Iterable[PersistStep] = ()) -> None:
        self.persist_steps: list[PersistStep] = list(persist)
        self.observers: list[Observer] = []
        self.subscribers: set[Subscriber] = set()
        self._q: asyncio.Queue[Any] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.published = 0
        self.write_errors = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._pipeline(), name="event-pipeline")

    async def stop(self) -> None:
        await self.drain()
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def drain(self) -> None:
        await self._q.join()

    def publish(self, ev: Any) -> None:
        self.published += 1
        self._q.put_nowait(ev)

    def subscribe(self, call_id: str | None = None, filter: Callable[[Any], bool] | None = None) -> Subscriber:
        sub = Subscriber(call_id=call_id, filter=filter)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    async def _pipeline(self) -> None:
        while True:
            ev = await self._q.get()
            try:
                await self._persist(ev)
                self._observe(ev)
                self._fan_out(ev)
            finally:
                self._q.task_done()

    async def _persist(self, ev: Any) -> None:
        for step in self.persist_steps:
            try:
                await step(ev)
            except Exception:
                self.write_errors += 1
                log.exception("store write failed", call_id=getattr(ev, "call_id", None), event_type=type(ev).__name__)

    def _observe(self, ev: Any) -> None:
        for observer in self.observers:
            try:
                observer(ev)
            except Exception:
                log.exception("hub observer failed", call_id=getattr(ev, "call_id", None), event_type=type(ev).__name__)

    def _fan_out(self, ev: Any) -> None:
        for sub in list(self.subscribers):
            if not sub.wants(ev):
                continue
            try:
                sub.queue.put_nowait(ev)
            except asyncio.QueueFull:
                sub.dropped = True
                self.subscribers.discard(sub)
                while not sub.queue.empty():
                    sub.queue.get_nowait()
                sub.queue.put_nowait(None)  # tells the listener's pump to close
                log.warning("live listener too slow, dropped", call_id=sub.call_id)


def store_writer(store: CallStore) -> PersistStep:
    """Persist what must survive a restart: calls, final segments, prompts."""

    async def write(ev: Any) -> None:
        if isinstance(ev, CallStarted):
            await store.upsert_started(ev)
        elif isinstance(ev, CallUpdated):
            await store.update(ev)
        elif isinstance(ev, TranscriptSegment):
            if ev.final:
                await store.add_segment(ev)
        elif isinstance(ev, Prompt):
            await store.add_prompt(ev)
        elif isinstance(ev, CallEnded):
            await store.ended(ev)

    return write
