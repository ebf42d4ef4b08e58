"""The server's event loop: asyncio's selector loop, polling for I/O at most once per `min_interval`.

A live call arrives as 50-100 small messages a second (Twilio sends one per track every 20 ms, RTP one
packet per 20 ms), so with a dozen calls the loop would wake up for almost every message: a thread
switch each time, and each one preempts a decode thread and cools its caches. A network card
moderates interrupts for the same reason. Here, when the loop polls again within `min_interval` of
its last poll, it first sleeps out the rest of the interval (the GIL released, so decoding goes on)
and then takes everything that arrived meanwhile in one wake-up.

Nothing else is delayed: a poll with ready callbacks (timeout 0) never waits, a timer never fires
late (the wait is cut to the timer's deadline), work handed over by another thread ends the wait at
once (the loop's self-pipe is watched during it: decode results, every aiosqlite query, signals; a
chain of database calls would otherwise pay the interval at every step), and a loop that was idle
for `min_interval` polls at once, so a lone message is not held up. The cost is at most
`min_interval` of added latency on network input while the server is busy, against 100 ms audio
pieces and the best part of a second to a final (bench/RESULTS.md §1 measures it).
"""

from __future__ import annotations

import asyncio
import selectors
import time
from typing import Any


class CoalescingSelector(selectors.DefaultSelector):
    """`selectors.DefaultSelector` that polls at most once per `min_interval` seconds."""

    def __init__(self, min_interval: float) -> None:
        super().__init__()
        self.min_interval = min_interval
        self._last_poll = float("-inf")
        self._wakers = selectors.DefaultSelector()  # what ends a wait early
        self.polls = 0
        self.waits = 0  # polls that first waited out (part of) the interval

    def wake_on(self, fd: int) -> None:
        """Input on `fd` (the loop's self-pipe) ends a wait at once."""
        self._wakers.register(fd, selectors.EVENT_READ)

    def close(self) -> None:
        self._wakers.close()
        super().close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None or timeout > 0:
            wait = self.min_interval - (time.monotonic() - self._last_poll)
            if wait > 0:
                if timeout is not None:
                    wait = min(wait, timeout)
                self.waits += 1
                t0 = time.monotonic()
                self._wakers.select(wait)  # a sleep that another thread's hand-over cuts short
                if timeout is not None:
                    timeout = max(0.0, timeout - (time.monotonic() - t0))
        try:
            ready: list[tuple[selectors.SelectorKey, int]] = super().select(timeout)
        finally:
            self._last_poll = time.monotonic()
            self.polls += 1
        return ready


def loop_factory(min_interval: float) -> Any:
    """A loop factory for `asyncio.Runner`: the coalescing selector, or asyncio's own loop when 0."""

    def new_loop() -> asyncio.AbstractEventLoop:
        if min_interval <= 0:
            return asyncio.new_event_loop()
        selector = CoalescingSelector(min_interval)
        loop = asyncio.SelectorEventLoop(selector)
        # the self-pipe: call_soon_threadsafe() and signals write to it (asyncio has no public name for it)
        self_pipe = getattr(loop, "_ssock", None)
        if self_pipe is not None:
            selector.wake_on(self_pipe.fileno())
        return loop

    return new_loop
