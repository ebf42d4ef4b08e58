"""A cluster on loopback for the scale-out tests: real `assist serve` processes as nodes (sharing one PostgreSQL
schema and, when given, one Redis key prefix) and real HAProxy in front of them, configured from the example in
deploy/haproxy/haproxy.cfg with its addresses swapped for loopback ports (so the tests run what the example says).
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
HAPROXY_CONFIG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def until(pred: Callable[[], Awaitable[bool]], timeout: float, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await pred():
        assert asyncio.get_running_loop().time() < deadline, f"{what} not met in {timeout:g} s"
        await asyncio.sleep(0.1)


async def get_json(url: str, **kw: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.get(url, **kw) as r:
        return r.status, await r.json(content_type=None)


@dataclass
class Node:
    """One `assist serve` process.  `env` holds its settings (ASSIST_*); its log goes to `data/server.log`."""

    name: str
    data: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    audiosocket_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "ASSIST_HOST": "127.0.0.1",
            "ASSIST_PORT": str(self.port),
            "ASSIST_AUDIOSOCKET_PORT": str(self.audiosocket_port),
            "ASSIST_RTP_PORTS": "",
            "ASSIST_DATA_DIR": str(self.data),
            "ASSIST_NODE_ID": self.name,
            "ASSIST_SYNC_WORKER_ID": self.name,
            "ASSIST_LOG_FORMAT": "json",
            **self.env,
        }
        if "ASSIST_VOSK_MODEL" not in self.env:
            env.pop("ASSIST_VOSK_MODEL", None)
        self._log = open(self.data / "server.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "assist.cli", "serve"], env=env, cwd=ROOT, stdout=self._log, stderr=self._log
        )

    async def ready(self, timeout: float = 120.0) -> None:
        async def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, f"{self.name} exited: see {self.data}/server.log"
            try:
                status, _ = await get_json(self.url + "/readyz")
            except aiohttp.ClientError:
                return False
            return status == 200

        await until(up, timeout, f"{self.name} ready")

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: no drain, no shutdown, leases and connections left as they are."""
        self.signal(signal.SIGKILL)

    async def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        proc = self.proc
        code = await asyncio.get_running_loop().run_in_executor(None, lambda: proc.wait(timeout))
        self.close()
        return code

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_text(self) -> str:
        path = self.data / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""


def localized(config: str, ports: dict[str, int]) -> str:
    """The HAProxy example with its addresses on loopback: the balancer's ports and each node's HTTP and
    AudioSocket ports.  Every address the example names must be replaced."""
    swaps = {
        "bind :8080": f"bind 127.0.0.1:{ports['lb_http']}",
        "bind :9092": f"bind 127.0.0.1:{ports['lb_audiosocket']}",
        "bind :8404": f"bind 127.0.0.1:{ports['lb_stats']}",
        "node1:8080 check": f"127.0.0.1:{ports['node1_http']} check",
        "node2:8080 check": f"127.0.0.1:{ports['node2_http']} check",
        "node1:9093 check port 8080": f"127.0.0.1:{ports['node1_audiosocket']} check port {ports['node1_http']}",
        "node2:9094 check port 8080": f"127.0.0.1:{ports['node2_audiosocket']} check port {ports['node2_http']}",
    }
    for old, new in swaps.items():
        assert config.count(old) == 1, f"the example no longer has {old!r}: update tests/support/cluster.py"
        config = config.replace(old, new)
    assert not re.search(r"\bnode\d:\d+", config), "an address of the example was left in"
    return config


class Balancer:
    """Real HAProxy in the foreground in front of two nodes (their HTTP and AudioSocket ports)."""

    def __init__(self, tmp: Path, node_ports: tuple[tuple[int, int], tuple[int, int]]) -> None:
        (h1, a1), (h2, a2) = node_ports
        self.ports = {
            "lb_http": free_port(),
            "lb_audiosocket": free_port(),
            "lb_stats": free_port(),
            "node1_http": h1,
            "node2_http": h2,
            "node1_audiosocket": a1,
            "node2_audiosocket": a2,
        }
        tmp.mkdir(parents=True, exist_ok=True)
        self.cfg = tmp / "haproxy.cfg"
        self.cfg.write_text(localized(HAPROXY_CONFIG.read_text(), self.ports))
        self.log = tmp / "haproxy.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['lb_http']}"

    def start(self) -> None:
        self._log = open(self.log, "ab")
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", str(self.cfg)], stdout=self._log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None

    async def states(self) -> dict[tuple[str, str], str]:
        """(backend, server) -> status (UP, DOWN, …) from HAProxy's own CSV status page."""
        url = f"http://127.0.0.1:{self.ports['lb_stats']}/stats;csv"
        async with aiohttp.ClientSession() as s, s.get(url) as r:
            text = await r.text()
        rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
        return {(row["pxname"], row["svname"]): row["status"] for row in rows if row["svname"].startswith("node")}

    async def wait_states(self, want: dict[str, str], timeout: float = 30.0) -> None:
        """Until each named server (node1, node2) of the HTTP backend has the wanted status (UP / DOWN)."""

        async def reached() -> bool:
            try:
                states = await self.states()
            except aiohttp.ClientError:
                return False
            return all(states.get(("assist_nodes", n), "").startswith(s) for n, s in want.items())

        await until(reached, timeout, f"balancer states {want}")
