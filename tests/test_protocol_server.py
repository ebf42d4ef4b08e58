"""The phone handlers through a real server on loopback: how connections end.

An empty close frame is a normal close; a failed AudioHook authentication is answered after the
reference server's delay without holding up anyone else; hostile JSON and unexpected exceptions end
the connection with a clear close code and one structured log line; a connection that never brings
media is closed with the protocol's error.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import websockets
from structlog.testing import capture_logs

from assist.stream.protocols.audiohook import AudioHookClient
from assist.stream.protocols.twilio import TwilioClient, TwilioServer
from assist.web.phone.websocket import AUTH_FAILURE_DELAY
from tests.conftest import Server, start_server, wait_for


@pytest_asyncio.fixture
async def quick(tmp_path: Path) -> AsyncIterator[Server]:
    """A server whose phone connections must bring media within a second."""
    runner, srv = await start_server(tmp_path, media_timeout=1.0, audiohook_api_key="right-key")
    yield srv
    await runner.cleanup()


def url(server: Server, path: str) -> str:
    return f"ws://{server.addr}{path}"


async def closed_with(ws: Any, received: list[str] | None = None) -> tuple[int | None, str]:
    """Read until the server closes (messages go to `received`); its close code and reason."""
    with pytest.raises(websockets.ConnectionClosed) as exc:
        for _ in range(100):
            message = await asyncio.wait_for(ws.recv(), 5)
            if received is not None:
                received.append(message)
    rcvd = exc.value.rcvd
    return (rcvd.code, rcvd.reason) if rcvd is not None else (None, "")


async def test_an_empty_close_frame_is_a_normal_close(quick: Server) -> None:
    """Genesys' client ends with a close frame that carries no code (aiohttp reports 0)."""
    with capture_logs() as logs:
        async with websockets.connect(url(quick, "/twilio")) as ws:
            tw = TwilioClient()
            await ws.send(tw.connected())
            await ws.send(tw.start())
            await ws.send(tw.media("inbound", b"\xff" * 160))
            await ws.close(code=None)  # type: ignore[arg-type]  # None = a close frame with no payload
        await wait_for(lambda: quick.ctx.calls.counters["calls_ended"] == 1, timeout=10)
    assert not [e for e in logs if e["event"] == "connection closed abnormally"], logs


async def test_auth_failure_is_answered_after_the_delay_without_blocking_others(quick: Server) -> None:
    async def bad_open() -> float:
        client = AudioHookClient()
        async with websockets.connect(url(quick, "/audiohook"), additional_headers=client.headers("wrong")) as ws:
            sent = time.monotonic()
            await ws.send(client.open())
            reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert reply["type"] == "disconnect" and reply["parameters"]["reason"] == "unauthorized"
            return time.monotonic() - sent

    async def healthz() -> float:
        await asyncio.sleep(0.1)
        sent = time.monotonic()
        async with aiohttp.ClientSession() as s, s.get(quick.url + "/healthz") as r:
            assert r.status == 200
        return time.monotonic() - sent

    started = time.monotonic()
    waits = await asyncio.gather(bad_open(), bad_open(), healthz())
    assert min(waits[:2]) >= AUTH_FAILURE_DELAY
    assert time.monotonic() - started < 2 * AUTH_FAILURE_DELAY + 1.0  # the two waits overlap
    assert waits[2] < AUTH_FAILURE_DELAY  # the event loop kept serving meanwhile


@pytest.mark.parametrize(
    ("path", "subprotocols"),
    [("/twilio", None), ("/audiohook", None), ("/audiofork", ["audio.drachtio.org"])],
)
async def test_deeply_nested_json_is_refused_with_a_clear_close(
    quick: Server, path: str, subprotocols: list[str] | None
) -> None:
    headers = AudioHookClient().headers("right-key") if path == "/audiohook" else {}
    with capture_logs() as logs:
        async with websockets.connect(url(quick, path), additional_headers=headers, subprotocols=subprotocols) as ws:  # type: ignore[arg-type]
            await ws.send("[" * 30_000 + "]" * 30_000)
            if path == "/audiohook":  # AudioHook answers in the protocol first, then the client closes
                reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert reply["type"] == "disconnect" and "nested deeper than 32" in reply["parameters"]["info"]
                return
            received: list[str] = []
            code, reason = await closed_with(ws, received)
    if path == "/audiofork":  # the reason travels in an `error` message (FreeSWITCH raises it as an event)
        [error] = received
        reason = json.loads(error)["data"]["reason"]
    assert code == 1007 and "nested deeper than 32" in reason
    assert not [e for e in logs if e["log_level"] == "error"]


async def test_an_unexpected_exception_closes_with_1011_and_one_log_line(
    quick: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(self: TwilioServer, msg: dict[str, Any]) -> list[Any]:
        raise KeyError("a bug in a handler")

    monkeypatch.setattr(TwilioServer, "_on_dtmf", boom)
    with capture_logs() as logs:
        async with websockets.connect(url(quick, "/twilio")) as ws:
            tw = TwilioClient()
            await ws.send(tw.connected())
            await ws.send(tw.start())
            await ws.send(tw.media("inbound", b"\xff" * 160))
            await ws.send(tw.dtmf("5"))
            code, reason = await closed_with(ws)
        await wait_for(lambda: quick.ctx.calls.counters["calls_ended"] == 1, timeout=10)
    assert (code, reason) == (1011, "internal error")
    [line] = [e for e in logs if e["log_level"] == "error"]
    assert line["event"] == "connection handler failed" and line["error"].startswith("KeyError")


async def test_a_websocket_without_media_is_closed_with_the_protocols_error(quick: Server) -> None:
    async with websockets.connect(url(quick, "/twilio")) as ws:
        await ws.send(TwilioClient().connected())  # and then nothing
        started = time.monotonic()
        code, reason = await closed_with(ws)
    assert (code, reason) == (1008, "no media within 1 s")
    assert time.monotonic() - started < 3


async def test_a_websocket_that_starts_but_sends_no_media_is_closed(quick: Server) -> None:
    async with websockets.connect(url(quick, "/twilio")) as ws:
        tw = TwilioClient()
        await ws.send(tw.connected())
        await ws.send(tw.start())
        code, _ = await closed_with(ws)
    assert code == 1008
    await wait_for(lambda: quick.ctx.calls.counters["calls_ended"] == 1, timeout=10)


async def test_an_audiosocket_without_a_uuid_is_hung_up(quick: Server) -> None:
    assert quick.ctx.audiosocket_port
    reader, writer = await asyncio.open_connection("127.0.0.1", quick.ctx.audiosocket_port)
    try:
        data = await asyncio.wait_for(reader.read(), 5)  # until EOF
    finally:
        writer.close()
    assert data == b"\x00\x00\x00"  # the only way AudioSocket can say goodbye


async def _open_audiohook(server: Server, ws: Any, client: AudioHookClient) -> None:
    await ws.send(client.open())
    for reply in client.receive(await asyncio.wait_for(ws.recv(), 5)):  # `opened`
        await ws.send(reply)
    await ws.send(client.audio(b"\x01\x00" * 160, b"\x01\x00" * 160))
    await wait_for(lambda: client.conversation_id in server.ctx.calls.live, timeout=10)


async def test_ending_a_call_through_the_api_tells_the_phone_system(quick: Server) -> None:
    """POST /api/calls/{id}/end on an AudioHook call: the client is sent `disconnect`, and the call ends."""
    client = AudioHookClient()
    async with websockets.connect(url(quick, "/audiohook"), additional_headers=client.headers("right-key")) as ws:
        await _open_audiohook(quick, ws, client)
        status, _ = await quick.post(f"/api/calls/{client.conversation_id}/end")
        assert status == 200
        received: list[str] = []
        with pytest.raises((websockets.ConnectionClosed, TimeoutError)):
            for _ in range(20):
                received.append(str(await asyncio.wait_for(ws.recv(), 5)))
                if json.loads(received[-1]).get("type") == "disconnect":
                    await ws.send(client.close())
    disconnects = [json.loads(m) for m in received if json.loads(m).get("type") == "disconnect"]
    assert disconnects and disconnects[0]["parameters"]["reason"] == "completed", received
    await wait_for(lambda: quick.ctx.calls.counters["calls_ended"] == 1, timeout=10)


async def test_a_shed_call_is_refused_in_the_protocols_words(quick: Server) -> None:
    """Under overload the newest call is ended with the protocol's own refusal: Twilio close 1013."""
    async with websockets.connect(url(quick, "/twilio")) as ws:
        tw = TwilioClient()
        await ws.send(tw.connected())
        await ws.send(tw.start())
        await ws.send(tw.media("inbound", b"\xff" * 160))
        await wait_for(lambda: len(quick.ctx.calls.live) == 1, timeout=10)
        [call_id] = list(quick.ctx.calls.live)
        quick.ctx.calls.shed(call_id, "overloaded: test")
        code, reason = await closed_with(ws)
    assert (code, reason) == (1013, "overloaded: test")
    await wait_for(lambda: quick.ctx.calls.counters["calls_ended"] == 1, timeout=10)
