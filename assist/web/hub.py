"""The event hub: where stream, coach, store and live listeners meet.

Events arrive from the call manager (and later from the coach) through `publish`, on the event loop.
The hub
* runs the processors (the coach: segment in, prompts out) synchronously, in order;
* queues every event for the store writer, one task, so writes keep their order and never block
  the audio path; `drain()` waits for the queue (graceful shutdown loses nothing);
* fans events out to live subscribers (the sidebar, the supervisor console, benchmarks), each with
  a bounded queue: a subscriber that cannot keep up is dropped (it reconnects and gets a snapshot)
  instead of slowing everybody else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from assist import logs
from assist.events import CallEnded, CallStarted, CallUpdated, Prompt, TranscriptSegment

log = logs.get(__name__)

Processor = Callable[[Any], list[Any]]
Writer = Callable[[Any], Awaitable[None]]


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
    def __init__(self) -> None:
        self.processors: list[Processor] = []
        self.writers: list[Writer] = []
        self.subscribers: set[Subscriber] = set()
        self._store_q: asyncio.Queue[Any] = asyncio.Queue()
        self._writer_task: asyncio.Task[None] | None = None
        self.published = 0
        self.write_errors = 0

    def start(self) -> None:
        self._writer_task = asyncio.get_running_loop().create_task(self._write_loop(), name="store-writer")

    async def stop(self) -> None:
        await self.drain()
        if self._writer_task:
            self._writer_task.cancel()
            try:
                await self._writer_task
            except asyncio.CancelledError:
                pass

    async def drain(self) -> None:
        await self._store_q.join()

    def publish(self, ev: Any) -> None:
        self.published += 1
        self._store_q.put_nowait(ev)
        for sub in list(self.subscribers):
            if sub.wants(ev):
                try:
                    sub.queue.put_nowait(ev)
                except asyncio.QueueFull:
                    sub.dropped = True
                    self.subscribers.discard(sub)
                    while not sub.queue.empty():
                        sub.queue.get_nowait()
                    sub.queue.put_nowait(None)  # tells the listener's pump to close
                    log.warning("live listener too slow, dropped", call_id=sub.call_id)
        for proc in self.processors:
            try:
                follow = proc(ev)
            except Exception:
                log.exception("processor failed", call_id=getattr(ev, "call_id", None),
                              event=type(ev).__name__)
                continue
            for out in follow:
                self.publish(out)

    def subscribe(self, call_id: str | None = None, filter: Callable[[Any], bool] | None = None) -> Subscriber:
        sub = Subscriber(call_id=call_id, filter=filter)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    async def _write_loop(self) -> None:
        while True:
            ev = await self._store_q.get()
            try:
                for w in self.writers:
                    await w(ev)
            except Exception:
                self.write_errors += 1
                log.exception("store write failed", call_id=getattr(ev, "call_id", None), event=type(ev).__name__)
            finally:
                self._store_q.task_done()


def store_writer(store: Any) -> Writer:
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
