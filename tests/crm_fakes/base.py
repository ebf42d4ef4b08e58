"""Shared machinery of the fake CRMs: a real aiohttp server on 127.0.0.1 with scripted faults.

A `Fault` is consumed by the next request to a route (or stays, as the route's standing `mode`):
  - `status`/`body`/`headers`: the answer to give instead of the real one;
  - `delay`: seconds to wait before answering (longer than the client's timeout = a timeout);
  - `after=True`: do the real work first (record, create…) and only then answer wrongly - the ambiguous
    failure where the CRM has the data but the client does not know it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import parse_qs

from aiohttp import web

BODY = web.RequestKey("body", bytes)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Fault:
    status: int | None = None
    body: bytes | str | dict[str, Any] | list[Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    after: bool = False

    async def apply(self) -> web.Response | None:
        """Wait `delay`; then the answer to give instead of the real one (None: give the real one)."""
        if self.delay:
            await asyncio.sleep(self.delay)
        return None if self.status is None else self.response()

    def response(self) -> web.Response:
        body = self.body
        if isinstance(body, dict | list):
            return web.json_response(body, status=self.status or 200, headers=self.headers)
        if isinstance(body, str):
            body = body.encode()
        return web.Response(
            status=self.status or 200, body=body or b"", headers=self.headers, content_type="application/json"
        )


@dataclass
class Received:
    route: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


class FakeServer:
    """Subclasses add routes with `self.route(method, path, name, handler)`."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.received: list[Received] = []
        self.queued: dict[str, list[Fault]] = {}
        self.modes: dict[str, Fault] = {}
        self.inflight = 0  # requests received but not answered yet
        self._runner: web.AppRunner | None = None
        self.port = 0

    # faults ------------------------------------------------------------------------------------------
    def push(self, route: str, *faults: Fault) -> None:
        self.queued.setdefault(route, []).extend(faults)

    def set_mode(self, route: str, fault: Fault | None) -> None:
        if fault is None:
            self.modes.pop(route, None)
        else:
            self.modes[route] = fault

    def _fault(self, route: str) -> Fault | None:
        q = self.queued.get(route)
        if q:
            return q.pop(0)
        return self.modes.get(route) or self.modes.get("*")

    def route(self, method: str, path: str, name: str, handler: Handler) -> None:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            self.received.append(
                Received(
                    name,
                    request.method,
                    request.path_qs,
                    {k.lower(): v for k, v in request.headers.items()},
                    body,
                    time.time(),
                )
            )
            self.inflight += 1
            try:
                fault = self._fault(name)
                if fault is not None and not fault.after and (instead := await fault.apply()) is not None:
                    return instead
                request[BODY] = body
                real = await handler(request)
                if fault is not None and fault.after and (instead := await fault.apply()) is not None:
                    return instead
                return real
            finally:
                self.inflight -= 1

        self.app.router.add_route(method, path, wrapped)

    def count(self, route: str) -> int:
        return sum(1 for r in self.received if r.route == route)

    # lifecycle ---------------------------------------------------------------------------------------
    async def start(self) -> Self:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def body_json(request: web.Request) -> Any:
    """The request's JSON body, or raise a 400 that says what is wrong (as the real APIs do)."""
    raw: bytes = request[BODY]
    try:
        return json.loads(raw)
    except ValueError:
        raise web.HTTPBadRequest(
            text=json.dumps({"message": "malformed JSON body"}), content_type="application/json"
        ) from None


class OAuthServer(FakeServer):
    """A fake CRM that takes bearer tokens it issued and grants new ones for a refresh token (RFC 6749
    section 6).  Each vendor answers the grant in its own shape; `grant_problem` says what a grant lacks."""

    def __init__(
        self, *, first_token: str, token_prefix: str, client_id: str, client_secret: str, refresh_token: str
    ) -> None:
        super().__init__()
        self.client_id, self.client_secret, self.refresh_token = client_id, client_secret, refresh_token
        self.token_prefix = token_prefix  # granted tokens are this and a count from 1
        self.valid_tokens: set[str] = {first_token}  # the one configured by hand
        self._tokens = itertools.count(1)
        self.token_grants = 0

    def expire_tokens(self) -> None:
        self.valid_tokens.clear()

    def authorised(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        return auth.startswith("Bearer ") and auth[7:] in self.valid_tokens

    def grant_problem(self, request: web.Request) -> str | None:
        """None for a good refresh-token grant, else what is wrong: grant_type, client or refresh_token."""
        form = {k: v[0] for k, v in parse_qs(request[BODY].decode()).items()}
        if form.get("grant_type") != "refresh_token":
            return "grant_type"
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return "client"
        if form.get("refresh_token") != self.refresh_token:
            return "refresh_token"
        return None

    def issue_token(self) -> str:
        token = f"{self.token_prefix}{next(self._tokens)}"
        self.valid_tokens.add(token)
        self.token_grants += 1
        return token
