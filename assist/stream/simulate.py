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
the sockets.  Each protocol is one entry of `PHONE_SYSTEMS`: its `plan` reads the WAV, registers the
call if the protocol needs that, and returns one `Leg` per connection (how to connect, the timed
messages that frame the audio); its `Link` says how to start and stop.  One loop (`_drive`) runs
every leg.  `simulate()` returns the call id: the one the server assigned at registration
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
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypedDict, TypeVar, Unpack
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

M_contra = TypeVar("M_contra", contravariant=True)
FAST_UDP_SPEED = 10.0
AUDIOHOOK_FRAME_SECONDS = 0.2
AUDIOHOOK_PING_INTERVAL = 5.0
AUDIOHOOK_FIRST_PING = 1.0
OPEN_TIMEOUT = 5.0
CLOSE_TIMEOUT = 10.0
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=30)


class SimulationError(Exception):
    """The server refused or broke the simulated call; the message says how."""


class Options(TypedDict, total=False):
    """What the caller says about the call, and the credentials each phone system presents."""

    agent: str | None
    account: str | None
    language: str | None
    call_id: str | None
    api_token: str | None
    twilio_auth_token: str | None
    audiohook_api_key: str | None
    audiohook_client_secret: str | None
    audiofork_user: str | None
    audiofork_password: str | None
    rtp_payload_type: int


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


async def _fetch_json(
    http: aiohttp.ClientSession,
    method: str,
    server: str,
    path: str,
    *,
    ok: tuple[int, ...] = (200,),
    **kwargs: Any,
) -> dict[str, Any]:
    """One request to the server's HTTP API; its JSON object, or a SimulationError saying what was wrong."""
    url = http_url(server, path)
    try:
        async with http.request(method, url, **kwargs) as resp:
            status, text = resp.status, await resp.text()
    except (aiohttp.ClientError, OSError) as exc:
        raise SimulationError(f"{method} {url}: {exc}") from exc
    if status not in ok:
        raise SimulationError(f"{method} {path} -> HTTP {status}: {text[:300]}")
    try:
        reply = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SimulationError(f"{method} {path} returned non-JSON: {text[:300]}") from exc
    if not isinstance(reply, dict):
        raise SimulationError(f"{method} {path} returned {text[:300]}")
    return reply


async def _register(
    http: aiohttp.ClientSession, server: str, options: Options, protocol: str, **extra: Any
) -> dict[str, Any]:
    """POST /api/calls for a call of `protocol`; the server's reply (call_id, rtp endpoints)."""
    token = options.get("api_token")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {
        "call_id": options.get("call_id"),
        "agent_id": options.get("agent"),
        "account_id": options.get("account"),
        "language": options.get("language"),
        "protocol": protocol,
        **extra,
    }
    clean = {k: v for k, v in body.items() if v is not None}
    reply = await _fetch_json(http, "POST", server, "/api/calls", ok=(200, 201), json=clean, headers=headers)
    if not isinstance(reply.get("call_id"), str):
        raise SimulationError(f"POST /api/calls reply has no call_id: {json.dumps(reply)[:300]}")
    return reply


def _http_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=HTTP_TIMEOUT)


def _server_host(server: str) -> str:
    return urlsplit(http_url(server, "/")).hostname or "127.0.0.1"


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


# --------------------------------------------------------------------------- the driving loop


class Link(Protocol[M_contra]):
    """One open connection of a simulated call, as the driving loop sees it."""

    async def start(self) -> None:
        """Whatever the protocol does before the first audio frame (handshake, checks)."""

    def ended(self) -> bool:
        """The server ended the stream: stop sending (the end is checked by `finish`)."""

    async def send(self, message: M_contra) -> None:
        """Put one scripted message on the wire."""

    async def finish(self) -> None:
        """After the script: end the stream the protocol's way, say how the server ended it, release the link."""

    async def abort(self) -> None:
        """Leaving early (error, cancel): release the link without checks."""


@dataclass(frozen=True)
class Leg:
    """One connection's worth of a call: how to open it and the timed messages to send on it."""

    connect: Callable[[], Awaitable[Link[Any]]]
    script: Iterable[tuple[float, Any]]


@dataclass(frozen=True)
class Plan:
    """A call ready to stream: its call id and its legs (one per connection)."""

    call_id: str
    legs: list[Leg]
    per_track: bool = False  # one connection per speaker: the legs share one clock started before they connect


@dataclass(frozen=True)
class PhoneSystem:
    """One protocol: `plan` reads the WAV, frames its audio and registers the call; `fast_speed` is the
    pace of `--fast` (None = as fast as the transport accepts)."""

    plan: Callable[[Path, str, Options], Awaitable[Plan]]
    fast_speed: float | None = None


async def _drive(leg: Leg, pacer: Pacer) -> None:
    """The one loop every protocol runs: connect, start, send the script on its schedule, finish."""
    link = await leg.connect()
    try:
        await link.start()
        for at, message in leg.script:
            await pacer.wait(at)
            if link.ended():
                break
            await link.send(message)
    except BaseException:
        await link.abort()
        raise
    await link.finish()


async def _run_legs(legs: list[Coroutine[Any, Any, None]]) -> None:
    """Run the legs of a call together; the first SimulationError (not an ExceptionGroup) comes out."""
    if len(legs) == 1:
        await legs[0]
        return
    try:
        async with asyncio.TaskGroup() as group:
            for leg in legs:
                group.create_task(leg)
    except* SimulationError as group_error:
        raise group_error.exceptions[0] from None


# --------------------------------------------------------------------------- WebSocket protocols


class _WsLink:
    """A one-way WebSocket stream (Twilio, audiofork); collects what the server says (errors, closes)."""

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

    async def start(self) -> None:
        return None

    def ended(self) -> bool:
        return False  # a closed socket shows in send()

    async def send(self, message: str | bytes) -> None:
        try:
            await self.ws.send(message)
        except ConnectionClosed as exc:
            await asyncio.sleep(0)
            said = self.describe()
            raise SimulationError(
                f"server closed the WebSocket ({_close_text(exc)})" + (f" after sending: {said}" if said else "")
            ) from exc

    async def finish(self) -> None:
        """Close our side; if the server had closed first with an error code, say so."""
        await self._close()
        proto = self.ws.protocol
        rcvd = proto.close_rcvd
        if rcvd is not None and proto.close_rcvd_then_sent and rcvd.code not in (1000, 1001):
            said = self.describe()
            raise SimulationError(
                f"server closed the WebSocket (code {rcvd.code} {rcvd.reason!r})" + (f" after: {said}" if said else "")
            )

    async def abort(self) -> None:
        await self._close()

    async def _close(self) -> None:
        await self.ws.close()
        await self.task


class _AudioForkLink(_WsLink):
    """mod_audio_fork's stream: the subprotocol must be accepted; error messages are logged at the end."""

    async def start(self) -> None:
        if self.ws.subprotocol != SUBPROTOCOL:
            raise SimulationError(f"server did not accept the {SUBPROTOCOL} subprotocol (got {self.ws.subprotocol!r})")

    async def finish(self) -> None:
        await super().finish()
        errors = [m for m in self.messages if isinstance(m, str) and '"error"' in m]
        if errors:
            log.warning("audiofork server reported errors", errors=errors[:5])


def _customer_agent(tracks: list[bytes]) -> tuple[bytes, bytes | None]:
    return tracks[0], (tracks[1] if len(tracks) > 1 else None)


async def _plan_twilio(path: Path, server: str, o: Options) -> Plan:
    customer, agent = _customer_agent(wav_tracks(path, 8000))
    named = (("agentId", o.get("agent")), ("accountId", o.get("account")), ("language", o.get("language")))
    params = {k: v for k, v in named if v}
    client = TwilioClient(
        call_sid=o.get("call_id"),
        custom_parameters=params,
        tracks=("inbound", "outbound") if agent is not None else ("inbound",),
    )
    url = ws_url(server, "/twilio")

    async def connect() -> _WsLink:
        headers = twilio_upgrade_headers(url, o.get("twilio_auth_token"))
        return _WsLink(await _open_ws(url, additional_headers=headers))

    return Plan(client.call_sid, [Leg(connect, client.script(customer, agent))])


async def _plan_audiofork(path: Path, server: str, o: Options) -> Plan:
    src_rate, _ = wav_channels(path)
    rate = 16000 if src_rate >= 16000 else 8000
    tracks = wav_tracks(path, rate)
    client = AudioForkClient(
        sample_rate=rate,
        channels=len(tracks),
        call_id=o.get("call_id"),
        agent_id=o.get("agent"),
        account_id=o.get("account"),
        language=o.get("language"),
    )
    user, password = o.get("audiofork_user"), o.get("audiofork_password")
    headers = {"Authorization": basic_auth_header(user or "", password or "")} if user or password else {}
    url = ws_url(server, "/audiofork")

    async def connect() -> _AudioForkLink:
        return _AudioForkLink(await _open_ws(url, subprotocols=[Subprotocol(SUBPROTOCOL)], additional_headers=headers))

    return Plan(client.call_id, [Leg(connect, client.script(*_customer_agent(tracks)))])


class _AudioHookLink:
    """Runs one AudioHookClient over a websockets connection: one reader, one sender, one lock.

    The server talks back (opened, pause/resume, ping replies, disconnect), so a reader task answers it
    while the driving loop sends audio; the lock keeps the two from interleaving messages."""

    def __init__(self, ws: ClientConnection, client: AudioHookClient) -> None:
        self.ws = ws
        self.client = client
        self.lock = asyncio.Lock()
        self.changed = asyncio.Event()
        self.failure: str | None = None
        self.next_ping = 0.0
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _send(self, texts: Iterable[str | bytes]) -> None:
        for text in texts:
            try:
                await self.ws.send(text)
            except ConnectionClosed as exc:
                raise SimulationError(
                    f"server closed the AudioHook WebSocket ({_close_text(exc)}) in state {self.client.state}"
                ) from exc

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                async with self.lock:
                    await self._answer(msg)
                self.changed.set()
        except ConnectionClosed:
            pass
        except SimulationError as exc:  # the socket went away while we answered
            self.failure = self.failure or str(exc)
        finally:
            self.changed.set()

    async def _answer(self, msg: str | bytes) -> None:
        """Feed one server message to the client and send its replies (close with an error on nonsense)."""
        if isinstance(msg, bytes):
            self.failure = f"server sent a {len(msg)}-byte binary frame (never allowed)"
            await self._send([self.client.error(415, "Unexpected binary message")])
            if self.client.state in ("opening", "open"):
                await self._send([self.client.close("error")])
            return
        try:
            replies = self.client.receive(msg)
        except AudioHookClientError as exc:
            self.failure = str(exc)
            replies = [self.client.close("error")] if self.client.state in ("opening", "open") else []
        await self._send(replies)

    async def _wait_for(self, states: tuple[str, ...], within: float, what: str) -> None:
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

    async def start(self) -> None:
        """open -> opened (a refusal is a disconnect instead, then closed)."""
        async with self.lock:
            await self._send([self.client.open()])
        await self._wait_for(("open", "closing", "closed"), OPEN_TIMEOUT, "'opened'")
        if self.client.state != "open":
            await self._wait_for(("closed",), CLOSE_TIMEOUT, "'closed'")
            raise SimulationError(f"AudioHook session refused: disconnect {self.client.disconnect}")
        self.next_ping = asyncio.get_running_loop().time() + AUDIOHOOK_FIRST_PING

    def ended(self) -> bool:
        return self.client.state != "open"  # the server disconnected us; the reader answered with close

    async def send(self, message: tuple[bytes, bytes]) -> None:
        """One stereo frame (customer, agent), a ping first when one is due; held back while paused."""
        if self.failure:
            raise SimulationError(f"AudioHook: {self.failure}")
        loop = asyncio.get_running_loop()
        async with self.lock:
            if loop.time() >= self.next_ping:
                try:
                    await self._send([self.client.ping()])
                except AudioHookClientError as exc:
                    raise SimulationError(f"AudioHook: {exc}") from exc
                self.next_ping = loop.time() + AUDIOHOOK_PING_INTERVAL
            customer, agent = message
            if self.client.paused:
                self.client.skip(max(len(customer), len(agent)) // 2)
            elif self.client.selected is not None:
                await self._send([self.client.audio(customer, agent)])

    async def finish(self) -> None:
        """close -> closed; then the session must have ended cleanly."""
        try:
            async with self.lock:
                if self.client.state == "open":
                    await self._send([self.client.close("end")])
            await self._wait_for(("closed",), CLOSE_TIMEOUT, "'closed'")
            if self.failure:
                raise SimulationError(f"AudioHook: {self.failure}")
            if self.client.disconnect and self.client.disconnect.get("reason") != "completed":
                raise SimulationError(f"AudioHook: server disconnected: {self.client.disconnect}")
        finally:
            await self.abort()

    async def abort(self) -> None:
        await self.ws.close()
        self.reader.cancel()
        await asyncio.gather(self.reader, return_exceptions=True)


def _audiohook_frames(tracks: list[bytes]) -> Iterator[tuple[float, tuple[bytes, bytes]]]:
    """(seconds since the session opened, (customer, agent)) every AUDIOHOOK_FRAME_SECONDS."""
    frame = 2 * int(AUDIOHOOK_RATE * AUDIOHOOK_FRAME_SECONDS)
    customer, agent = tracks[0], (tracks[1] if len(tracks) > 1 else b"")
    for k, offset in enumerate(range(0, max(len(customer), len(agent)), frame)):
        yield (k + 1) * AUDIOHOOK_FRAME_SECONDS, (customer[offset : offset + frame], agent[offset : offset + frame])


async def _plan_audiohook(path: Path, server: str, o: Options) -> Plan:
    conversation_id = o.get("call_id") or str(uuid.uuid4())
    if not is_uuid(conversation_id):
        raise SimulationError(f"AudioHook conversationId must be a UUID, got {conversation_id!r}")
    async with _http_session() as http:
        reg = await _register(http, server, {**o, "call_id": conversation_id}, "audiohook")
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
        language=o.get("language"),
    )
    url = ws_url(server, "/audiohook")
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = client.signed_headers(
        o.get("audiohook_api_key") or "assist-simulator",
        o.get("audiohook_client_secret"),
        host=authority(parts.netloc, parts.scheme),
        request_target=target,
        scheme=parts.scheme,
    )

    async def connect() -> _AudioHookLink:
        return _AudioHookLink(await _open_ws(url, additional_headers=headers), client)

    return Plan(str(reg["call_id"]), [Leg(connect, _audiohook_frames(tracks))])


# --------------------------------------------------------------------------- one connection per leg


class _AudioSocketLink:
    """One AudioSocket TCP connection; a watcher notices the server's 0x00 hangup (refusal or end)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, speaker: str) -> None:
        self.reader, self.writer, self.speaker = reader, writer, speaker
        self.hung_up = asyncio.Event()
        self.watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        try:
            while True:
                head = await self.reader.readexactly(3)
                length = int.from_bytes(head[1:3], "big")
                if length:
                    await self.reader.readexactly(length)
                if head[0] == KIND_HANGUP:
                    self.hung_up.set()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return  # EOF: the server closed after our hangup (or dropped us)

    async def start(self) -> None:
        return None

    def ended(self) -> bool:
        return self.hung_up.is_set()

    async def send(self, message: bytes) -> None:
        self.writer.write(message)
        try:
            await self.writer.drain()
        except ConnectionError as exc:
            await asyncio.wait({self.watcher}, timeout=0.5)  # did it hang up on us first?
            if not self.hung_up.is_set():
                raise SimulationError(f"AudioSocket {self.speaker} leg: connection lost ({exc})") from exc

    async def finish(self) -> None:
        """The script ended with our 0x00 hangup; a refusal can race a fast stream, so give the server a
        moment to answer or close."""
        try:
            await asyncio.wait({self.watcher}, timeout=1.0)
            if self.hung_up.is_set():
                raise SimulationError(f"server hung up the {self.speaker} AudioSocket leg (0x00 frame)")
        finally:
            await self._close()

    async def abort(self) -> None:
        if not self.hung_up.is_set() and not self.writer.is_closing():
            self.writer.write(HANGUP)  # leaving early (error, cancel): hang up politely
        await self._close()

    async def _close(self) -> None:
        self.writer.close()
        self.watcher.cancel()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


def _audiosocket_address(reg: dict[str, Any], server_host: str, port: int) -> tuple[str, int]:
    """Where the legs go: the node the registration names (`audiosocket_server`, its advertised address: behind a
    load balancer, the node that holds the registration), else the server we registered with."""
    named = reg.get("audiosocket_server")
    if not isinstance(named, str) or ":" not in named:
        return server_host, port
    host, _, named_port = named.rpartition(":")
    host = host.strip("[]")
    if host in ("0.0.0.0", "::", ""):
        host = server_host
    try:
        return host, int(named_port)
    except ValueError:
        raise SimulationError(f"POST /api/calls named a bad AudioSocket server {named!r}") from None


async def _plan_audiosocket(path: Path, server: str, o: Options) -> Plan:
    tracks = wav_tracks(path, 8000)
    legs = dict(zip(("customer", "agent"), (str(uuid.uuid4()) for _ in tracks), strict=False))
    async with _http_session() as http:
        health = await _fetch_json(http, "GET", server, "/healthz")
        port = (health.get("ports") or {}).get("audiosocket")
        if not port:
            raise SimulationError("the server has AudioSocket switched off (healthz ports.audiosocket is null)")
        reg = await _register(http, server, o, "audiosocket", audiosocket=legs)
    host, port = _audiosocket_address(reg, _server_host(server), int(port))

    def leg(speaker: str, leg_uuid: str, pcm: bytes) -> Leg:
        async def connect() -> _AudioSocketLink:
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError as exc:
                raise SimulationError(f"AudioSocket {host}:{port}: cannot connect ({exc})") from exc
            return _AudioSocketLink(reader, writer, speaker)

        return Leg(connect, AudioSocketClient(leg_uuid).script(pcm))  # ends with the 0x00 hangup frame

    return Plan(
        str(reg["call_id"]),
        [leg(speaker, leg_uuid, pcm) for (speaker, leg_uuid), pcm in zip(legs.items(), tracks, strict=True)],
        per_track=True,
    )


class _RtpLink:
    """One UDP flow: datagrams out, nothing to start or stop (RTCP BYE is the script's last datagram)."""

    def __init__(self, transport: asyncio.DatagramTransport) -> None:
        self.transport = transport

    async def start(self) -> None:
        return None

    def ended(self) -> bool:
        return False

    async def send(self, message: bytes) -> None:
        self.transport.sendto(message)

    async def finish(self) -> None:
        self.transport.close()

    async def abort(self) -> None:
        self.transport.close()


def _rtp_endpoint(endpoints: dict[str, Any], speaker: str, server_host: str) -> tuple[str, int]:
    endpoint = endpoints.get(speaker)
    if not isinstance(endpoint, dict) or "port" not in endpoint:
        raise SimulationError(f"no RTP endpoint for the {speaker} leg in {endpoints}")
    host = str(endpoint.get("host") or server_host)
    if host in ("0.0.0.0", "::", ""):
        host = server_host
    return host, int(endpoint["port"])


async def _plan_rtp(path: Path, server: str, o: Options) -> Plan:
    payload_type = o.get("rtp_payload_type", 0)
    if payload_type not in (0, 118):
        raise SimulationError(f"RTP payload type {payload_type} unsupported: use 0 (PCMU) or 118 (L16/16000)")
    async with _http_session() as http:
        reg = await _register(http, server, o, "rtp", rtp={"payload_type": payload_type})
    endpoints = reg.get("rtp")
    if not isinstance(endpoints, dict):
        raise SimulationError(f"POST /api/calls gave no rtp endpoints: {reg}")
    tracks = wav_tracks(path, CODECS[payload_type][1])
    server_host = _server_host(server)
    addresses = [_rtp_endpoint(endpoints, speaker, server_host) for speaker in ("customer", "agent")[: len(tracks)]]

    def leg(address: tuple[str, int], pcm: bytes) -> Leg:
        async def connect() -> _RtpLink:
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, remote_addr=address)
            return _RtpLink(transport)

        return Leg(connect, RtpSender(payload_type).script(pcm))

    return Plan(
        str(reg["call_id"]),
        [leg(address, pcm) for address, pcm in zip(addresses, tracks, strict=True)],
        per_track=True,
    )


#: the phone systems the simulator speaks, by the name `--protocol` takes
PHONE_SYSTEMS: dict[str, PhoneSystem] = {
    "twilio": PhoneSystem(_plan_twilio),
    "audiohook": PhoneSystem(_plan_audiohook),
    "audiofork": PhoneSystem(_plan_audiofork),
    "audiosocket": PhoneSystem(_plan_audiosocket),
    "rtp": PhoneSystem(_plan_rtp, fast_speed=FAST_UDP_SPEED),  # UDP has no back-pressure
}
PROTOCOLS = tuple(PHONE_SYSTEMS)


# --------------------------------------------------------------------------- entry points


async def simulate(path: Path, protocol: str, server: str, *, fast: bool = False, **options: Unpack[Options]) -> str:
    """Stream `path` into the assist server at `server` (http://host:port) as `protocol`; the call id."""
    path = Path(path)
    system = PHONE_SYSTEMS.get(protocol)
    if system is None:
        raise SimulationError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    log.info("simulating call", protocol=protocol, wav=str(path), server=server, fast=fast)
    plan = await system.plan(path, server, options)
    pacer = Pacer(system.fast_speed if fast else 1.0)
    if plan.per_track:
        pacer.start()
    await _run_legs([_drive(leg, pacer) for leg in plan.legs])
    return plan.call_id


def main(argv: list[str] | None = None) -> int:
    """`python -m assist.stream.simulate CALL.wav --protocol twilio`; credentials default to ASSIST_* env."""
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="assist-simulate", description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("wav", type=Path, help="PCM16 WAV: mono = customer, stereo = customer (L) + agent (R)")
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
