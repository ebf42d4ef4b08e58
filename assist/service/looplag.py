"""Event-loop stall monitor: how late a short periodic sleep wakes up is how long the loop was blocked.

It also times the interpreter's garbage collections (they stop every thread that holds the GIL, the
loop's included), so a stall can be told apart from a collection.

It looks every `interval` (10 ms) while `busy()` says calls are live and every `idle_interval` (100 ms)
otherwise: every wake-up costs CPU, and an idle server should cost next to nothing.

A wake-up later than `stall_threshold` (100 ms) is a stall: counted (`stalls`, `stall_seconds`) for the metrics,
since the samples only keep the recent past."""

from __future__ import annotations

import asyncio
import gc
import time
from collections import deque
from collections.abc import Callable
from typing import Any


class LoopLagMonitor:
    def __init__(
        self,
        interval: float = 0.01,
        keep: int = 6000,
        *,
        idle_interval: float = 0.1,
        busy: Callable[[], bool] | None = None,
        stall_threshold: float = 0.1,
    ) -> None:
        self.interval = interval
        self.idle_interval = idle_interval
        self.busy = busy
        self.wakeups = 0
        self.samples: deque[float] = deque(maxlen=keep)
        self.max_lag = 0.0
        self.stall_threshold = stall_threshold
        self.stalls = 0  # wake-ups later than stall_threshold, since start (never reset)
        self.stall_seconds = 0.0  # how late those were, in total
        self._task: asyncio.Task[None] | None = None
        self.gc_max = 0.0  # longest collection, seconds
        self.gc_total = 0.0
        self.gc_counts = [0, 0, 0]  # collections per generation
        self._gc_t0 = 0.0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag")
        gc.callbacks.append(self._on_gc)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def reset(self) -> None:
        self.samples.clear()
        self.max_lag = 0.0
        self.gc_max = self.gc_total = 0.0
        self.gc_counts = [0, 0, 0]

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_t0 = time.perf_counter()
            return
        took = time.perf_counter() - self._gc_t0
        self.gc_total += took
        self.gc_max = max(self.gc_max, took)
        self.gc_counts[info["generation"]] += 1

    async def _run(self) -> None:
        while True:
            interval = self.interval if self.busy is None or self.busy() else self.idle_interval
            t0 = time.perf_counter()
            await asyncio.sleep(interval)
            self.wakeups += 1
            lag = max(0.0, time.perf_counter() - t0 - interval)
            self.samples.append(lag)
            self.max_lag = max(self.max_lag, lag)
            if lag > self.stall_threshold:
                self.stalls += 1
                self.stall_seconds += lag

    def summary(self) -> dict[str, Any]:
        vals = sorted(self.samples)
        if not vals:
            vals = [0.0]
        return {
            "p50_ms": round(vals[len(vals) // 2] * 1000, 2),
            "p99_ms": round(vals[min(len(vals) - 1, int(len(vals) * 0.99))] * 1000, 2),
            "max_ms": round(self.max_lag * 1000, 2),
            "gc_max_ms": round(self.gc_max * 1000, 2),
            "gc_total_ms": round(self.gc_total * 1000, 1),
            "gc_collections": list(self.gc_counts),
            "stalls": self.stalls,
        }
