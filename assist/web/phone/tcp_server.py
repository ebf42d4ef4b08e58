"""Asterisk AudioSocket over TCP: one connection per call leg, bytes handed to the sans-I/O protocol.

The UUID Asterisk sends first is looked up among the legs a dialler registered (`POST /api/calls`
with `audiosocket: {customer: UUID, agent: UUID}`); an unregistered UUID starts a call of its own
(call id = the UUID, the audio taken as the customer's) that can be claimed later with
`PUT /api/calls/{uuid}`.
"""

from __future__ import annotations

import asyncio

from assist import logs
from assist.service.context import Context
from assist.stream.protocols.audiosocket import AudioSocketServer
from assist.stream.protocols.base import CallStart
from assist.web.phone.driver import ProtocolDriver, SpeakerMap

log = logs.get(__name__)
READ_SIZE = 64 * 1024
IDLE_TIMEOUT = 60.0  # a leg that sends nothing for this long is dropped


async def start(ctx: Context, host: str, port: int) -> asyncio.Server:
    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _serve_leg(ctx, reader, writer)

    return await asyncio.start_server(on_connect, host, port)


async def _serve_leg(ctx: Context, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    peer = writer.get_extra_info("peername")
    proto = AudioSocketServer()

    async def send_bytes(data: bytes) -> None:
        writer.write(data)
        await writer.drain()

    async def close(code: int, reason: str) -> None:
        writer.close()

    def resolve(ev: CallStart) -> tuple[str | None, SpeakerMap]:
        leg = ctx.calls.leg(ev.external_id or "")
        if leg is None:
            return ev.external_id, {}
        call_id, speaker = leg
        return call_id, {"customer": speaker}

    driver = ProtocolDriver(
        proto,
        "audiosocket",
        ctx.calls,
        send_bytes=send_bytes,
        close=close,
        shared_clock=False,
        resolve_call=resolve,
        peer=str(peer),
        media_timeout=ctx.settings.media_timeout,
    )
    ctx.tcp_writers.add(writer)
    try:
        while not driver.closed:
            try:
                data = await asyncio.wait_for(reader.read(READ_SIZE), IDLE_TIMEOUT)
            except TimeoutError:
                driver.log.warning("audiosocket leg idle, dropped", seconds=IDLE_TIMEOUT)
                break
            if not data:
                break
            await driver.receive(data)
    except ConnectionError as e:
        driver.log.info("audiosocket connection lost", error=str(e))
    finally:
        ctx.tcp_writers.discard(writer)
        await driver.connection_lost()
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass
