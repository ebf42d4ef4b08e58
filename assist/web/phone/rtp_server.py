"""Asterisk External Media over RTP/UDP: a port range, one port per call leg.

A dialler/ARI app registers the call (`POST /api/calls` with `rtp: {payload_type: 0|118}`) and gets
a port per leg, then points `externalMedia` at it.  Datagrams on a port nobody registered are
counted and dropped.  RTP has no hang-up: a leg ends when its packets stop for `idle_timeout`
seconds, or when the app calls `POST /api/calls/{id}/end`.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from assist import logs
from assist.service.context import Context
from assist.stream.protocols.base import CallStart
from assist.stream.protocols.rtp import RtpReceiver
from assist.web.phone.driver import ProtocolDriver, SpeakerMap

log = logs.get(__name__)
RCVBUF = 2 * 1024 * 1024


@dataclass
class _Leg:
    driver: ProtocolDriver
    proto: RtpReceiver
    call_id: str
    last: float = field(default_factory=time.monotonic)
    queue: asyncio.Queue[tuple[bytes, float, tuple[str, int]]] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None


class RtpListener:
    def __init__(self, ctx: Context, idle_timeout: float = 5.0) -> None:
        self.ctx = ctx
        self.idle_timeout = idle_timeout
        self.transports: list[asyncio.DatagramTransport] = []
        self.legs: dict[int, _Leg] = {}
        self.unknown_datagrams = 0
        self.reaper: asyncio.Task[None] | None = None

    def datagram(self, port: int, data: bytes, addr: tuple[str, int]) -> None:
        leg = self.legs.get(port)
        owner = self.ctx.calls.rtp_port(port)
        if leg is not None and (owner is None or owner[0] != leg.call_id):
            # the port was released (call refused or ended) and maybe given to another call: the old leg
            # must not swallow the new call's packets
            self._retire(port, leg)
            leg = None
        if leg is None:
            if owner is None:
                self.unknown_datagrams += 1
                if self.unknown_datagrams in (1, 10, 100) or self.unknown_datagrams % 1000 == 0:
                    log.warning(
                        "RTP on a port no call registered; dropped",
                        port=port,
                        peer=addr[0],
                        count=self.unknown_datagrams,
                    )
                return
            call_id, speaker, payload_type = owner
            proto = RtpReceiver(speaker=speaker, payload_type=payload_type)

            async def close(code: int, reason: str) -> None:
                return None

            def resolve(ev: CallStart, call_id: str = call_id) -> tuple[str | None, SpeakerMap]:
                return call_id, {}

            driver = ProtocolDriver(
                proto,
                "rtp",
                self.ctx.calls,
                close=close,
                shared_clock=False,
                resolve_call=resolve,
                peer=f"{addr[0]}:{addr[1]}",
            )
            leg = _Leg(driver, proto, call_id)
            leg.task = asyncio.get_running_loop().create_task(self._pump(port, leg))
            self.legs[port] = leg
        leg.last = time.monotonic()
        leg.queue.put_nowait((data, leg.last, (str(addr[0]), int(addr[1]))))

    def _retire(self, port: int, leg: _Leg) -> None:
        """End a leg's pump (it ends its driver) and forget it for this port."""
        leg.queue.put_nowait((b"", time.monotonic(), ("", 0)))
        if self.legs.get(port) is leg:
            del self.legs[port]

    async def _pump(self, port: int, leg: _Leg) -> None:
        """Datagrams of one leg, handled in order (the driver awaits call start and end)."""
        while True:
            data, at, source = await leg.queue.get()
            if not data:
                break
            await leg.driver.receive(data, at=at, source=source)
        await leg.driver.connection_lost()
        counts = leg.proto.counts
        log.info("RTP leg ended", call_id=leg.call_id, port=port, **{f"rtp_{k}": v for k, v in counts.items()})
        if self.legs.get(port) is leg:
            del self.legs[port]

    async def reap_idle(self) -> None:
        now = time.monotonic()
        for leg in list(self.legs.values()):
            ended = leg.call_id not in self.ctx.calls.live and leg.driver.call is not None
            if now - leg.last > self.idle_timeout or ended:
                leg.queue.put_nowait((b"", now, ("", 0)))
                if leg.task is not None:
                    await leg.task

    def close(self) -> None:
        if self.reaper is not None:
            self.reaper.cancel()
        for t in self.transports:
            t.close()


class _PortProtocol(asyncio.DatagramProtocol):
    def __init__(self, listener: RtpListener, port: int) -> None:
        self.listener = listener
        self.port = port

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if data:
            self.listener.datagram(self.port, data, addr)


async def start(ctx: Context, host: str, ports: range) -> RtpListener:
    listener = RtpListener(ctx)
    loop = asyncio.get_running_loop()
    for port in ports:
        transport, _ = await loop.create_datagram_endpoint(
            functools.partial(_PortProtocol, listener, port), local_addr=(host, port)
        )
        sock = transport.get_extra_info("socket")
        if sock is not None:  # room for bursts while the loop is busy (capped by net.core.rmem_max)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        listener.transports.append(transport)
    listener.reaper = loop.create_task(_reaper(listener))
    return listener


async def _reaper(listener: RtpListener) -> None:
    while True:
        await asyncio.sleep(1.0)
        await listener.reap_idle()
