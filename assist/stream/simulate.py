"""Phone-system simulator: stream a WAV file into a running assist server the way each phone system does.

The WAV is PCM16, mono (customer only) or stereo (left = customer, right = agent), at any rate; it is
resampled to what the protocol carries (8 kHz for Twilio, AudioHook, AudioSocket and RTP PCMU;
audiofork keeps 16 kHz when the file has >= 16 kHz; RTP L16 (PT 118) is always 16 kHz).

| protocol      | what goes over the wire                                                                 |
|---------------|-----------------------------------------------------------------------------------------|
| `twilio`      | WS `/twilio`: connected, start (customParameters agentId/accountId/language), 20 ms     |
|               | μ-law media per track (inbound = customer, outbound = agent) interleaved, stop          |
| `audiohook`   | registers the call (call_id = conversationId), WS `/audiohook` with X-API-KEY and an    |
|               | RFC 9421 signature, open -> opened, 200 ms stereo PCMU frames, ping every 5 s, answers  |
|               | pause/resume, close -> waits for closed                                                 |
| `audiofork`   | WS `/audiofork`, subprotocol audio.drachtio.org, Basic auth, metadata JSON first, L16   |
|               | binary frames of 20/40/60 ms, {"type":"stop"}                                            |
| `audiosocket` | registers the call with one UUID per leg, then one TCP connection per leg to the port   |
|               | from /healthz: UUID frame, 320-byte 0x10 frames, 0x00 hangup                             |
| `rtp`         | registers the call (`rtp.payload_type`), gets a UDP port per leg, sends RTP (random     |
|               | SSRC/seq/timestamp, PT 0 or 118) every 20 ms, then an RTCP BYE on the same port          |

Pacing follows an absolute schedule (frame n leaves at start + n * frame, no drift).  `fast=True`
sends as fast as the transport accepts (still in order); UDP has no back-pressure, so RTP in fast
mode runs at FAST_UDP_SPEED times real time rather than risk kernel buffer drops.

The message builders are the sans-I/O client classes in the protocol modules; this module only adds
the sockets.  `simulate()` returns the call id: the one the server assigned at registration
(audiohook/audiosocket/rtp), else the id the phone system put on the wire (Twilio callSid,
audiofork callId).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
import wave
from collections.abc import Coroutine, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from assist import logs
from assist.stream.codecs import deinterleave, resample
from assist.stream.protocols.audiofork import SUBPROTOCOL, AudioForkClient, basic_auth_header
from assist.stream.protocols.audiohook import (
    SAMPLE_RATE as AUDIOHOOK_RATE,
)
from assist.stream.protocols.audiohook import (
    AudioHookClient,
    AudioHookClientError,
    is_uuid,
    mono_offers,
    stereo_offers,
)
from assist.stream.protocols.audiosocket import HANGUP, KIND_HANGUP, AudioSocketClient
from assist.stream.protocols.rtp import CODECS, RtpSender
from assist.stream.protocols.signatures import authority
from assist.stream.protocols.twilio import TwilioClient, twilio_upgrade_headers

log = logs.get(__name__)

PROTOCOLS = ("twilio", "audiohook", "audiofork", "audiosocket", "rtp")
FAST_UDP_SPEED = 10.0
AUDIOHOOK_FRAME_SECONDS = 0.2
AUDIOHOOK_PING_INTERVAL = 5.0
AUDIOHOOK_FIRST_PING = 1.0
OPEN_TIMEOUT = 5.0
CLOSE_TIMEOUT = 10.0
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=30)


class SimulationError(Exception):
    """The server refused or broke the simulated call; the message says how."""


# --------------------------------------------------------------------------- audio input


def wav_channels(path: Path | str) -> tuple[int, list[bytes]]:
    """(sample rate, [customer PCM16 LE] or [customer, agent]) from a mono or stereo PCM16 WAV."""
    try:
        with wave.open(str(path), "rb") as wav:
            width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise SimulationError(f"{path}: not a PCM WAV file ({exc})") from exc
    except OSError as exc:
        raise SimulationError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if width != 2:
        raise SimulationError(f"{path}: {8 * width}-bit samples; only 16-bit PCM WAV is supported")
    if channels not in (1, 2):
        raise SimulationError(f"{path}: {channels} channels; use mono (customer) or stereo (customer, agent)")
    if channels == 1:
        return rate, [frames[: len(frames) - len(frames) % 2]]
    return rate, deinterleave(frames[: len(frames) - len(frames) % 4], 2, 2)


def wav_tracks(path: Path | str, rate: int) -> list[bytes]:
    """The WAV's channels resampled to `rate` (customer first)."""
    src, channels = wav_channels(path)
    return [resample(c, src, rate) for c in channels]


# --------------------------------------------------------------------------- pacing and URLs


class Pacer:
    """Absolute schedule: `wait(at)` returns at start + at / speed; speed None = do not wait."""

    def __init__(self, speed: float | None) -> None:
        self.speed = speed
        self.t0: float | None = None

    def start(self) -> None:
        if self.t0 is None:
            self.t0 = asyncio.get_running_loop().time()

    async def wait(self, at: float) -> None:
        self.start()
        assert self.t0 is not None
        if self.speed is None:
            await asyncio.sleep(0)
            return
        delay = self.t0 + at / self.speed - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)


def ws_url(server: str, path: str) -> str:
    """http(s)://host:port[/prefix] -> ws(s)://host:port[/prefix]/path."""
    parts = urlsplit(server if "://" in server else f"http://{server}")
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + path, "", ""))


def http_url(server: str, path: str) -> str:
    parts = urlsplit(server if "://" in server else f"http://{server}")
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + path, "", ""))


def _close_text(exc: ConnectionClosed) -> str:
    if exc.rcvd is not None:
        return f"code {exc.rcvd.code} {exc.rcvd.reason!r}".strip()
    return "no close frame"


# --------------------------------------------------------------------------- HTTP contract


async def _register(
    http: aiohttp.ClientSession, server: str, api_token: str | None, body: dict[str, Any]
) -> dict[str, Any]:
    """POST /api/calls; the server's reply (call_id, rtp endpoints)."""
    headers = {"Authorization": f"Bearer {api_token}"} if api_token else {}
    clean = {k: v for k, v in body.items() if v is not None}
    url = http_url(server, "/api/calls")
    try:
        async with http.post(url, json=clean, headers=headers) as resp:
            status, text = resp.status, await resp.text()
    except (aiohttp.ClientError, OSError) as exc:
        raise SimulationError(f"POST {url}: {exc}") from exc
    if status not in (200, 201):
        raise SimulationError(f"POST /api/calls -> HTTP {status}: {text[:300]}")
    try:
        reply = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SimulationError(f"POST /api/calls returned non-JSON: {text[:300]}") from exc
    if not isinstance(reply, dict) or not isinstance(reply.get("call_id"), str):
        raise SimulationError(f"POST /api/calls reply has no call_id: {text[:300]}")
    return reply


async def _healthz(http: aiohttp.ClientSession, server: str) -> dict[str, Any]:
    url = http_url(server, "/healthz")
    try:
        async with http.get(url) as resp:
            status, text = resp.status, await resp.text()
    except (aiohttp.ClientError, OSError) as exc:
        raise SimulationError(f"GET {url}: {exc}") from exc
    if status != 200:
        raise SimulationError(f"GET /healthz -> HTTP {status}: {text[:300]}")
    try:
        reply = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SimulationError(f"GET /healthz returned non-JSON: {text[:300]}") from exc
    if not isinstance(reply, dict):
        raise SimulationError(f"GET /healthz returned {text[:300]}")
    return reply


async def _open_ws(url: str, **kwargs: Any) -> ClientConnection:
    try:
        return await connect(url, max_size=2**20, open_timeout=OPEN_TIMEOUT, **kwargs)
    except InvalidStatus as exc:
        raise SimulationError(f"{url}: upgrade refused with HTTP {exc.response.status_code}") from exc
    except InvalidHandshake as exc:
        raise SimulationError(f"{url}: WebSocket handshake failed ({exc})") from exc
    except TimeoutError as exc:
        raise SimulationError(f"{url}: no WebSocket handshake within {OPEN_TIMEOUT} s") from exc
    except OSError as exc:
        raise SimulationError(f"{url}: cannot connect ({exc})") from exc


class _Inbox:
    """Collects what the server sends on a one-way WebSocket stream (errors, closes)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[str | bytes] = []
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            async for msg in self.ws:
                self.messages.append(msg)
        except ConnectionClosed:
            pass

    def describe(self) -> str:
        texts = [m if isinstance(m, str) else f"<{len(m)} bytes>" for m in self.messages]
        return "; ".join(texts)[:500]

    async def send(self, data: str | bytes) -> None:
        try:
            await self.ws.send(data)
        except ConnectionClosed as exc:
            await asyncio.sleep(0)
            said = self.describe()
            raise SimulationError(
                f"server closed the WebSocket ({_close_text(exc)})"
                + (f" after sending: {said}" if said else "")
            ) from exc

    async def finish(self, check: bool = True) -> None:
        """Close our side; if the server had closed first with an error code, say so."""
        await self.ws.close()
        await self.task
        proto = self.ws.protocol
        rcvd = proto.close_rcvd
        if check and rcvd is not None and proto.close_rcvd_then_sent and rcvd.code not in (1000, 1001):
            said = self.describe()
            raise SimulationError(
                f"server closed the WebSocket (code {rcvd.code} {rcvd.reason!r})"
                + (f" after: {said}" if said else "")
            )


# --------------------------------------------------------------------------- protocols


async def _simulate_twilio(
    path: Path,
    server: str,
    pacer: Pacer,
    *,
    agent: str | None,
    account: str | None,
    language: str | None,
    call_id: str | None,
    auth_token: str | None,
) -> str:
    tracks = wav_tracks(path, 8000)
    customer, agent_pcm = tracks[0], (tracks[1] if len(tracks) > 1 else None)
    params = {k: v for k, v in (("agentId", agent), ("accountId", account), ("language", language)) if v}
    client = TwilioClient(
        call_sid=call_id,
        custom_parameters=params,
        tracks=("inbound", "outbound") if agent_pcm is not None else ("inbound",),
    )
    url = ws_url(server, "/twilio")
    ws = await _open_ws(url, additional_headers=twilio_upgrade_headers(url, auth_token))
    inbox = _Inbox(ws)
    try:
        for at, message in client.script(customer, agent_pcm):
            await pacer.wait(at)
            await inbox.send(message)
    except BaseException:
        await inbox.finish(check=False)
        raise
    await inbox.finish()
    return client.call_sid


async def _simulate_audiofork(
    path: Path,
    server: str,
    pacer: Pacer,
    *,
    agent: str | None,
    account: str | None,
    language: str | None,
    call_id: str | None,
    user: str | None,
    password: str | None,
) -> str:
    src_rate, _ = wav_channels(path)
    rate = 16000 if src_rate >= 16000 else 8000
    tracks = wav_tracks(path, rate)
    client = AudioForkClient(
        sample_rate=rate,
        channels=len(tracks),
        call_id=call_id,
        agent_id=agent,
        account_id=account,
        language=language,
    )
    headers = {"Authorization": basic_auth_header(user or "", password or "")} if user or password else {}
    url = ws_url(server, "/audiofork")
    ws = await _open_ws(url, subprotocols=[Subprotocol(SUBPROTOCOL)], additional_headers=headers)
    inbox = _Inbox(ws)
    try:
        if ws.subprotocol != SUBPROTOCOL:
            raise SimulationError(
                f"server did not accept the {SUBPROTOCOL} subprotocol (got {ws.subprotocol!r})"
            )
        for at, frame in client.script(tracks[0], tracks[1] if len(tracks) > 1 else None):
            await pacer.wait(at)
            await inbox.send(frame)
    except BaseException:
        await inbox.finish(check=False)
        raise
    await inbox.finish()
    errors = [m for m in inbox.messages if isinstance(m, str) and '"error"' in m]
    if errors:
        log.warning("audiofork server reported errors", errors=errors[:5])
    return client.call_id


class _AudioHookSession:
    """Runs one AudioHookClient over a websockets connection: one reader, one sender, one lock."""

    def __init__(self, ws: ClientConnection, client: AudioHookClient) -> None:
        self.ws = ws
        self.client = client
        self.lock = asyncio.Lock()
        self.changed = asyncio.Event()
        self.failure: str | None = None

    async def send(self, texts: Iterable[str | bytes]) -> None:
        for text in texts:
            try:
                await self.ws.send(text)
            except ConnectionClosed as exc:
                raise SimulationError(
                    f"server closed the AudioHook WebSocket ({_close_text(exc)}) in state {self.client.state}"
                ) from exc

    async def reader(self) -> None:
        try:
            async for msg in self.ws:
                if isinstance(msg, bytes):
                    async with self.lock:
                        self.failure = f"server sent a {len(msg)}-byte binary frame (never allowed)"
                        await self.send([self.client.error(415, "Unexpected binary message")])
                        if self.client.state in ("opening", "open"):
                            await self.send([self.client.close("error")])
                    self.changed.set()
                    continue
                async with self.lock:
                    try:
                        replies = self.client.receive(msg)
                    except AudioHookClientError as exc:
                        self.failure = str(exc)
                        replies = (
                            [self.client.close("error")] if self.client.state in ("opening", "open") else []
                        )
                    await self.send(replies)
                self.changed.set()
        except ConnectionClosed:
            pass
        except SimulationError as exc:  # the socket went away while we answered
            self.failure = self.failure or str(exc)
        finally:
            self.changed.set()

    async def wait_for(self, states: tuple[str, ...], within: float, what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self.client.state not in states:
            if self.failure and self.client.state not in ("closing",):
                raise SimulationError(f"AudioHook: {self.failure}")
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise SimulationError(f"AudioHook: timed out waiting for {what} (state {self.client.state})")
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except TimeoutError:
                continue
            if self.ws.state.name == "CLOSED" and self.client.state not in states:
                raise SimulationError(f"AudioHook: connection closed while waiting for {what}")


async def _simulate_audiohook(
    path: Path,
    server: str,
    pacer: Pacer,
    *,
    agent: str | None,
    account: str | None,
    language: str | None,
    call_id: str | None,
    api_token: str | None,
    api_key: str | None,
    client_secret: str | None,
) -> str:
    conversation_id = call_id or str(uuid.uuid4())
    if not is_uuid(conversation_id):
        raise SimulationError(f"AudioHook conversationId must be a UUID, got {conversation_id!r}")
    async with aiohttp.ClientSession(timeout=HTTP_TIMEOUT) as http:
        reg = await _register(
            http,
            server,
            api_token,
            {
                "call_id": conversation_id,
                "agent_id": agent,
                "account_id": account,
                "language": language,
                "protocol": "audiohook",
            },
        )
    tracks = wav_tracks(path, AUDIOHOOK_RATE)
    client = AudioHookClient(
        conversation_id=conversation_id,
        offers=stereo_offers() if len(tracks) == 2 else mono_offers(),
        participant={
            "id": str(uuid.uuid4()),
            "ani": "+15555550100",
            "aniName": "Simulated Customer",
            "dnis": "+18005550199",
        },
        language=language,
    )
    url = ws_url(server, "/audiohook")
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = client.signed_headers(
        api_key or "assist-simulator",
        client_secret,
        host=authority(parts.netloc, parts.scheme),
        request_target=target,
        scheme=parts.scheme,
    )
    ws = await _open_ws(url, additional_headers=headers)
    session = _AudioHookSession(ws, client)
    reader = asyncio.get_running_loop().create_task(session.reader())
    try:
        async with session.lock:
            await session.send([client.open()])
        await session.wait_for(("open", "closing", "closed"), OPEN_TIMEOUT, "'opened'")
        if client.state != "open":
            await session.wait_for(("closed",), CLOSE_TIMEOUT, "'closed'")
            raise SimulationError(f"AudioHook session refused: disconnect {client.disconnect}")
        await _audiohook_stream(session, tracks, pacer)
        async with session.lock:
            if client.state == "open":
                await session.send([client.close("end")])
        await session.wait_for(("closed",), CLOSE_TIMEOUT, "'closed'")
        if session.failure:
            raise SimulationError(f"AudioHook: {session.failure}")
        if client.disconnect and client.disconnect.get("reason") != "completed":
            raise SimulationError(f"AudioHook: server disconnected: {client.disconnect}")
    finally:
        await ws.close()
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    return str(reg["call_id"])


async def _audiohook_stream(session: _AudioHookSession, tracks: list[bytes], pacer: Pacer) -> None:
    client = session.client
    loop = asyncio.get_running_loop()
    samples = int(AUDIOHOOK_RATE * AUDIOHOOK_FRAME_SECONDS)
    frame = 2 * samples
    customer = tracks[0]
    agent = tracks[1] if len(tracks) > 1 else b""
    total = max(len(customer), len(agent))
    next_ping = loop.time() + AUDIOHOOK_FIRST_PING
    for k, offset in enumerate(range(0, total, frame)):
        await pacer.wait((k + 1) * AUDIOHOOK_FRAME_SECONDS)
        if client.state != "open":
            break  # the server disconnected us; the reader answered with close
        if session.failure:
            raise SimulationError(f"AudioHook: {session.failure}")
        async with session.lock:
            if loop.time() >= next_ping:
                try:
                    await session.send([client.ping()])
                except AudioHookClientError as exc:
                    raise SimulationError(f"AudioHook: {exc}") from exc
                next_ping = loop.time() + AUDIOHOOK_PING_INTERVAL
            c, a = customer[offset : offset + frame], agent[offset : offset + frame]
            n = max(len(c), len(a)) // 2
            if client.paused:
                client.skip(n)
            elif client.selected is not None:
                await session.send([client.audio(c, a)])


async def _simulate_audiosocket(
    path: Path,
    server: str,
    pacer: Pacer,
    *,
    agent: str | None,
    account: str | None,
    language: str | None,
    call_id: str | None,
    api_token: str | None,
) -> str:
    tracks = wav_tracks(path, 8000)
    legs = dict(zip(("customer", "agent"), (str(uuid.uuid4()) for _ in tracks), strict=False))
    async with aiohttp.ClientSession(timeout=HTTP_TIMEOUT) as http:
        health = await _healthz(http, server)
        port = (health.get("ports") or {}).get("audiosocket")
        if not port:
            raise SimulationError(
                "the server has AudioSocket switched off (healthz ports.audiosocket is null)"
            )
        reg = await _register(
            http,
            server,
            api_token,
            {
                "call_id": call_id,
                "agent_id": agent,
                "account_id": account,
                "language": language,
                "protocol": "audiosocket",
                "audiosocket": legs,
            },
        )
    host = urlsplit(http_url(server, "/")).hostname or "127.0.0.1"
    pacer.start()
    await _run_legs(
        [
            _audiosocket_leg(host, int(port), speaker, leg_uuid, pcm, pacer)
            for (speaker, leg_uuid), pcm in zip(legs.items(), tracks, strict=True)
        ]
    )
    return str(reg["call_id"])


async def _run_legs(legs: list[Coroutine[Any, Any, None]]) -> None:
    """Run the legs of a call together; the first SimulationError (not an ExceptionGroup) comes out."""
    try:
        async with asyncio.TaskGroup() as group:
            for leg in legs:
                group.create_task(leg)
    except* SimulationError as group_error:
        raise group_error.exceptions[0] from None


async def _audiosocket_leg(
    host: str, port: int, speaker: str, leg_uuid: str, pcm: bytes, pacer: Pacer
) -> None:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        raise SimulationError(f"AudioSocket {host}:{port}: cannot connect ({exc})") from exc
    hung_up = asyncio.Event()  # the server sent a 0x00 hangup frame (refusal or server-side end)

    async def watch() -> None:
        try:
            while True:
                head = await reader.readexactly(3)
                length = int.from_bytes(head[1:3], "big")
                if length:
                    await reader.readexactly(length)
                if head[0] == KIND_HANGUP:
                    hung_up.set()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return  # EOF: the server closed after our hangup (or dropped us)

    watcher = asyncio.get_running_loop().create_task(watch())
    client = AudioSocketClient(leg_uuid)
    finished = False
    try:
        for at, frame in client.script(pcm):  # ends with the 0x00 hangup frame
            await pacer.wait(at)
            if hung_up.is_set():
                break
            writer.write(frame)
            try:
                await writer.drain()
            except ConnectionError as exc:
                await asyncio.wait({watcher}, timeout=0.5)  # did it hang up on us first?
                if not hung_up.is_set():
                    raise SimulationError(f"AudioSocket {speaker} leg: connection lost ({exc})") from exc
                break
        else:
            finished = True
            # a refusal can race a fast stream: give the server a moment to answer or close
            await asyncio.wait({watcher}, timeout=1.0)
        if hung_up.is_set():
            raise SimulationError(f"server hung up the {speaker} AudioSocket leg (0x00 frame)")
    finally:
        if not finished and not hung_up.is_set() and not writer.is_closing():
            writer.write(HANGUP)  # leaving early (error, cancel): hang up politely
        writer.close()
        watcher.cancel()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass


async def _simulate_rtp(
    path: Path,
    server: str,
    pacer: Pacer,
    *,
    agent: str | None,
    account: str | None,
    language: str | None,
    call_id: str | None,
    api_token: str | None,
    payload_type: int,
) -> str:
    if payload_type not in (0, 118):
        raise SimulationError(f"RTP payload type {payload_type} unsupported: use 0 (PCMU) or 118 (L16/16000)")
    async with aiohttp.ClientSession(timeout=HTTP_TIMEOUT) as http:
        reg = await _register(
            http,
            server,
            api_token,
            {
                "call_id": call_id,
                "agent_id": agent,
                "account_id": account,
                "language": language,
                "protocol": "rtp",
                "rtp": {"payload_type": payload_type},
            },
        )
    endpoints = reg.get("rtp")
    if not isinstance(endpoints, dict):
        raise SimulationError(f"POST /api/calls gave no rtp endpoints: {reg}")
    rate = CODECS[payload_type][1]
    tracks = wav_tracks(path, rate)
    server_host = urlsplit(http_url(server, "/")).hostname or "127.0.0.1"
    loop = asyncio.get_running_loop()
    legs = []
    for speaker, pcm in zip(("customer", "agent"), tracks, strict=False):
        endpoint = endpoints.get(speaker)
        if not isinstance(endpoint, dict) or "port" not in endpoint:
            raise SimulationError(f"no RTP endpoint for the {speaker} leg in {endpoints}")
        host = str(endpoint.get("host") or server_host)
        if host in ("0.0.0.0", "::", ""):
            host = server_host
        legs.append((host, int(endpoint["port"]), pcm))
    pacer.start()

    async def leg(host: str, port: int, pcm: bytes) -> None:
        transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, remote_addr=(host, port))
        try:
            for at, datagram in RtpSender(payload_type).script(pcm):
                await pacer.wait(at)
                transport.sendto(datagram)
        finally:
            transport.close()

    await _run_legs([leg(host, port, pcm) for host, port, pcm in legs])
    return str(reg["call_id"])


# --------------------------------------------------------------------------- entry points


async def simulate(
    path: Path,
    protocol: str,
    server: str,
    *,
    agent: str | None = None,
    account: str | None = None,
    language: str | None = None,
    fast: bool = False,
    api_token: str | None = None,
    twilio_auth_token: str | None = None,
    audiohook_api_key: str | None = None,
    audiohook_client_secret: str | None = None,
    audiofork_user: str | None = None,
    audiofork_password: str | None = None,
    call_id: str | None = None,
    rtp_payload_type: int = 0,
) -> str:
    """Stream `path` into the assist server at `server` (http://host:port) as `protocol`; the call id."""
    path = Path(path)
    if protocol not in PROTOCOLS:
        raise SimulationError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    pacer = Pacer(None if fast else 1.0)
    common: dict[str, Any] = {"agent": agent, "account": account, "language": language, "call_id": call_id}
    log.info("simulating call", protocol=protocol, wav=str(path), server=server, fast=fast)
    if protocol == "twilio":
        return await _simulate_twilio(path, server, pacer, auth_token=twilio_auth_token, **common)
    if protocol == "audiofork":
        return await _simulate_audiofork(
            path, server, pacer, user=audiofork_user, password=audiofork_password, **common
        )
    if protocol == "audiohook":
        return await _simulate_audiohook(
            path,
            server,
            pacer,
            api_token=api_token,
            api_key=audiohook_api_key,
            client_secret=audiohook_client_secret,
            **common,
        )
    if protocol == "audiosocket":
        return await _simulate_audiosocket(path, server, pacer, api_token=api_token, **common)
    udp_pacer = Pacer(FAST_UDP_SPEED if fast else 1.0)
    return await _simulate_rtp(
        path, server, udp_pacer, api_token=api_token, payload_type=rtp_payload_type, **common
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m assist.stream.simulate CALL.wav --protocol twilio`; credentials default to ASSIST_* env."""
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="assist-simulate", description=(__doc__ or "").partition("\n")[0])
    parser.add_argument(
        "wav", type=Path, help="PCM16 WAV: mono = customer, stereo = customer (L) + agent (R)"
    )
    parser.add_argument("--protocol", choices=PROTOCOLS, default="audiofork")
    parser.add_argument("--server", default=f"http://127.0.0.1:{env('ASSIST_PORT', '8080')}")
    parser.add_argument("--agent")
    parser.add_argument("--account")
    parser.add_argument("--language")
    parser.add_argument("--call-id")
    parser.add_argument("--fast", action="store_true", help="do not pace at real time")
    parser.add_argument("--rtp-payload-type", type=int, choices=(0, 118), default=0)
    args = parser.parse_args(argv)
    try:
        call_id = asyncio.run(
            simulate(
                args.wav,
                args.protocol,
                args.server,
                agent=args.agent,
                account=args.account,
                language=args.language,
                fast=args.fast,
                call_id=args.call_id,
                rtp_payload_type=args.rtp_payload_type,
                api_token=env("ASSIST_API_TOKEN") or None,
                twilio_auth_token=env("ASSIST_TWILIO_AUTH_TOKEN") or None,
                audiohook_api_key=env("ASSIST_AUDIOHOOK_API_KEY") or None,
                audiohook_client_secret=env("ASSIST_AUDIOHOOK_CLIENT_SECRET") or None,
                audiofork_user=env("ASSIST_AUDIOFORK_USER") or None,
                audiofork_password=env("ASSIST_AUDIOFORK_PASSWORD") or None,
            )
        )
    except SimulationError as exc:
        print(f"simulation failed: {exc}", file=sys.stderr)
        return 1
    print(call_id)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
