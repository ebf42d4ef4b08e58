"""Event-loop stall monitor: how late a short periodic sleep wakes up is how long the loop was blocked."""

from __future__ import annotations

import asyncio
import time
from collections import deque


class LoopLagMonitor:
    def __init__(self, interval: float = 0.01, keep: int = 6000) -> None:
        self.interval = interval
        self.samples: deque[float] = deque(maxlen=keep)
        self.max_lag = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def reset(self) -> None:
        self.samples.clear()
        self.max_lag = 0.0

    async def _run(self) -> None:
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(self.interval)
            lag = max(0.0, time.perf_counter() - t0 - self.interval)
            self.samples.append(lag)
            self.max_lag = max(self.max_lag, lag)

    def summary(self) -> dict[str, float]:
        vals = sorted(self.samples)
        if not vals:
            return {"p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
        return {
            "p50_ms": round(vals[len(vals) // 2] * 1000, 2),
            "p99_ms": round(vals[min(len(vals) - 1, int(len(vals) * 0.99))] * 1000, 2),
            "max_ms": round(self.max_lag * 1000, 2),
        }
