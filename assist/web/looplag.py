"""Event-loop stall monitor: how late a short periodic sleep wakes up is how long the loop was blocked.

It also times the interpreter's garbage collections (they stop every thread that holds the GIL, the
loop's included), so a stall can be told apart from a collection."""

from __future__ import annotations

import asyncio
import gc
import time
from collections import deque
from typing import Any


class LoopLagMonitor:
    def __init__(self, interval: float = 0.01, keep: int = 6000) -> None:
        self.interval = interval
        self.samples: deque[float] = deque(maxlen=keep)
        self.max_lag = 0.0
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
            t0 = time.perf_counter()
            await asyncio.sleep(self.interval)
            lag = max(0.0, time.perf_counter() - t0 - self.interval)
            self.samples.append(lag)
            self.max_lag = max(self.max_lag, lag)

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
        }
