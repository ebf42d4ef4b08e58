"""Helpers for the browser-layer tests: people, signed-in HTTP sessions, a /ws client, Chromium settings."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from assist.store.users import UserStore
from assist.web.browser.hub import BrowserHub
from tests.conftest import Server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def password_of(name: str) -> str:
    return f"{name}-password"


async def add_users(server: Server, *people: tuple[str, str, str | None]) -> None:
    """(name, role, team) each; the password is password_of(name)."""
    users = UserStore(server.ctx.db)
    for name, role, team in people:
        await users.add(name, role, password_of(name), team=team)
    await browser_hub(server).refresh_teams()


def browser_hub(server: Server) -> BrowserHub:
    """The running server's browser layer (the context holds it as the service core's narrow interface)."""
    hub = server.ctx.browser_hub
    assert isinstance(hub, BrowserHub)
    return hub


async def signed_in(server: Server, name: str) -> aiohttp.ClientSession:
    s = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with s.post(server.url + "/login", json={"name": name, "password": password_of(name)}) as r:
        assert r.status == 200, await r.text()
    return s


class WsClient:
    """A /ws client that keeps every server message."""

    def __init__(self, session: aiohttp.ClientSession, server: Server) -> None:
        self.session = session
        self.server = server
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.messages: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self.closed: asyncio.Event = asyncio.Event()

    async def open(self, call_id: str | None = None) -> dict[str, Any]:
        self.ws = await self.session.ws_connect(self.server.url.replace("http", "ws") + "/ws")
        self._task = asyncio.create_task(self._read())
        await self.send({"type": "hello", "call_id": call_id})
        return await self.wait_for(lambda m: m["type"] == "snapshot")

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.messages.append(json.loads(msg.data))
        self.closed.set()

    async def send(self, msg: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send_str(json.dumps(msg))

    async def wait_for(self, pred: Any, timeout: float = 10.0, start: int = 0) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for m in self.messages[start:]:
                if pred(m):
                    return m
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no such message in {[m['type'] for m in self.messages]}")
            await asyncio.sleep(0.02)

    def events(self, type_: str | None = None, call_id: str | None = None) -> list[dict[str, Any]]:
        return [
            m["event"]
            for m in self.messages
            if m["type"] == "event"
            and (type_ is None or m["event"]["type"] == type_)
            and (call_id is None or m["event"]["call_id"] == call_id)
        ]

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == type_]

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._task is not None:
            await self._task


async def in_viewport(page: Any, locator: Any, within: Any | None = None) -> bool:
    """Whether the element is on screen without scrolling: its box inside the viewport (and inside `within`'s
    visible box, for an element in a scrolling container), not merely present in the DOM."""
    box = await locator.bounding_box()
    if box is None:
        return False
    if within is not None:
        outer = await within.bounding_box()
        if outer is None:
            return False
    else:
        size = page.viewport_size
        outer = {"x": 0, "y": 0, "width": size["width"], "height": size["height"]}
    return bool(
        box["width"] > 0
        and box["height"] > 0
        and box["x"] >= outer["x"] - 0.5
        and box["y"] >= outer["y"] - 0.5
        and box["x"] + box["width"] <= outer["x"] + outer["width"] + 0.5
        and box["y"] + box["height"] <= outer["y"] + outer["height"] + 0.5
    )
