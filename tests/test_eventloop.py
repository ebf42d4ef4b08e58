"""The coalescing selector: polls at most once per interval while busy, never delays timers or ready work."""

from __future__ import annotations

import asyncio
import contextlib
import selectors
import socket
import time
from collections.abc import Iterator

from assist.service.eventloop import CoalescingSelector, loop_factory


@contextlib.contextmanager
def _watching(interval: float) -> Iterator[tuple[CoalescingSelector, socket.socket, socket.socket]]:
    """A coalescing selector watching one end of a socket pair (read `a`, write `b`)."""
    sel = CoalescingSelector(interval)
    a, b = socket.socketpair()
    a.setblocking(False)
    sel.register(a, selectors.EVENT_READ)
    try:
        yield sel, a, b
    finally:
        sel.close()
        a.close()
        b.close()


def test_a_poll_right_after_another_waits_out_the_interval() -> None:
    with _watching(0.2) as (sel, a, b):
        b.send(b"x")
        assert len(sel.select(1.0)) == 1  # the first poll: nothing before it, no wait
        t0 = time.monotonic()
        assert len(sel.select(1.0)) == 1  # data still unread: ready, but only after the interval
        assert time.monotonic() - t0 >= 0.15
        assert sel.waits == 1 and sel.polls == 2


def test_what_arrives_during_the_wait_is_taken_in_one_wake_up() -> None:
    with _watching(0.2) as (sel, a, b):
        sel.select(0)
        for _ in range(5):
            b.send(b"frame")  # five messages while the loop "works"
        assert len(sel.select(1.0)) == 1
        assert a.recv(100) == b"frame" * 5


def test_ready_callbacks_and_timers_are_never_delayed() -> None:
    with _watching(5.0) as (sel, a, b):
        sel.select(0)
        t0 = time.monotonic()
        assert sel.select(0) == []  # timeout 0 (callbacks ready): no wait
        assert sel.select(0.05) == []  # a timer due in 50 ms: the wait is cut to it
        assert time.monotonic() - t0 < 2.0


def test_an_idle_loop_polls_at_once() -> None:
    with _watching(0.05) as (sel, a, b):
        sel.select(0)
        time.sleep(0.06)  # idle for longer than the interval
        b.send(b"x")
        waits = sel.waits
        assert len(sel.select(1.0)) == 1
        assert sel.waits == waits


def test_loop_factory_runs_a_server_round_trip() -> None:
    async def main() -> bytes:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(await reader.read(100))
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ping")
        data = await reader.read(100)
        writer.close()
        server.close()
        await server.wait_closed()
        return data

    with asyncio.Runner(loop_factory=loop_factory(0.01)) as runner:
        assert isinstance(runner.get_loop()._selector, CoalescingSelector)  # type: ignore[attr-defined]
        assert runner.run(main()) == b"ping"
    with asyncio.Runner(loop_factory=loop_factory(0)) as runner:
        assert not isinstance(getattr(runner.get_loop(), "_selector", None), CoalescingSelector)


def test_work_from_another_thread_ends_the_wait() -> None:
    """A chain of thread hand-overs (every aiosqlite query is one) must not pay the interval at each step."""

    async def chain() -> float:
        loop = asyncio.get_running_loop()
        t0 = time.monotonic()
        for _ in range(10):
            await loop.run_in_executor(None, time.sleep, 0.001)
        return time.monotonic() - t0

    with asyncio.Runner(loop_factory=loop_factory(1.0)) as runner:
        took = runner.run(chain())
        selector = runner.get_loop()._selector  # type: ignore[attr-defined]
    assert selector.waits >= 5  # the loop did try to wait out the interval ...
    assert took < 3.0  # ... but each hand-over ended the wait (10 steps x 1 s interval otherwise)
