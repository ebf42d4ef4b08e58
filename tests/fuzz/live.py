"""A real assist server on loopback for the HTTP and WebSocket fuzzers, run in its own thread and event
loop so hypothesis (which calls the test body synchronously, example after example) can talk to it with
plain blocking clients: http.client for the JSON API, websockets' sync client for /ws.

`vosk_model=None` keeps it light (no recogniser); everything else is the production app.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import tempfile
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from tests.conftest import Server, start_server
from tests.support.ui import add_users, password_of

T = TypeVar("T")

USER = "fuzz-agent"
ACCOUNT = {
    "id": "acct-fuzz-1",
    "name": "张伟",
    "principal": 20000,
    "interest": 1200,
    "penalty": 300,
    "total_due": 21500,
    "overdue_days": 45,
    "stage": "M2",
    "due_date": "2026-10-06",
    "currency": "CNY",
    "timezone": "Asia/Shanghai",
}


class LiveServer:
    """Starts the app in a daemon thread; `request()` is a blocking HTTP call; `stop()` cleans up."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="assist-fuzz-")
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fuzz-server", daemon=True)
        self._thread.start()
        self.runner, self.server = self.run(start_server(Path(self._tmp.name), vosk_model=None))
        self.run(add_users(self.server, (USER, "agent", "east")))
        status, _ = self.request("POST", "/api/accounts", json.dumps(ACCOUNT))
        assert status == 201, status
        self.cookie = self._login()

    @property
    def srv(self) -> Server:
        return self.server

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def request(
        self,
        method: str,
        path: str,
        body: str | bytes | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            hdrs = {"Content-Type": content_type, **(headers or {})}
            data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def _login(self) -> str:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            conn.request(
                "POST",
                "/login",
                body=json.dumps({"name": USER, "password": password_of(USER)}),
                headers={"Content-Type": "application/json"},
            )
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200, resp.status
            cookies = [v.split(";", 1)[0] for k, v in resp.getheaders() if k.lower() == "set-cookie"]
            return "; ".join(cookies)
        finally:
            conn.close()

    def healthy(self) -> bool:
        status, _ = self.request("GET", "/healthz")
        return status == 200

    def stop(self) -> None:
        self.run(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()
        self._tmp.cleanup()


def path_segment(text: str) -> str:
    """`text` as one URL path segment (percent-encoded, never empty)."""
    return quote(text, safe="") or "x"
