"""Bad input at the server: every error gets a clear answer and never disturbs another call;
admission control refuses the call one too many with the protocol's own error."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
import websockets
from websockets.typing import Subprotocol

from assist.stream.protocols.audiohook import AudioHookClient
from assist.stream.protocols.audiosocket import KIND_AUDIO, AudioSocketClient, encode_frame
from assist.stream.protocols.twilio import TwilioClient
from assist.stream.simulate import simulate
from assist.web.phone.rtp_server import RtpListener
from tests.conftest import CallAudio, Server, start_server, wait_for
from tests.test_pipeline_e2e import Feed, check_segments


def _ws(server: Server, path: str) -> str:
    return f"ws://{server.addr}{path}"


async def _twilio_start(ws: Any, client: TwilioClient) -> None:
    await ws.send(client.connected())
    await ws.send(client.start())


async def test_misbehaving_calls_do_not_disturb_a_good_one(server: Server, call8k: CallAudio) -> None:
    feed = Feed()
    await feed.start(server)
    good = asyncio.create_task(simulate(call8k.path, "twilio", server.addr, fast=True, language="ko-KR"))

    # 1. Twilio: media before start, then bad JSON
    async with websockets.connect(_ws(server, "/twilio")) as ws:
        tw = TwilioClient()
        await ws.send(tw.connected())
        await ws.send(tw.media("inbound", b"\xff" * 160))
        await ws.send("{not json")
        with pytest.raises(websockets.ConnectionClosed):
            for _ in range(50):
                await asyncio.wait_for(ws.recv(), 5)

    # 2. AudioHook: binary before open -> disconnect with a reason, then closed by us
    async with websockets.connect(_ws(server, "/audiohook"), additional_headers=AudioHookClient().headers("k")) as ws:
        await ws.send(b"\x00" * 320)
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply["type"] == "disconnect" and reply["parameters"]["reason"] == "error"
        assert "before" in reply["parameters"]["info"]

    # 3. audiofork: audio with an odd byte count after metadata
    async with websockets.connect(_ws(server, "/audiofork"), subprotocols=[Subprotocol("audio.drachtio.org")]) as ws:
        assert ws.subprotocol == "audio.drachtio.org"
        await ws.send(json.dumps({"callId": "af-bad", "sampleRate": 7000, "channels": 2}))
        with pytest.raises(websockets.ConnectionClosed):
            for _ in range(10):
                await asyncio.wait_for(ws.recv(), 5)

    # 4. oversized WebSocket message
    async with websockets.connect(_ws(server, "/twilio"), max_size=None) as ws:
        await ws.send("x" * (server.settings.max_message_bytes + 10))
        with pytest.raises(websockets.ConnectionClosed) as exc:
            await asyncio.wait_for(ws.recv(), 5)
        assert exc.value.rcvd is not None and exc.value.rcvd.code == 1009

    # 5. AudioSocket: garbage type and a truncated frame, then hang-up
    host, port = "127.0.0.1", server.ctx.audiosocket_port
    assert port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(AudioSocketClient().uuid_frame() + bytes([0x42, 0x00, 0x01, 0x00]) + bytes([0x10, 0x01]))
    await writer.drain()
    writer.close()

    call_id = await good
    await wait_for(lambda: feed.of(call_id, "call_ended"), timeout=60)
    await feed.stop()
    check_segments(feed, call_id, call8k)


async def test_api_errors(server: Server) -> None:
    status, body = await server.get("/api/calls/nope")
    assert status == 404 and "nope" in body["error"]
    status, body = await server.post("/api/calls/nope/end")
    assert status == 404
    status, body = await server.post("/api/calls", {"agent_id": 5, "colour": "red"})
    assert status == 400 and "colour" in body["error"] and "agent_id" in body["error"]
    async with (
        aiohttp.ClientSession() as s,
        s.post(server.url + "/api/calls", data=b"{oops", headers={"Content-Type": "application/json"}) as r,
    ):
        assert r.status == 400 and "not JSON" in (await r.json())["error"]
    status, body = await server.post("/api/calls", {"audiosocket": {"customer": "not-a-uuid"}})
    assert status == 400
    status, body = await server.post("/api/calls", {"rtp": {"payload_type": 8}})
    assert status == 400 and "payload_type" in body["error"]
    status, body = await server.get("/api/calls?limit=many")
    assert status == 400 and "limit" in body["error"]
    status, body = await server.get("/api/outbox?limit=many")
    assert status == 400 and body["error"] == "limit must be a number, got 'many'"


async def test_auth(tmp_path: Path, call8k: CallAudio) -> None:
    secret = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    runner, server = await start_server(
        tmp_path,
        api_token="cti-token",
        twilio_auth_token="tw-secret",
        audiohook_api_key="ah-key",
        audiohook_client_secret=secret,
        audiofork_user="fs",
        audiofork_password="pw",
        public_url=None,
    )
    try:
        status, body = await server.post("/api/calls", {"agent_id": "a"})
        assert status == 401 and "Authorization" in body["error"]
        status, body = await server.post("/api/calls", {"agent_id": "a"}, headers={"Authorization": "Bearer wrong"})
        assert status == 401 and "wrong API token" in body["error"]
        status, body = await server.post("/api/calls", {"agent_id": "a"}, headers={"Authorization": "Bearer cti-token"})
        assert status == 201

        # Twilio without / with a wrong signature: refused before the upgrade
        for headers in ({}, {"X-Twilio-Signature": "bm9wZQ=="}):
            with pytest.raises(websockets.InvalidStatus) as exc:
                async with websockets.connect(_ws(server, "/twilio"), additional_headers=headers):
                    pass
            assert exc.value.response.status_code == 403
        # audiofork without Basic auth
        with pytest.raises(websockets.InvalidStatus) as exc:
            async with websockets.connect(_ws(server, "/audiofork"), subprotocols=[Subprotocol("audio.drachtio.org")]):
                pass
        assert exc.value.response.status_code == 401
        # AudioHook with a wrong key: upgraded, then disconnect "unauthorized" after open
        client = AudioHookClient()
        async with websockets.connect(_ws(server, "/audiohook"), additional_headers=client.headers("bad")) as ws:
            await ws.send(client.open())
            reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert reply["type"] == "disconnect" and reply["parameters"]["reason"] == "unauthorized"

        # with the right credentials every protocol streams (the simulator signs as the PBX would)
        for protocol in ("twilio", "audiohook", "audiofork"):
            call_id = await simulate(
                call8k.path,
                protocol,
                server.addr,
                fast=True,
                api_token="cti-token",
                twilio_auth_token="tw-secret",
                audiohook_api_key="ah-key",
                audiohook_client_secret=secret,
                audiofork_user="fs",
                audiofork_password="pw",
            )
            call: dict[str, Any] = {}
            for _ in range(200):  # the call is ended (with its summary) shortly after the phone side hangs up
                status, call = await server.get(f"/api/calls/{call_id}", headers={"Authorization": "Bearer cti-token"})
                assert status == 200, protocol
                if call["status"] == "ended":
                    break
                await asyncio.sleep(0.1)
            assert call["status"] == "ended" and call["transcript"], protocol
    finally:
        await runner.cleanup()


async def test_admission_control_refuses_with_protocol_errors(tmp_path: Path, call8k: CallAudio) -> None:
    runner, server = await start_server(tmp_path, max_streams=2)
    try:
        # one two-party call fills the capacity
        busy = asyncio.create_task(simulate(call8k.path, "twilio", server.addr, fast=False, language="ko-KR"))
        await wait_for(lambda: len(server.ctx.calls.live) == 1, timeout=10)

        # Twilio: the refused stream is closed with 1013 (try again later)
        async with websockets.connect(_ws(server, "/twilio")) as ws:
            await _twilio_start(ws, TwilioClient())
            with pytest.raises(websockets.ConnectionClosed) as exc:
                await asyncio.wait_for(ws.recv(), 5)
            assert exc.value.rcvd is not None and exc.value.rcvd.code == 1013
            assert "capacity" in exc.value.rcvd.reason

        # AudioHook: disconnect with reason error and the why
        client = AudioHookClient()
        async with websockets.connect(_ws(server, "/audiohook"), additional_headers=client.headers("k")) as ws:
            await ws.send(client.open())
            reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert reply["type"] == "disconnect" and reply["parameters"]["reason"] == "error"
            assert "capacity" in reply["parameters"]["info"]

        # AudioSocket: the only thing the server may say, a hang-up frame
        reader, writer = await asyncio.open_connection("127.0.0.1", server.ctx.audiosocket_port)
        writer.write(AudioSocketClient().uuid_frame())
        await writer.drain()
        data = await asyncio.wait_for(reader.read(3), 5)
        assert data == b"\x00\x00\x00"
        writer.close()

        status, health = await server.get("/healthz")
        assert health["counters"]["calls_refused"] == 3
        assert health["asr"]["refused"] == 3
        busy.cancel()
    finally:
        await runner.cleanup()


async def test_rtp_loss_and_unknown_port(server: Server, call8k: CallAudio) -> None:
    # datagrams to a port nobody registered are counted and dropped
    port = server.settings.rtp_port_range().start  # type: ignore[union-attr]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.sendto(b"\x80\x00\x00\x01" + b"\x00" * 8 + b"\xff" * 160, ("127.0.0.1", port))
    sock.close()
    rtp = server.ctx.rtp
    assert isinstance(rtp, RtpListener)
    await wait_for(lambda: rtp.unknown_datagrams >= 1, timeout=5)


async def test_claim_call_during_audiosocket(server: Server, call8k: CallAudio) -> None:
    """A dialler claims a call by its AudioSocket UUID while it streams."""
    feed = Feed()
    await feed.start(server)
    leg = str(uuid.uuid4())
    reader, writer = await asyncio.open_connection("127.0.0.1", server.ctx.audiosocket_port)
    client = AudioSocketClient(leg)
    writer.write(client.uuid_frame())
    tone = (np.sin(np.arange(8000) / 8000 * 2 * np.pi * 440) * 3000).astype("<i2").tobytes()
    writer.write(encode_frame(KIND_AUDIO, tone[:320]))
    await writer.drain()
    await wait_for(lambda: leg in server.ctx.calls.live, timeout=5)
    async with (
        aiohttp.ClientSession() as s,
        s.put(server.url + f"/api/calls/{leg}", json={"agent_id": "a-9", "account_id": "x-1"}) as r,
    ):
        assert r.status == 200
    writer.write(client.hangup_frame())
    await writer.drain()
    writer.close()
    await wait_for(lambda: feed.of(leg, "call_ended"), timeout=10)
    await feed.stop()
    upd = feed.of(leg, "call_updated")
    assert upd and upd[0].agent_id == "a-9"
    status, call = await server.get(f"/api/calls/{leg}")
    assert call["agent_id"] == "a-9" and call["account_id"] == "x-1" and call["status"] == "ended"


async def test_media_sockets_decline_compression(server: Server) -> None:
    """A client offering permessage-deflate (the websockets library does by default) gets plain frames."""
    for path, kwargs in (
        ("/twilio", {}),
        ("/audiofork", {"subprotocols": ["audio.drachtio.org"]}),
        ("/audiohook", {"additional_headers": AudioHookClient().headers("k")}),
    ):
        async with websockets.connect(_ws(server, path), **kwargs) as ws:
            assert ws.response is not None
            assert "Sec-WebSocket-Extensions" not in ws.response.headers, path
    async with websockets.connect(_ws(server, "/api/feed")) as ws:  # the event feed still compresses
        assert ws.response is not None
        assert "permessage-deflate" in ws.response.headers.get("Sec-WebSocket-Extensions", "")
