"""Regression tests for the defects the fuzz suite found, one per defect, each the smallest input that
showed it (see bench/RESULTS.md "Fuzzing" for the list)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
import pytest_asyncio
from structlog.testing import capture_logs

from assist.stream.protocols.audiosocket import AudioSocketServer, encode_frame
from assist.stream.protocols.base import CallStart, CallStop, Close, CloseCode, LocalProtocolError
from assist.stream.protocols.rtp import RtpReceiver, build_rtp
from assist.web.browser.protocol import BadMessage, parse_client_message
from assist.web.phone.driver import ProtocolDriver
from tests.conftest import Server, start_server
from tests.test_protocol_driver import FakeCalls, Wire

UUID1 = uuid.UUID(int=1)


def test_audiosocket_call_that_ends_in_the_read_that_started_it_is_admitted_without_error() -> None:
    """One TCP read with the UUID frame and the hangup frame (a very short call, or reads that bunch up):
    the protocol has already ended when the driver answers the CallStart, and accept() used to raise
    LocalProtocolError, which the driver turned into an internal error (1011, a traceback in the log)."""
    proto = AudioSocketServer()
    events = proto.receive(encode_frame(0x01, UUID1.bytes) + encode_frame(0x00))
    assert [type(e) for e in events] == [CallStart, CallStop, Close]
    assert proto.accept() == []
    refused = AudioSocketServer()
    refused.receive(encode_frame(0x01, UUID1.bytes) + encode_frame(0x00))
    assert refused.refuse("busy") == []  # nothing left to say: the peer hung up already


async def test_audiosocket_uuid_and_hangup_in_one_read_through_the_driver() -> None:
    calls, wire = FakeCalls(), Wire()
    proto = AudioSocketServer()
    driver = ProtocolDriver(proto, "audiosocket", calls, send_bytes=wire.send_bytes, close=wire.close)
    with capture_logs() as logs:
        await driver.receive(encode_frame(0x01, UUID1.bytes) + encode_frame(0x10, b"\0\0" * 160) + encode_frame(0x00))
        await driver.connection_lost()
    assert not [entry for entry in logs if entry["log_level"] == "error"], logs
    assert wire.actions == [("close", CloseCode.NORMAL, "hangup")]
    assert calls.ended == [(str(UUID1), "hangup")]
    assert len(calls.audio_seen) == 1


# ------------------------------------------------------------------------------------ HTTP and /ws


@pytest_asyncio.fixture
async def light_server(tmp_path: Path) -> AsyncIterator[Server]:
    runner, srv = await start_server(tmp_path, vosk_model=None)
    yield srv
    await runner.cleanup()


async def _raw(server: Server, method: str, path: str, body: str | None = None) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, server.url + path, data=body, headers={"Content-Type": "application/json"}) as r,
    ):
        return r.status, await r.json(content_type=None)


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        # bodies over client_max_size got aiohttp's plain-text 413
        ("POST", "/api/calls", json.dumps({"meta": {"x": "x" * 70_000}}), 413),
        ("POST", "/login", json.dumps({"name": "x" * 70_000}), 413),
        # JSON nested deeper than json.loads can recurse was a 500 (RecursionError)
        ("POST", "/api/calls", "[" * 5000 + "]" * 5000, 400),
        ("POST", "/api/accounts", '{"a":' * 5000 + "0" + "}" * 5000, 400),
        ("POST", "/login", "[" * 5000 + "]" * 5000, 400),
        # an integer literal over Python's 4300-digit limit was a 500 (ValueError, not JSONDecodeError)
        ("POST", "/api/calls", '{"meta": {"n": ' + "1" * 5000 + "}}", 400),
        # an id that cannot match the route ({ and } are outside aiohttp's segment pattern): plain-text 404
        ("GET", "/api/accounts/%7B/dial-check", None, 404),
        ("DELETE", "/api/calls", None, 405),
        # an outbox id beyond SQLite's integer range was a 500 (OverflowError in the query)
        ("POST", "/api/outbox/9223372036854775808/retry", None, 404),
        ("GET", "/api/outbox/99999999999999999999", None, 404),
    ],
)
async def test_api_errors_are_json_saying_why(
    light_server: Server, method: str, path: str, body: str | None, status: int
) -> None:
    got, reply = await _raw(light_server, method, path, body)
    assert got == status, reply
    assert isinstance(reply, dict) and isinstance(reply.get("error"), str) and reply["error"], reply
    assert (await light_server.get("/healthz"))[0] == 200


@pytest.mark.parametrize("text", ["[" * 5000 + "]" * 5000, '{"type": "ping", "t": ' + "1" * 5000 + "}"])
def test_browser_message_too_deep_or_with_a_huge_integer_is_a_bad_message(text: str) -> None:
    """json.loads raised RecursionError / ValueError, which escaped parse_client_message (the socket's
    reader then failed instead of answering with an error message)."""
    with pytest.raises(BadMessage, match="not JSON"):
        parse_client_message(text)


def test_audiosocket_accept_twice_after_the_end_is_still_our_bug() -> None:
    """The no-op answer is for the one unanswered CallStart only; a second answer stays LocalProtocolError."""
    proto = AudioSocketServer()
    proto.receive(encode_frame(0x01, UUID1.bytes) + encode_frame(0x00))
    assert proto.accept() == []
    with pytest.raises(LocalProtocolError, match="state ENDED"):
        proto.accept()


def test_rtp_emits_nothing_after_its_failure_close() -> None:
    """fail() ended the leg with packets still held for reordering (seq 1 missing); connection_closed()
    used to flush them: Audio after the Close."""
    proto = RtpReceiver()
    proto.receive(build_rtp(b"\xff" * 4, payload_type=0, seq=0, timestamp=0, ssrc=1))
    assert proto.receive(build_rtp(b"\xff" * 4, payload_type=0, seq=2, timestamp=320, ssrc=1)) == []
    assert [type(e) for e in proto.fail("x")] == [CallStop, Close]
    assert proto.connection_closed() == []


@pytest.mark.parametrize("at", ["0001-01-01000-0000", "0001-01-02T00:00:00+00:00", "9999-12-31T23:00:00-05:00"])
async def test_dial_check_at_the_ends_of_the_calendar_is_a_400(light_server: Server, at: str) -> None:
    """`at` parsed, but the history window (`at` minus HISTORY_DAYS) or the local-time arithmetic overflowed:
    a 500 (OverflowError) instead of a 400 saying the time is out of range."""
    account = {
        "id": "acct-edge",
        "name": "x",
        "principal": 100,
        "total_due": 100,
        "overdue_days": 1,
        "currency": "CNY",
        "timezone": "Asia/Shanghai",
    }
    assert (await light_server.post("/api/accounts", account))[0] == 201, account
    status, reply = await _raw(light_server, "GET", f"/api/accounts/acct-edge/dial-check?at={quote(at)}")
    assert status == 400 and "out of range" in reply["error"], reply
