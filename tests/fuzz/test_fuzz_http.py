"""Hypothesis-generated requests against every JSON API body and query, /login, and the browser socket's
client messages, through a real server on loopback (tests.fuzz.live).

The property: a request the server cannot use gets a 4xx whose body is a JSON object with an "error"
string saying what was wrong (a 503 with the same shape is an admission refusal, also fine); never a 5xx
and never a traceback; the server stays healthy (/healthz 200).  On /ws every server frame is strict JSON,
bad client messages get an `error` message with a 4xx code, and the socket stays open (a ping after the
fuzzed messages is answered).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from assist.stream.protocols.base import loads_strict
from assist.web.browser.protocol import BadMessage, parse_client_message
from tests.fuzz import strategies as fs
from tests.fuzz.live import ACCOUNT, LiveServer, path_segment


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    server = LiveServer()
    yield server
    server.stop()


class BadReply(AssertionError):
    """The server answered a fuzzed request with something other than a JSON 4xx saying why."""


def check_reply(method: str, path: str, body: Any, status: int, raw: bytes) -> None:
    """2xx/3xx: fine.  4xx (and the 503 refusal): a JSON object with an "error" string.  5xx: a defect."""
    where = f"{method} {path[:120]} body={str(body)[:200]!r}"
    if status < 400:
        return
    try:
        reply = json.loads(raw)
    except ValueError:
        raise BadReply(f"{where}: {status} with a non-JSON body {raw[:300]!r}") from None
    if not isinstance(reply, dict) or not isinstance(reply.get("error"), str) or not reply["error"]:
        raise BadReply(f"{where}: {status} without an 'error' string: {raw[:300]!r}")
    if status >= 500 and status != 503:
        raise BadReply(f"{where}: {status} {reply['error'][:300]}")


def exchange(
    live: LiveServer, method: str, path: str, body: str | None = None, content_type: str = "application/json"
) -> int:
    status, raw = live.request(method, path, body, content_type)
    check_reply(method, path, body, status, raw)
    return status


CALL = {
    "call_id": "fuzz-1",
    "agent_id": "a-1",
    "account_id": "acct-fuzz-1",
    "language": "zh-CN",
    "protocol": "twilio",
    "customer_phone": "+8613800000000",
    "direction": "inbound",
    "meta": {"k": 1},
    "audiosocket": {"customer": "5f3e0000-0000-4000-8000-000000000001"},
    "rtp": {"payload_type": 0},
}
ATTEMPT = {"at": "2026-11-30T10:00:00+08:00", "connected": True, "channel": "human", "call_id": "c-1"}
SUMMARY = {"edits": {"promise_amount": 100, "notes": "x"}, "by": "a-1"}
LOGIN = {"name": "fuzz-agent", "password": "wrong", "next": "/agent"}

IDS = st.one_of(st.sampled_from(["fuzz-1", "acct-fuzz-1", "c-1", "..", "%", "x" * 300]), st.text(max_size=40))
QUERY_VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            "1e400",
            "NaN",
            "99999999999999999999999",
            "2026-11-30T10:00:00+08:00",
            "2026-11-30T10:00:00",
            "9999-12-31T23:59:59+14:00",
            "0001-01-01T00:00:00+00:00",
            "zh-CN",
            "en-US",
            "xx",
            "../etc",
            "\u0000",
        ]
    ),
)


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # "{id}" is replaced by a fuzzed, percent-encoded path segment
    body: st.SearchStrategy[str] | None


ROUTES = {
    "register": Route("POST", "/api/calls", fs.json_body(CALL)),
    "claim": Route("PUT", "/api/calls/{id}", fs.json_body(CALL)),
    "end": Route("POST", "/api/calls/{id}/end", None),
    "accounts": Route(
        "POST",
        "/api/accounts",
        fs.json_body(ACCOUNT)
        | fs.json_body({"list": [ACCOUNT, ACCOUNT]}).map(lambda text: text.replace('{"list": ', "", 1)),
    ),
    "attempts": Route("POST", "/api/accounts/{id}/attempts", fs.json_body(ATTEMPT)),
    "summary_edit": Route("PATCH", "/api/calls/{id}/summary", fs.json_body(SUMMARY)),
    "summary_submit": Route("POST", "/api/calls/{id}/summary/submit", fs.json_body(SUMMARY)),
    "login": Route("POST", "/login", fs.json_body(LOGIN)),
}


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_json_bodies_get_a_4xx_saying_why(live: LiveServer, name: str) -> None:
    route = ROUTES[name]

    @given(IDS, route.body if route.body is not None else st.none())
    def check(ident: str, body: str | None) -> None:
        exchange(live, route.method, route.template.replace("{id}", path_segment(ident)), body)

    check()
    assert live.healthy()


@given(
    st.dictionaries(st.sampled_from(["at", "language", "limit", "x"]), QUERY_VALUES, max_size=3),
    st.sampled_from(
        [
            "/api/accounts/acct-fuzz-1/dial-check",
            "/api/accounts/{id}/dial-check",
            "/api/calls",
            "/api/outbox",
            "/api/outbox/metrics",
            "/api/outbox/{n}",
            "/api/calls/{id}",
            "/api/calls/{id}/summary",
            "/api/accounts/{id}",
        ]
    ),
    IDS,
    st.integers(min_value=0, max_value=10**30),
)
def test_queries_get_a_4xx_saying_why(
    live: LiveServer, params: dict[str, str], template: str, ident: str, n: int
) -> None:
    path = template.replace("{id}", path_segment(ident)).replace("{n}", str(n))
    query = urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in params.items()})
    exchange(live, "GET", path + ("?" + query if query else ""))


@given(st.integers(min_value=0, max_value=10**30))
def test_outbox_retry_of_any_id(live: LiveServer, n: int) -> None:
    exchange(live, "POST", f"/api/outbox/{n}/retry")


@given(st.dictionaries(st.sampled_from(["name", "password", "next", "x"]), st.text(max_size=60), max_size=4))
def test_login_form_bodies(live: LiveServer, form: dict[str, str]) -> None:
    body = urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in form.items()})
    exchange(live, "POST", "/login", body, "application/x-www-form-urlencoded")


# ------------------------------------------------------------------------------------ browser socket

CLIENT_MESSAGES: list[dict[str, Any]] = [
    {"type": "hello", "protocol": 1, "call_id": "fuzz-1"},
    {"type": "subscribe", "call_id": "fuzz-1"},
    {"type": "ack_alert", "prompt_id": "p-1"},
    {"type": "send_message", "call_id": "fuzz-1", "text": "hi"},
    {"type": "edit_summary", "call_id": "fuzz-1", "edits": {"notes": "x"}},
    {"type": "submit_summary", "call_id": "fuzz-1", "edits": None},
    {"type": "ping", "t": 1.5},
]
CLIENT_TEXT = st.one_of(
    st.sampled_from(CLIENT_MESSAGES).flatmap(fs.mutated),
    st.sampled_from(CLIENT_MESSAGES).map(json.dumps),
    fs.JSON_VALUES.map(json.dumps),
    fs.GARBAGE_TEXT,
)


@given(CLIENT_TEXT)
def test_parse_client_message_raises_only_bad_message(text: str) -> None:
    try:
        parse_client_message(text)
    except BadMessage as exc:
        assert str(exc)


def sendable(text: str) -> bool:
    """What a browser can send on /ws: valid UTF-8 text within the socket's 64 KiB message limit (larger
    messages close the socket with 1009 by design, checked in test_browser_socket_closes_oversized_messages)."""
    try:
        return len(text.encode()) < 64 * 1024
    except UnicodeEncodeError:  # lone surrogates: not valid UTF-8, a browser cannot send them
        return False


@given(st.lists(CLIENT_TEXT.filter(sendable), min_size=1, max_size=5))
def test_browser_socket_answers_bad_messages_with_4xx_errors(live: LiveServer, texts: list[str]) -> None:
    url = f"ws://127.0.0.1:{live.server.port}/ws"
    with connect(url, additional_headers={"Cookie": live.cookie}, max_size=None, open_timeout=10) as ws:
        ws.send(json.dumps({"type": "hello"}))
        for text in texts:
            ws.send(text)
        ws.send(json.dumps({"type": "ping", "t": 42.0}))
        while True:  # until our ping's pong: the socket survived everything before it
            frame = ws.recv(timeout=10)
            assert isinstance(frame, str)
            msg = loads_strict(frame, max_depth=64)  # the browser's JSON.parse takes no NaN/Infinity
            assert isinstance(msg, dict) and isinstance(msg.get("type"), str), frame[:300]
            if msg["type"] == "error":
                assert 400 <= msg["status"] < 500, frame[:500]
            if msg["type"] == "pong" and msg.get("t") == 42.0:
                break


def test_browser_socket_closes_oversized_messages(live: LiveServer) -> None:
    url = f"ws://127.0.0.1:{live.server.port}/ws"
    with connect(url, additional_headers={"Cookie": live.cookie}, max_size=None, open_timeout=10) as ws:
        ws.send(json.dumps({"type": "ping", "t": "x" * 70_000}))
        with pytest.raises(ConnectionClosed) as info:
            while True:
                ws.recv(timeout=10)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009
    assert live.healthy()
