"""Signing in and access to the browser UI on a real server: cookies, bearer tokens, 401/403 with reasons,
pages and the WebSocket, sign-out, the protocol schema.  (No browser here: tests/test_ui_browser.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest_asyncio

from tests.conftest import Server, start_server
from tests.support.ui import WsClient, add_users, password_of, signed_in

PEOPLE = [("agent-a", "agent", "east"), ("agent-b", "agent", "east"), ("sup-east", "supervisor", "east")]


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    runner, srv = await start_server(tmp_path, vosk_model=None)
    await add_users(srv, *PEOPLE)
    yield srv
    await runner.cleanup()


async def test_login_sets_a_safe_cookie(server: Server) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.post(server.url + "/login", json={"name": "agent-a", "password": password_of("agent-a")}) as r,
    ):
        assert r.status == 200
        body = await r.json()
        cookie = r.headers["Set-Cookie"]
    assert body["user"] == {"name": "agent-a", "role": "agent", "team": "east", "display_name": None}
    assert body["home"] == "/agent" and len(body["token"]) >= 40
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    assert value.startswith(body["token"] + ".")  # the token plus its signature


async def test_wrong_password_and_throttle(server: Server) -> None:
    async with aiohttp.ClientSession() as s:
        for _ in range(5):
            async with s.post(server.url + "/login", json={"name": "agent-b", "password": "nope-nope"}) as r:
                assert r.status == 401
                assert (await r.json())["error"] == "wrong name or password"
        async with s.post(server.url + "/login", json={"name": "agent-b", "password": password_of("agent-b")}) as r:
            assert r.status == 429
            assert "too many failed sign-ins" in (await r.json())["error"]
        async with s.post(
            server.url + "/login",
            data={"name": "sup-east", "password": "bad-bad-bad", "next": "/supervisor"},
            allow_redirects=False,
        ) as r:
            assert r.status == 303
            assert r.headers["Location"] == "/login?error=bad_credentials&name=sup-east&next=/supervisor"


async def test_form_login_redirects_to_the_role_page(server: Server) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        async with s.post(
            server.url + "/login",
            data={"name": "sup-east", "password": password_of("sup-east"), "next": "/agent"},
            allow_redirects=False,
        ) as r:
            assert r.status == 303 and r.headers["Location"] == "/supervisor"  # next is for another role
        async with s.get(server.url + "/supervisor") as r:
            assert r.status == 200 and "supervisor.js" in await r.text()
            assert r.headers["Cache-Control"] == "no-store"
            assert "default-src 'self'" in r.headers["Content-Security-Policy"]


async def test_pages_need_the_right_person(server: Server) -> None:
    async with aiohttp.ClientSession() as anon:
        async with anon.get(server.url + "/agent", headers={"Accept": "text/html"}, allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"] == "/login?next=/agent"
        async with anon.get(server.url + "/agent") as r:
            assert r.status == 401
            assert (await r.json())["error"] == "not signed in: sign in at /login first"
        async with anon.get(server.url + "/ui/me") as r:
            assert r.status == 401
        async with anon.get(server.url + "/login") as r:
            assert r.status == 200 and "login.js" in await r.text()
        async with anon.get(server.url + "/static/i18n/en-US.json") as r:
            assert r.status == 200 and (await r.json())["auth.submit"] == "Sign in"
    agent = await signed_in(server, "agent-a")
    sup = await signed_in(server, "sup-east")
    try:
        # a browser navigation gets a page that says why and links to the person's own page
        async with agent.get(server.url + "/supervisor", headers={"Accept": "text/html"}) as r:
            assert r.status == 403 and r.content_type == "text/html"
            page = await r.text()
            assert "needs the role supervisor; agent-a has the role agent" in page and 'href="/agent"' in page
            assert 'action="/logout"' in page
        async with agent.get(server.url + "/supervisor", headers={"Accept": "application/json"}) as r:
            assert r.status == 403
            err = await r.json()
            assert err["error"] == "this needs the role supervisor; agent-a has the role agent"
        async with sup.get(server.url + "/agent") as r:
            assert r.status == 403 and "needs the role agent" in (await r.json())["error"]
        async with agent.get(server.url + "/agent") as r:
            assert r.status == 200 and "agent.js" in await r.text()
        async with agent.get(server.url + "/ui/me") as r:
            assert (await r.json())["user"]["name"] == "agent-a"
    finally:
        await agent.close()
        await sup.close()


async def test_bearer_token_and_tampered_cookie(server: Server) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.post(server.url + "/login", json={"name": "sup-east", "password": password_of("sup-east")}) as r:
            token = (await r.json())["token"]
        async with s.get(server.url + "/ui/me", headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 200 and (await r.json())["user"]["role"] == "supervisor"
        async with s.get(server.url + "/ui/me", headers={"Authorization": "Bearer not-a-session"}) as r:
            assert r.status == 401 and "expired or signed out" in (await r.json())["error"]
        async with s.get(server.url + "/ui/me", headers={"Cookie": f"assist_session={token}.0123456789abcdef"}) as r:
            assert r.status == 401 and (await r.json())["error"].startswith("bad cookie signature")
        # the phone-system API keeps its own credentials: a person's session is not an API token
        async with s.get(server.url + "/healthz") as r:
            assert r.status == 200


async def test_websocket_refusals(server: Server) -> None:
    ws_url = server.url.replace("http", "ws") + "/ws"
    async with aiohttp.ClientSession() as anon:
        async with anon.get(
            ws_url,
            headers={
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            },
        ) as r:
            assert r.status == 401 and "not signed in" in (await r.json())["error"]
    agent = await signed_in(server, "agent-a")
    try:
        async with agent.get(
            ws_url,
            headers={
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Origin": "https://evil.example",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            },
        ) as r:
            assert r.status == 403 and "cross-site WebSocket" in (await r.json())["error"]
    finally:
        await agent.close()


async def test_logout_closes_the_session_and_its_sockets(server: Server) -> None:
    agent = await signed_in(server, "agent-a")
    try:
        client = WsClient(agent, server)
        await client.open()
        async with agent.post(server.url + "/logout", json={}) as r:
            assert r.status == 200 and "assist_session=" in r.headers["Set-Cookie"]
        await client.closed.wait()
        assert client.ws is not None and client.ws.close_code == 4401
        async with agent.get(server.url + "/ui/me") as r:
            assert r.status == 401
    finally:
        await agent.close()


async def test_schema_is_published(server: Server) -> None:
    status, schema = await server.get("/api/schema/browser.json")
    assert status == 200
    assert schema["$schema"].endswith("2020-12/schema") and schema["version"] == 1
    defs = schema["$defs"]
    server_types = set(defs["ServerMessage"]["discriminator"]["mapping"])
    client_types = set(defs["ClientMessage"]["discriminator"]["mapping"])
    assert server_types == {
        "snapshot",
        "event",
        "supervisor_message",
        "alert_ack",
        "summary_draft",
        "delivery_state",
        "error",
        "pong",
    }
    assert client_types == {"hello", "subscribe", "ack_alert", "send_message", "edit_summary", "submit_summary", "ping"}
    assert "Prompt" in defs and "TranscriptSegment" in defs
    doc = (Path(__file__).parents[1] / "docs" / "browser-protocol.md").read_text(encoding="utf-8")
    for t in server_types | client_types:
        assert f"`{t}`" in doc, f"docs/browser-protocol.md does not describe {t}"
