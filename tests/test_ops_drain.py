"""Draining a node: not ready at once, new calls refused in each protocol's own words with the reason `draining`,
calls in progress finish and are summarised (and delivered to the CRM), then `assist serve` exits 0 — started by
SIGTERM or by POST /api/admin/drain, and bounded by ASSIST_DRAIN_SECONDS.  Also: call registrations name the
node's advertised address."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import websockets

from assist.store.calls import CallStore
from assist.store.db import Database
from assist.store.summaries import get_summary_row
from assist.stream.protocols.audiohook import AudioHookClient
from assist.stream.protocols.audiosocket import AudioSocketClient
from assist.stream.protocols.twilio import TwilioClient
from assist.stream.simulate import SimulationError, simulate
from tests.conftest import CallAudio, start_server, wait_for
from tests.crm_fakes.webhook import WebhookReceiver
from tests.support.speech import Turn, make_call

ROOT = Path(__file__).resolve().parents[1]
SECRET = "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
TOKEN = "drain-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def short_call(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A call of a few seconds (three turns), streamed at real-time pace."""
    path = tmp_path_factory.mktemp("audio") / "short.wav"
    make_call(
        path,
        [
            Turn("agent", "안녕하세요 고객님 저는 은행 고객센터 상담원입니다"),
            Turn("customer", "네 안녕하세요 무슨 일이세요"),
            Turn("agent", "연체된 대출 금액에 대해 말씀드리려고 전화드렸습니다"),
        ],
        rate=8000,
    )
    return path


async def _twilio_call(addr: str) -> tuple[Any, TwilioClient]:
    """A Twilio Media Streams connection that has started its call and sent audio."""
    ws = await websockets.connect(f"ws://{addr}/twilio")
    tw = TwilioClient()
    await ws.send(tw.connected())
    await ws.send(tw.start())
    await ws.send(tw.media("inbound", b"\xff" * 160))
    return ws, tw


async def _closed_with(ws: Any) -> tuple[int | None, str]:
    with pytest.raises(websockets.ConnectionClosed) as exc:
        for _ in range(100):
            await asyncio.wait_for(ws.recv(), 10)
    rcvd = exc.value.rcvd
    return (rcvd.code, rcvd.reason) if rcvd is not None else (None, "")


async def _twilio_refused(addr: str) -> tuple[int | None, str]:
    ws, _ = await _twilio_call(addr)
    async with ws:
        return await _closed_with(ws)


# ------------------------------------------------------------------------------------------- in process


async def test_a_draining_node_refuses_new_calls_in_each_protocols_words(tmp_path: Path, call8k: CallAudio) -> None:
    runner, server = await start_server(tmp_path, vosk_model=None, drain_admit_seconds=0)
    try:
        live_ws, tw = await _twilio_call(server.addr)
        await wait_for(lambda: len(server.ctx.calls.live) == 1, timeout=10)
        [live_id] = list(server.ctx.calls.live)
        # an AudioSocket call registered before the drain: Asterisk was already told to send it here
        legs = {"customer": str(uuid.uuid4()), "agent": str(uuid.uuid4())}
        status, registered = await server.post("/api/calls", {"agent_id": "a-1", "audiosocket": legs})
        assert status == 201

        status, body = await server.post("/api/admin/drain")
        assert status == 202 and body["draining"] and body["started"] and body["live_calls"] == 1
        status, again = await server.post("/api/admin/drain")
        assert status == 202 and not again["started"]  # once

        # not ready (the balancer's check), but alive (the orchestrator's check)
        status, ready = await server.get("/readyz")
        assert status == 503 and ready["status"] == "draining" and ready["reason"] == "POST /api/admin/drain"
        status, health = await server.get("/healthz")
        assert status == 200 and health["draining"] is True

        # Twilio: close 1013 (try again later), the reason names the drain
        code, reason = await _twilio_refused(server.addr)
        assert code == 1013 and reason.startswith("draining"), (code, reason)
        # mod_audio_fork: an `error` message, then close 1013
        with pytest.raises(SimulationError, match="draining"):
            await simulate(call8k.path, "audiofork", server.addr, fast=True)
        # AudioHook: `disconnect` with reason error, the drain as its info
        hook = AudioHookClient()
        async with websockets.connect(f"ws://{server.addr}/audiohook", additional_headers=hook.headers("k")) as ws:
            await ws.send(hook.open())
            disconnect = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert disconnect["type"] == "disconnect" and disconnect["parameters"]["reason"] == "error"
        assert disconnect["parameters"]["info"].startswith("draining"), disconnect
        # RTP and AudioSocket registrations: 503 with the reason
        for body in ({"rtp": {"payload_type": 0}}, {"audiosocket": {"customer": str(uuid.uuid4())}}):
            status, refused = await server.post("/api/calls", body)
            assert status == 503 and refused["error"].startswith("draining"), refused
        # an AudioSocket leg nobody registered: the hang-up frame, AudioSocket's only refusal
        reader, writer = await asyncio.open_connection("127.0.0.1", server.ctx.audiosocket_port)
        try:
            client = AudioSocketClient(str(uuid.uuid4()))
            writer.write(client.uuid_frame())
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 10)
        finally:
            writer.close()
        assert answer == b"\x00\x00\x00"
        assert server.ctx.calls.refusals["draining"] == 6

        # the live call goes on, then ends normally; the registration from before the drain is still held
        await live_ws.send(tw.media("inbound", b"\xff" * 160))
        await live_ws.send(tw.stop())
        await live_ws.close()
        await wait_for(lambda: live_id not in server.ctx.calls.live, timeout=10)
        assert registered["call_id"] in server.ctx.calls.registrations
        await server.ctx.coach.settle()
        status, summary = await server.get(f"/api/calls/{live_id}/summary")
        assert status == 200 and summary["version"] == 1
        stored = await server.ctx.store.get(live_id)
        assert stored is not None and stored["status"] == "ended" and stored["end_reason"] != "shutdown"
    finally:
        await runner.cleanup()


async def test_legs_and_registrations_from_before_the_drain_are_admitted(tmp_path: Path) -> None:
    """A registered AudioSocket call whose legs connect after the drain began is a call already promised to this
    node: both legs are taken."""
    runner, server = await start_server(tmp_path, vosk_model=None, drain_admit_seconds=0)
    try:
        legs = {"customer": str(uuid.uuid4()), "agent": str(uuid.uuid4())}
        status, reg = await server.post("/api/calls", {"agent_id": "a-1", "audiosocket": legs})
        assert status == 201
        await server.post("/api/admin/drain")
        writers = []
        for leg in legs.values():
            _, writer = await asyncio.open_connection("127.0.0.1", server.ctx.audiosocket_port)
            frames = [frame for _, frame in AudioSocketClient(leg).script(b"\x01\x00" * 640)]
            for frame in frames[:3]:  # the UUID and 40 ms of audio; no hang-up
                writer.write(frame)
            await writer.drain()
            writers.append(writer)
        await wait_for(lambda: reg["call_id"] in server.ctx.calls.live, timeout=10)
        await wait_for(lambda: len(server.ctx.calls.live[reg["call_id"]].feeders) == 2, timeout=10)
        assert server.ctx.calls.refusals["draining"] == 0
        # the dialler may still update the call it registered
        status, _ = await server.post(f"/api/calls/{reg['call_id']}/end")
        assert status == 200
        for writer in writers:
            writer.close()
    finally:
        await runner.cleanup()


async def test_drain_needs_the_api_token(tmp_path: Path) -> None:
    runner, server = await start_server(tmp_path, vosk_model=None, api_token=TOKEN)
    try:
        status, body = await server.post("/api/admin/drain")
        assert status == 401 and "ASSIST_API_TOKEN" in body["error"]
        status, ready = await server.get("/readyz")  # the balancer's check needs no token
        assert status == 200 and ready["status"] == "ready"
        status, _ = await server.post("/api/admin/drain", headers=AUTH)
        assert status == 202
        status, ready = await server.get("/readyz")
        assert status == 503
    finally:
        await runner.cleanup()


async def test_registrations_name_the_advertised_host(tmp_path: Path) -> None:
    """RTP ports and the AudioSocket server come back with ASSIST_ADVERTISE_HOST, not the bind address."""
    runner, server = await start_server(tmp_path, vosk_model=None, advertise_host="assist-2.example.internal")
    try:
        status, reg = await server.post("/api/calls", {"rtp": {"payload_type": 0}})
        assert status == 201
        assert {leg["host"] for leg in reg["rtp"].values()} == {"assist-2.example.internal"}
        legs = {"customer": str(uuid.uuid4())}
        status, reg = await server.post("/api/calls", {"audiosocket": legs})
        assert status == 201
        assert reg["audiosocket_server"] == f"assist-2.example.internal:{server.ctx.audiosocket_port}"
        assert reg["audiosocket"] == legs
    finally:
        await runner.cleanup()


def test_advertised_host_defaults() -> None:
    from assist.settings import Settings

    assert Settings(host="10.0.0.7").advertised_host() == "10.0.0.7"
    assert Settings(host="0.0.0.0", advertise_host="10.0.0.7").advertised_host() == "10.0.0.7"
    assert Settings(host="0.0.0.0").advertised_host() == socket.gethostname()  # never the wildcard
    assert Settings(host="0.0.0.0", advertise_host="").advertised_host() == socket.gethostname()


def test_the_simulator_reads_the_advertised_audiosocket_server() -> None:
    from assist.stream.simulate import _audiosocket_address

    assert _audiosocket_address({"audiosocket_server": "10.0.0.7:9094"}, "lb", 9092) == ("10.0.0.7", 9094)
    assert _audiosocket_address({"audiosocket_server": "[fd00::7]:9094"}, "lb", 9092) == ("fd00::7", 9094)
    assert _audiosocket_address({"audiosocket_server": "0.0.0.0:9094"}, "lb", 9092) == ("lb", 9094)
    assert _audiosocket_address({}, "lb", 9092) == ("lb", 9092)  # an older server: the one registered with
    with pytest.raises(SimulationError, match="bad AudioSocket server"):
        _audiosocket_address({"audiosocket_server": "lb:port"}, "lb", 9092)


async def test_audiosocket_legs_go_to_the_advertised_node(tmp_path: Path, call8k: CallAudio) -> None:
    """The simulator sends the legs where the registration says (as Asterisk is told to): here `localhost`, not
    the 127.0.0.1 it registered with."""
    runner, server = await start_server(tmp_path, vosk_model=None, advertise_host="localhost")
    try:
        call_id = await simulate(call8k.path, "audiosocket", server.addr, fast=True)
        await wait_for(lambda: call_id not in server.ctx.calls.live, timeout=30)
        await server.ctx.coach.settle()
        await server.ctx.hub.drain()
        stored = await server.ctx.store.get(call_id)
        assert stored is not None and stored["status"] == "ended"
    finally:
        await runner.cleanup()


# ------------------------------------------------------------------------------------------- assist serve


def _spawn(data: Path, port: int, crm_url: str, drain_seconds: float) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ASSIST_PORT": str(port),
        "ASSIST_HOST": "127.0.0.1",
        "ASSIST_DATA_DIR": str(data),
        "ASSIST_AUDIOSOCKET_PORT": "",
        "ASSIST_RTP_PORTS": "",
        "ASSIST_LOG_FORMAT": "json",
        "ASSIST_API_TOKEN": TOKEN,
        "ASSIST_DRAIN_SECONDS": str(drain_seconds),
        "ASSIST_DRAIN_ADMIT_SECONDS": "0",
        "ASSIST_SYNC_TARGETS": "webhook",
        "ASSIST_SYNC_WEBHOOK_URL": crm_url + "/hook",
        "ASSIST_SYNC_WEBHOOK_SECRET": SECRET,
        "ASSIST_SYNC_GRACE_MINUTES": "0",
        "ASSIST_SYNC_POLL_SECONDS": "0.2",
    }
    env.pop("ASSIST_VOSK_MODEL", None)  # draining is about connections and the outbox; no speech model needed
    return subprocess.Popen(
        [sys.executable, "-m", "assist.cli", "serve"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=open(data / "server.log", "ab"),
    )


async def _wait_exit(proc: subprocess.Popen[bytes], timeout: float) -> int:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, lambda: proc.wait(timeout))


async def _get(url: str, **kw: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.get(url, **kw) as r:
        return r.status, await r.json(content_type=None)


async def _up(url: str) -> None:
    for _ in range(300):
        try:
            status, _ = await _get(url + "/readyz")
            if status == 200:
                return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("server did not come up")


async def _live_calls(url: str) -> int:
    _, health = await _get(url + "/healthz")
    return int(health["live_calls"])


async def _until(pred: Any, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await pred():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def _log_events(data: Path) -> list[str]:
    events = []
    for line in (data / "server.log").read_text().splitlines():
        try:
            events.append(json.loads(line).get("event", ""))
        except json.JSONDecodeError:
            continue
    return events


@pytest.mark.parametrize("how", ["sigterm", "api"])
async def test_serve_drains_then_exits_0(tmp_path: Path, short_call: Path, how: str) -> None:
    """A live call, then SIGTERM (or POST /api/admin/drain): not ready at once, a new call refused naming the drain,
    the live call finishes and its summary is stored and delivered to the CRM, and the process exits 0."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    async with WebhookReceiver(SECRET) as crm:
        proc = _spawn(tmp_path, port, crm.url, drain_seconds=120)
        try:
            await _up(url)
            call = asyncio.create_task(simulate(short_call, "twilio", f"127.0.0.1:{port}", agent="a-1"))
            await _until(lambda: _live_calls_is(url, 1))
            if how == "sigterm":
                proc.send_signal(signal.SIGTERM)
            else:
                async with aiohttp.ClientSession() as s, s.post(url + "/api/admin/drain", headers=AUTH) as r:
                    assert r.status == 202
            await _until(lambda: _status_is(url + "/readyz", 503), timeout=5)
            status, ready = await _get(url + "/readyz")
            assert status == 503 and ready["status"] == "draining" and ready["live_calls"] == 1
            code, reason = await _twilio_refused(f"127.0.0.1:{port}")
            assert code == 1013 and reason.startswith("draining"), (code, reason)
            assert proc.poll() is None  # still serving the live call

            call_id = await call  # the call in progress streams to its end, undisturbed
            assert await _wait_exit(proc, 120 + 30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
        delivered = [s for s in crm.summaries.values() if s.get("call_id") == call_id]
        assert len(delivered) == 1, f"the summary was not delivered before exit: {crm.summaries}"
    db = await Database(tmp_path / "assist.db").open()
    try:
        stored = await CallStore(db).get(call_id)
        assert stored is not None and stored["status"] == "ended" and stored["end_reason"] not in ("shutdown", None)
        assert await get_summary_row(db, call_id) is not None
    finally:
        await db.close()
    events = _log_events(tmp_path)
    assert "draining: new calls are refused, calls in progress may finish" in events and "drained" in events


@pytest.mark.parametrize("how", ["bound", "second_sigterm"])
async def test_the_drain_is_bounded(tmp_path: Path, call8k: CallAudio, how: str) -> None:
    """A call longer than ASSIST_DRAIN_SECONDS is ended when the bound is reached, or at once on a second SIGTERM
    (stored and summarised as at any shutdown); the process still exits 0."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    async with WebhookReceiver(SECRET) as crm:
        proc = _spawn(tmp_path, port, crm.url, drain_seconds=1 if how == "bound" else 300)
        try:
            await _up(url)
            call = asyncio.create_task(simulate(call8k.path, "twilio", f"127.0.0.1:{port}", agent="a-1"))
            await _until(lambda: _live_calls_is(url, 1))
            async with aiohttp.ClientSession() as s, s.get(url + "/api/calls?status=live", headers=AUTH) as r:
                [live] = (await r.json())["calls"]
            proc.send_signal(signal.SIGTERM)
            if how == "second_sigterm":
                await _until(lambda: _status_is(url + "/readyz", 503), timeout=5)
                proc.send_signal(signal.SIGTERM)
            assert await _wait_exit(proc, 60) == 0  # well within the 300 s bound: the second SIGTERM cut it short
            with pytest.raises((SimulationError, OSError)):
                await call  # the phone side sees the node end the call
        finally:
            if proc.poll() is None:
                proc.kill()
    db = await Database(tmp_path / "assist.db").open()
    try:
        stored = await CallStore(db).get(live["call_id"])
        assert stored is not None and stored["status"] == "ended" and stored["end_reason"] == "shutdown"
        assert await get_summary_row(db, live["call_id"]) is not None
    finally:
        await db.close()
    assert "drain bound reached: ending what is left" in _log_events(tmp_path)
    assert "drained" not in _log_events(tmp_path)


async def _live_calls_is(url: str, n: int) -> bool:
    try:
        return await _live_calls(url) == n
    except aiohttp.ClientError:
        return False


async def _status_is(url: str, status: int) -> bool:
    got, _ = await _get(url)
    return got == status


async def test_new_calls_are_taken_until_the_balancer_has_noticed(tmp_path: Path) -> None:
    """Not ready at once, but a call the balancer still sends within ASSIST_DRAIN_ADMIT_SECONDS is taken (a
    rolling restart refuses nothing); after the window, new calls are refused."""
    runner, server = await start_server(tmp_path, vosk_model=None, drain_admit_seconds=1.5)
    try:
        status, _ = await server.post("/api/admin/drain")
        assert status == 202
        status, ready = await _get(f"http://{server.addr}/readyz")
        assert status == 503 and ready["status"] == "draining"
        ws, _tw = await _twilio_call(server.addr)
        await wait_for(lambda: len(server.ctx.calls.live) == 1, timeout=10)
        await asyncio.sleep(1.6)
        code, reason = await _twilio_refused(server.addr)
        assert code == 1013 and reason.startswith("draining"), (code, reason)
        assert len(server.ctx.calls.live) == 1  # the call taken in the window goes on
        await ws.close()
    finally:
        await runner.cleanup()
