"""deploy/haproxy/haproxy.cfg: HAProxy accepts it, and real HAProxy on loopback, configured from it, balances two
real assist servers: HTTP, WebSockets and AudioSocket go through; when one node drains, the health check on
/readyz takes it out of rotation, new requests reach the other, and connections it already had stay open."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from assist.stream.protocols.audiosocket import AudioSocketClient
from assist.stream.simulate import simulate
from tests.conftest import CallAudio, Server, start_server, wait_for
from tests.support.cluster import HAPROXY, HAPROXY_CONFIG, Balancer

CONFIG = HAPROXY_CONFIG


def test_the_example_configuration_is_valid() -> None:
    proc = subprocess.run([HAPROXY, "-c", "-f", str(CONFIG)], capture_output=True, text=True, timeout=30)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Configuration file is valid" in out, out
    # the only warnings: the nodes' names do not resolve outside Docker (init-addr lets HAProxy start anyway)
    warnings = [line for line in out.splitlines() if "[WARNING]" in line]
    assert all("could not resolve address 'node" in w for w in warnings), warnings


def test_the_example_checks_readiness_and_keeps_websockets_open() -> None:
    text = "\n".join(line.partition("#")[0] for line in CONFIG.read_text().splitlines())  # directives only
    assert text.count("option httpchk GET /readyz") == 2  # the HTTP and the AudioSocket backends
    assert re.search(r"^\s*timeout tunnel\s+\d+h", text, re.M), "WebSockets need a long tunnel timeout"
    assert "on-marked-down" not in text  # a node taken out of rotation keeps the calls it has
    assert re.search(r"^\s*mode tcp", text, re.M) and "bind :9092" in text  # AudioSocket in TCP mode
    assert not re.search(r"^\s*(cookie|stick-table|stick on)\b", text, re.M), "stickiness is not needed"


def node_balancer(tmp: Path, a: Server, b: Server) -> Balancer:
    return Balancer(tmp, ((a.port, int(a.ctx.audiosocket_port or 0)), (b.port, int(b.ctx.audiosocket_port or 0))))


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[tuple[Server, Server]]:
    runner_a, a = await start_server(tmp_path / "node1", vosk_model=None, rtp_ports=None)
    runner_b, b = await start_server(tmp_path / "node2", vosk_model=None, rtp_ports=None)
    yield a, b
    await runner_a.cleanup()
    await runner_b.cleanup()


async def _served_by(balancer: Balancer) -> int:
    """Which node answered a GET /healthz through the balancer (its HTTP port)."""
    async with aiohttp.ClientSession() as s, s.get(balancer.url + "/healthz") as r:
        assert r.status == 200
        return int((await r.json())["ports"]["http"])


async def test_haproxy_balances_two_nodes_and_drops_a_draining_one(
    tmp_path: Path, nodes: tuple[Server, Server], call8k: CallAudio
) -> None:
    a, b = nodes
    balancer = node_balancer(tmp_path, a, b)
    balancer.start()
    session = aiohttp.ClientSession()
    try:
        up = {("assist_nodes", "node1"), ("assist_nodes", "node2")}
        up |= {("assist_audiosocket_nodes", "node1"), ("assist_audiosocket_nodes", "node2")}

        async def all_up() -> bool:
            try:
                states = await balancer.states()
            except aiohttp.ClientError:
                return False
            return all(states.get(k) == "UP" for k in up)

        await _until(all_up, timeout=30)

        # HTTP goes through, to both nodes in turn
        served = {await _served_by(balancer) for _ in range(10)}
        assert served == {a.port, b.port}
        # WebSockets go through: the live feed (two, one on each node: least connections) ...
        feeds = [await session.ws_connect(balancer.url.replace("http", "ws") + "/api/feed") for _ in range(2)]
        for feed in feeds:
            snapshot = json.loads((await feed.receive(timeout=10)).data)
            assert snapshot["type"] == "snapshot"
        assert len(a.ctx.websockets) == len(b.ctx.websockets) == 1
        # ... and a phone system's media stream: a Twilio call through the balancer is stored by a node
        call_id = await simulate(call8k.path, "twilio", balancer.url, fast=True, agent="a-1", language="ko-KR")
        await _until(lambda: _stored_on_either(call_id, a, b), timeout=30)
        # AudioSocket goes through the TCP frontend: an unregistered leg becomes a call on one node
        leg = str(uuid.uuid4())
        reader, writer = await asyncio.open_connection("127.0.0.1", balancer.ports["lb_audiosocket"])
        frames = [frame for _, frame in AudioSocketClient(leg).script(b"\x01\x00" * 1600)]
        for frame in frames[:4]:
            writer.write(frame)
        await writer.drain()
        await wait_for(lambda: any(leg in n.ctx.calls.live for n in (a, b)), timeout=10)
        writer.write(frames[-1])  # hang up
        await writer.drain()
        await asyncio.wait_for(reader.read(), 10)
        writer.close()

        # node 1 drains: its readiness check fails, the balancer takes it out of both backends
        async with session.post(a.url + "/api/admin/drain") as r:
            assert r.status == 202

        async def node1_down() -> bool:
            states = await balancer.states()
            return states[("assist_nodes", "node1")].startswith("DOWN") and states[
                ("assist_audiosocket_nodes", "node1")
            ].startswith("DOWN")

        await _until(node1_down, timeout=30)
        assert (await balancer.states())[("assist_nodes", "node2")] == "UP"
        # new requests reach node 2 only
        served = {await _served_by(balancer) for _ in range(10)}
        assert served == {b.port}
        call_id = await simulate(call8k.path, "twilio", balancer.url, fast=True, agent="a-1", language="ko-KR")
        await _until(lambda: _stored_on(call_id, b), timeout=30)
        assert await a.ctx.store.get(call_id) is None
        assert a.ctx.calls.refusals["draining"] == 0  # nobody was sent to the draining node
        # the connections node 1 already had stay open
        assert len(a.ctx.websockets) == 1
        for feed in feeds:
            await feed.send_str("ping")
            kinds: list[str] = []  # the events of the calls above may come first
            while not kinds or kinds[-1] != "pong":
                kinds.append(json.loads((await feed.receive(timeout=10)).data)["type"])
        for feed in feeds:
            await feed.close()
    finally:
        await session.close()
        balancer.stop()


async def _stored_on(call_id: str, node: Server) -> bool:
    await node.ctx.hub.drain()
    row = await node.ctx.store.get(call_id)
    return row is not None and row["status"] == "ended"


async def _stored_on_either(call_id: str, a: Server, b: Server) -> bool:
    return await _stored_on(call_id, a) or await _stored_on(call_id, b)


async def _until(pred: Callable[[], Awaitable[bool]], timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await pred():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)
