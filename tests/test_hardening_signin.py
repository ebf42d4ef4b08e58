"""Sign-in stays available under failed-password floods (issue 15, defect 6), on a real server.

argon2 runs off the event loop on a small pool of its own (the loop-stall monitor sees no stall over
~100 ms during 40 concurrent failed sign-ins); failures are limited per (name, address) and per address,
so a name under attack from one address does not lock its agent out elsewhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest_asyncio

from tests.conftest import Server, start_server
from tests.support.ui import add_users, password_of


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    runner, srv = await start_server(tmp_path, vosk_model=None)
    await add_users(srv, ("agent-a", "agent", "east"), ("agent-b", "agent", "east"))
    yield srv
    await runner.cleanup()


async def login(server: Server, name: str, password: str, source: str = "127.0.0.1") -> int:
    """POST /login as JSON from the loopback address `source`; the status."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with (
        aiohttp.ClientSession(connector=connector) as s,
        s.post(server.url + "/login", json={"name": name, "password": password}) as r,
    ):
        return r.status


async def test_failed_sign_ins_do_not_stall_the_loop(server: Server) -> None:
    await asyncio.sleep(0.3)
    server.ctx.looplag.reset()
    statuses = await asyncio.gather(*(login(server, f"agent-{'ab'[i % 2]}", f"wrong-{i:04d}") for i in range(40)))
    assert set(statuses) <= {401, 429}, statuses
    await asyncio.sleep(0.2)
    assert server.ctx.looplag.max_lag < 0.1, server.ctx.looplag.summary()


async def test_the_agent_signs_in_from_elsewhere_while_the_name_is_attacked(server: Server) -> None:
    for i in range(8):
        await login(server, "agent-a", f"guess-{i:04d}", source="127.0.0.9")
    assert await login(server, "agent-a", password_of("agent-a"), source="127.0.0.9") == 429
    assert await login(server, "agent-a", password_of("agent-a"), source="127.0.0.1") == 200


async def test_one_address_trying_many_names_is_limited(server: Server) -> None:
    statuses = [await login(server, f"nobody-{i}", "wrong-password", source="127.0.0.7") for i in range(30)]
    assert statuses[:20] == [401] * 20 and set(statuses[20:]) == {429}, statuses
    assert await login(server, "agent-b", password_of("agent-b"), source="127.0.0.7") == 429
    assert await login(server, "agent-b", password_of("agent-b"), source="127.0.0.1") == 200
