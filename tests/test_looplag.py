"""The event-loop stall monitor: a blocked loop shows up as a stall, a garbage collection as a GC pause."""

from __future__ import annotations

import asyncio
import gc
import time

from assist.service.looplag import LoopLagMonitor


async def test_blocked_loop_is_a_stall() -> None:
    m = LoopLagMonitor(interval=0.005)
    m.start()
    try:
        await asyncio.sleep(0.05)
        time.sleep(0.06)  # noqa: ASYNC251 - blocking the loop for 60 ms is the point
        await asyncio.sleep(0.03)
        s = m.summary()
        assert s["max_ms"] >= 45
        assert s["p50_ms"] < 20  # the other samples were on time
    finally:
        m.stop()


async def test_looks_less_often_while_idle() -> None:
    busy = False
    m = LoopLagMonitor(interval=0.005, idle_interval=0.05, busy=lambda: busy)
    m.start()
    try:
        await asyncio.sleep(0.3)
        idle = m.wakeups
        assert 3 <= idle <= 7
        busy = True
        await asyncio.sleep(0.06)  # the idle sleep under way ends first
        n = m.wakeups
        await asyncio.sleep(0.3)
        assert m.wakeups - n >= 25, "10x as often once calls are live"
        time.sleep(0.04)  # noqa: ASYNC251 - a stall while busy is still measured
        await asyncio.sleep(0.02)
        assert m.summary()["max_ms"] >= 30
    finally:
        m.stop()


async def test_collections_are_timed() -> None:
    m = LoopLagMonitor()
    m.start()
    try:
        junk = [[i] for i in range(200_000)]
        gc.collect()
        del junk
        s = m.summary()
        assert s["gc_collections"][2] >= 1
        assert s["gc_max_ms"] > 0
        m.reset()
        assert m.summary()["gc_collections"] == [0, 0, 0]
    finally:
        m.stop()
    n = len(gc.callbacks)
    m.stop()  # stopping twice is harmless
    assert len(gc.callbacks) == n
