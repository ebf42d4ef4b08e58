"""ID and bank-card numbers in call metadata are masked at ingress (issue 15, defect 18).

Twilio customParameters, POST /api/calls meta and PUT updates: what the live feed, the live-call snapshot
and the store get keeps only the last 4 digits, as transcript masking does.  Real server on loopback,
real SQLite.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest_asyncio
import websockets

from assist.stream.protocols.twilio import TwilioClient
from tests.conftest import Server, start_server, wait_for

ID_NUMBER = "110101199003071234"  # 18-digit resident ID
CARD = "6222 0202 0000 5678"  # bank card, written in groups
RAW = ("110101199003071234", "6222020200005678", "6222 0202 0000 5678")


@pytest_asyncio.fixture
async def srv(tmp_path: Path) -> AsyncIterator[Server]:
    runner, server = await start_server(tmp_path)
    yield server
    await runner.cleanup()


def leaks(value: Any) -> list[str]:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return [r for r in RAW if r in text]


async def feed_events(server: Server, out: list[dict[str, Any]], ready: asyncio.Event) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(server.url + "/api/feed") as ws:
        ready.set()
        async for msg in ws:
            out.append(json.loads(msg.data))


async def test_api_meta_is_masked_in_the_store_the_feed_and_the_live_call(srv: Server) -> None:
    events: list[dict[str, Any]] = []
    ready = asyncio.Event()
    listener = asyncio.create_task(feed_events(srv, events, ready))
    await ready.wait()
    try:
        status, _ = await srv.post(
            "/api/calls", {"call_id": "CAmask", "meta": {"idNumber": ID_NUMBER, "note": f"card {CARD}"}}
        )
        assert status == 201
        stored = await srv.ctx.store.get("CAmask")
        assert stored is not None and not leaks(stored["meta"]), stored
        assert stored["meta"]["idNumber"].endswith("1234") and "*" in stored["meta"]["idNumber"]
        tw = TwilioClient(call_sid="CAmask", custom_parameters={"cardNo": CARD.replace(" ", "")})
        async with websockets.connect(f"ws://{srv.addr}/twilio") as ws:
            await ws.send(tw.connected())
            await ws.send(tw.start())
            await ws.send(tw.media("inbound", b"\xff" * 160))
            await wait_for(lambda: "CAmask" in srv.ctx.calls.live, timeout=10)
            live = srv.ctx.calls.live["CAmask"].started
            assert not leaks(live.model_dump(mode="json")), live.meta
            req = {"meta": {"other": {"bankCard": "6222020200009999"}}}
            async with aiohttp.ClientSession() as s, s.put(srv.url + "/api/calls/CAmask", json=req) as r:
                assert r.status == 200
            assert "6222020200009999" not in json.dumps(srv.ctx.calls.live["CAmask"].started.meta)
            await ws.send(tw.stop())
        await wait_for(lambda: any(e.get("type") == "call_ended" for e in events), timeout=30)
        await srv.ctx.hub.drain()
        stored = await srv.ctx.store.get("CAmask")
        assert stored is not None
        assert not leaks(stored["meta"]) and "6222020200009999" not in json.dumps(stored["meta"]), stored["meta"]
        started = [e for e in events if e.get("type") in ("call_started", "call_updated")]
        assert started and not leaks(started) and "6222020200009999" not in json.dumps(started), started
        snapshot = await srv.ctx.snapshot(None)
        assert not leaks(snapshot)
    finally:
        listener.cancel()
