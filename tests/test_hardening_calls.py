"""A live call's id cannot be taken over (issue 15, defect 1), and an AudioHook reconnect continues the
call it resumes (defect 3).

A second connection that names a live call is refused with its protocol's refusal and counted, unless it
is a registered leg of that call (an AudioSocket UUID or RTP port for a track nobody feeds yet); a track
fed by one connection never takes audio from another.  Through a real server on loopback where the wire
matters, straight against the CallManager (with a recording engine) where the timeline does.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
import websockets

from assist.events import CallStarted, TranscriptSegment
from assist.store.calls import DuplicateSegment
from assist.stream.calls import CallManager
from assist.stream.protocols.audiohook import AudioHookClient
from assist.stream.protocols.base import Audio, CallStart, Refusal
from assist.stream.protocols.rtp import RtpSender
from assist.stream.protocols.twilio import TwilioClient
from tests.conftest import CallAudio, Server, start_server, wait_for
from tests.support.engine import read_stereo
from tests.test_protocol_timeline import RecordingEngine


@pytest.fixture
def engine() -> Iterator[RecordingEngine]:
    e = RecordingEngine()
    yield e
    e.executor.shutdown()


@pytest_asyncio.fixture
async def srv(tmp_path: Path) -> AsyncIterator[Server]:
    runner, server = await start_server(tmp_path, audiohook_api_key="right-key")
    yield server
    await runner.cleanup()


async def close_of(ws: Any, timeout: float = 5.0) -> tuple[int | None, str]:
    """Read until the server closes the socket; its close code and reason."""
    with pytest.raises(websockets.ConnectionClosed) as exc:
        for _ in range(200):
            await asyncio.wait_for(ws.recv(), timeout)
    rcvd = exc.value.rcvd
    return (rcvd.code, rcvd.reason) if rcvd is not None else (None, "")


async def test_a_second_twilio_stream_under_a_live_call_id_is_refused(srv: Server) -> None:
    real = TwilioClient()
    thief = TwilioClient(call_sid=real.call_sid)  # same CallSid, its own stream
    async with websockets.connect(f"ws://{srv.addr}/twilio") as ws1:
        await ws1.send(real.connected())
        await ws1.send(real.start())
        await ws1.send(real.media("inbound", b"\xff" * 160))
        await wait_for(lambda: real.call_sid in srv.ctx.calls.live, timeout=10)
        async with websockets.connect(f"ws://{srv.addr}/twilio") as ws2:
            await ws2.send(thief.connected())
            await ws2.send(thief.start())
            for _ in range(50):  # faster than real time: the old code let this push the real audio out
                await ws2.send(thief.media("inbound", b"\x00" * 160))
            assert await close_of(ws2) == (1013, "call id already live")
        call = srv.ctx.calls.live[real.call_sid]
        assert call.connections == 1
        assert srv.ctx.calls.counters["duplicates_refused"] == 1
        await ws1.send(real.media("inbound", b"\xff" * 160))  # the real stream carries on
        await ws1.send(real.stop())
    await wait_for(lambda: srv.ctx.calls.counters["calls_ended"] == 1, timeout=10)
    status, health = await srv.get("/healthz")
    assert status == 200 and health["counters"]["duplicates_refused"] == 1


def start(call_id: str, speakers: tuple[Any, ...] = ("customer", "agent")) -> CallStart:
    return CallStart(external_id=call_id, sample_rate=8000, speakers=speakers)


async def test_a_track_fed_by_one_connection_takes_no_audio_from_another(engine: RecordingEngine) -> None:
    manager = CallManager(engine, lambda ev: None)
    owner, thief = object(), object()
    call = manager.start_call("twilio", start("CA1"), conn=owner)
    with pytest.raises(Refusal, match="call id already live"):
        manager.start_call("twilio", start("CA1"), conn=thief)
    with pytest.raises(Refusal, match="call id already live"):
        manager.start_call("audiofork", start("CA1"), conn=thief)
    manager.audio(call, Audio("customer", b"\x01\x00" * 160, 8000, 0), conn=owner)
    manager.audio(call, Audio("customer", b"\x02\x00" * 8000, 8000, 160), conn=thief)
    assert [f.pcm[:2] for f in engine.opened["customer"].frames] == [b"\x01\x00"]
    assert call.connections == 1 and manager.counters["duplicates_refused"] == 2
    await manager.end_all()


async def test_registered_audiosocket_legs_join_once_each(engine: RecordingEngine) -> None:
    manager = CallManager(engine, lambda ev: None)
    customer_leg, agent_leg = str(uuid.uuid4()), str(uuid.uuid4())
    manager.register(call_id="c1", audiosocket={"customer": customer_leg, "agent": agent_leg})
    a, b, c = object(), object(), object()
    call = manager.start_call(
        "audiosocket", start(customer_leg, ("customer",)), call_id="c1", speakers=("customer",), conn=a
    )
    assert (
        manager.start_call("audiosocket", start(agent_leg, ("customer",)), call_id="c1", speakers=("agent",), conn=b)
        is call
    )
    with pytest.raises(Refusal):  # the agent leg again, from a third connection
        manager.start_call("audiosocket", start(agent_leg, ("customer",)), call_id="c1", speakers=("agent",), conn=c)
    assert call.connections == 2
    await manager.end_all()


async def test_an_unregistered_audiosocket_uuid_cannot_be_joined(engine: RecordingEngine) -> None:
    manager = CallManager(engine, lambda ev: None)
    leg = str(uuid.uuid4())
    manager.start_call("audiosocket", start(leg, ("customer",)), conn=object())
    with pytest.raises(Refusal):
        manager.start_call("audiosocket", start(leg, ("customer",)), conn=object())
    await manager.end_all()


# ---------------------------------------------------------------------------------------- reconnect


async def _session(srv: Server, client: AudioHookClient, pcm: np.ndarray, close_reason: str) -> None:
    """One AudioHook session: open, stream `pcm` (stereo rows: customer, agent) in 100 ms frames faster
    than real time, then close with `close_reason` and wait for `closed`."""
    async with websockets.connect(f"ws://{srv.addr}/audiohook", additional_headers=client.headers("right-key")) as ws:
        await ws.send(client.open())
        for reply in client.receive(str(await asyncio.wait_for(ws.recv(), 5))):
            await ws.send(reply)
        assert client.state == "open", client.disconnect
        for i in range(0, len(pcm), 800):
            chunk = pcm[i : i + 800]
            await ws.send(client.audio(chunk[:, 0].tobytes(), chunk[:, 1].tobytes()))
            await asyncio.sleep(0.01)
        await ws.send(client.close(close_reason))
        while client.state != "closed":
            client.receive(str(await asyncio.wait_for(ws.recv(), 10)))


async def stored_as_ended(server: Server, call_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """The call's row once the store has its end (the summary is written first, then `call_ended`)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        call = await server.ctx.store.get(call_id)
        if call is not None and call["status"] == "ended":
            return call
        assert asyncio.get_running_loop().time() < deadline, call
        await asyncio.sleep(0.1)


async def test_an_audiohook_reconnect_continues_the_call(srv: Server, call8k: CallAudio) -> None:
    """Genesys closes a session with reason `reconnect` and opens a new one for the same conversation:
    one call, one timeline, segment numbers continuing, nothing in the store overwritten."""
    _, audio = read_stereo(call8k.path)
    half = len(audio) // 2
    first = AudioHookClient()
    await _session(srv, first, audio[:half], "reconnect")
    await asyncio.sleep(0.3)
    assert first.conversation_id in srv.ctx.calls.live, "the call waits for the reconnecting session"
    second = AudioHookClient(organization_id=first.organization_id, conversation_id=first.conversation_id)
    await _session(srv, second, audio[half:], "end")
    await stored_as_ended(srv, first.conversation_id)
    assert srv.ctx.calls.counters["calls_started"] == 1
    assert srv.ctx.hub.write_errors == 0
    segments = await srv.ctx.store.transcript(first.conversation_id)
    for speaker in ("customer", "agent"):
        mine = [s for s in segments if s["speaker"] == speaker]
        assert sorted(s["index"] for s in mine) == list(range(len(mine)))
    late = [s for s in segments if s["start"] >= half / 8000 + 0.3]
    assert late, "the second session's speech is on the timeline after the first session's"
    call = await srv.ctx.store.get(first.conversation_id)
    assert call is not None and call["duration"] >= len(audio) / 8000


async def test_a_session_that_never_resumes_ends_the_call_after_the_grace(tmp_path: Path) -> None:
    runner, server = await start_server(tmp_path, audiohook_api_key="right-key")
    try:
        server.ctx.calls.reconnect_grace = 0.5
        client = AudioHookClient()
        await _session(server, client, np.zeros((1600, 2), np.int16), "reconnect")
        assert client.conversation_id in server.ctx.calls.live
        call = await stored_as_ended(server, client.conversation_id)
        assert call["end_reason"] == "reconnect_timeout"
    finally:
        await runner.cleanup()


async def test_the_store_refuses_to_overwrite_a_segment(srv: Server) -> None:
    store = srv.ctx.store
    await store.upsert_started(CallStarted(call_id="c9", protocol="twilio", language="zh-CN", sample_rate=8000))
    seg = TranscriptSegment(
        call_id="c9", segment_id="c9:agent:0", index=0, speaker="agent", start=0.0, end=1.0, text="first", final=True
    )
    await store.add_segment(seg)
    with pytest.raises(DuplicateSegment):
        await store.add_segment(seg.model_copy(update={"text": "second"}))
    assert [s["text"] for s in await store.transcript("c9")] == ["first"]


# ---------------------------------------------------------------------------------------- RTP ports


async def test_rtp_ports_survive_100_register_refuse_end_cycles(srv: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused call frees its ports; /end of a registered call that never started releases the
    registration (200); the 8-port pool (4 calls) never runs out."""
    calls = srv.ctx.calls
    pool = len(calls._free_ports)
    monkeypatch.setattr(srv.ctx.engine, "admission", lambda *a, **k: "no capacity (test)")
    loop = asyncio.get_running_loop()
    sock, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    try:
        for i in range(100):
            status, reg = await srv.post("/api/calls", {"rtp": {"payload_type": 0}})
            assert status == 201, (i, reg)
            refused = calls.counters["calls_refused"]
            sender = RtpSender(payload_type=0)
            sock.sendto(sender.packet(b"\x00\x00" * 160), ("127.0.0.1", reg["rtp"]["customer"]["port"]))
            await wait_for(lambda: calls.counters["calls_refused"] > refused, timeout=5)  # noqa: B023
            status, reg = await srv.post("/api/calls", {"rtp": {"payload_type": 0}})
            assert status == 201, (i, reg)
            status, body = await srv.post(f"/api/calls/{reg['call_id']}/end")
            assert status == 200 and body["ended"] == "registration", body
            assert reg["call_id"] not in calls.registrations
        await wait_for(lambda: len(calls._free_ports) == pool, timeout=5)
    finally:
        sock.close()
    status, body = await srv.post("/api/calls/never-registered/end")
    assert status == 404 and "never-registered" in body["error"]


async def test_an_audiohook_session_opened_before_the_old_one_closes_takes_the_call_over(
    srv: Server, call8k: CallAudio
) -> None:
    """Genesys may open the new session first and close the old one (reason `reconnect`) after it."""
    _, audio = read_stereo(call8k.path)
    half = len(audio) // 2
    first = AudioHookClient()
    second = AudioHookClient(organization_id=first.organization_id, conversation_id=first.conversation_id)
    url = f"ws://{srv.addr}/audiohook"
    async with websockets.connect(url, additional_headers=first.headers("right-key")) as ws1:
        await ws1.send(first.open())
        first.receive(str(await asyncio.wait_for(ws1.recv(), 5)))
        for i in range(0, half, 800):
            await ws1.send(first.audio(audio[i : i + 800, 0].tobytes(), audio[i : i + 800, 1].tobytes()))
            await asyncio.sleep(0.01)
        async with websockets.connect(url, additional_headers=second.headers("right-key")) as ws2:
            await ws2.send(second.open())
            second.receive(str(await asyncio.wait_for(ws2.recv(), 5)))
            assert second.state == "open", second.disconnect
            await ws1.send(first.close("reconnect"))
            while first.state != "closed":
                first.receive(str(await asyncio.wait_for(ws1.recv(), 10)))
            for i in range(half, len(audio), 800):
                await ws2.send(second.audio(audio[i : i + 800, 0].tobytes(), audio[i : i + 800, 1].tobytes()))
                await asyncio.sleep(0.01)
            await ws2.send(second.close("end"))
            while second.state != "closed":
                second.receive(str(await asyncio.wait_for(ws2.recv(), 10)))
    await stored_as_ended(srv, first.conversation_id)
    assert srv.ctx.calls.counters["calls_started"] == 1 and srv.ctx.hub.write_errors == 0
    segments = await srv.ctx.store.transcript(first.conversation_id)
    assert [s for s in segments if s["start"] >= half / 8000], "the new session's speech was kept"
