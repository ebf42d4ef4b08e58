"""The running service's parts, shared by the handlers (one per process), each a typed attribute."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from assist.events import CallStarted
from assist.service.coach_runner import CoachRunner
from assist.service.drain import Drain
from assist.service.hub import Hub
from assist.service.looplag import LoopLagMonitor
from assist.service.metrics import Metrics
from assist.service.summary_service import SummaryService
from assist.settings import Settings
from assist.store.calls import CallStore
from assist.store.db import Database
from assist.stream.calls import CallManager, Registration
from assist.stream.recognition import AsrEngine
from assist.sync.outbox import OutboxWorker
from assist.sync.settings import SyncSettings


class BrowserSide(Protocol):
    """What the service core asks of the browser layer (assist.web.browser.hub.BrowserHub)."""

    async def refresh_teams(self) -> None:
        """Reload which agent is in which team (after users were added)."""
        ...

    async def summary_changed(self, call_id: str) -> None:
        """Push a call's new summary draft to the sidebars that show it."""
        ...


class Listener(Protocol):
    """A network listener outside aiohttp (AudioSocket's TCP server, the RTP ports)."""

    def close(self) -> None: ...


@dataclass
class Context:
    settings: Settings
    db: Database
    store: CallStore
    hub: Hub
    engine: AsrEngine
    calls: CallManager
    coach: CoachRunner  # the call manager's sink: events pass through the coach on their way to the hub
    sync_settings: SyncSettings
    sync_worker: OutboxWorker
    looplag: LoopLagMonitor
    http_port: int | None = None
    audiosocket_port: int | None = None
    audiosocket: Listener | None = None
    rtp: Listener | None = None
    housekeeping: asyncio.Task[None] | None = None
    browser_hub: BrowserSide | None = None  # set when the browser layer starts
    summary_service: SummaryService | None = None  # built on first use by the browser layer
    demo: asyncio.Task[None] | None = None  # the demo call loop (`assist serve --demo`)
    demo_calls: set[str] = field(default_factory=set)  # demo calls playing now (counted as live in /healthz)
    drain: Drain = field(default_factory=Drain)  # whether the node drains (assist.service.drain)
    metrics: Metrics = field(default_factory=Metrics)  # this service's Prometheus registry (GET /metrics)
    # open connections, closed at shutdown: WebSockets (phone, feed) and AudioSocket writers
    websockets: set[web.WebSocketResponse] = field(default_factory=set)
    tcp_writers: set[Any] = field(default_factory=set)

    async def record_registration(self, reg: Registration) -> None:
        """A call registered ahead of its audio is stored as 'registered'."""
        await self.store.upsert_started(
            CallStarted(
                call_id=reg.call_id,
                protocol=reg.protocol or "api",
                agent_id=reg.agent_id,
                account_id=reg.account_id,
                language=reg.language or self.settings.default_language,
                customer_phone=reg.customer_phone,
                direction=reg.direction,
                meta=reg.meta,
                transcribed=self.engine.available,
            ),
            status="registered",
        )

    async def snapshot(self, call_id: str | None) -> dict[str, Any]:
        """What a live listener needs before the events: the live calls, and for one call its
        transcript and prompts so far."""
        live = [
            c.started.model_dump(mode="json")
            for c in self.calls.live.values()
            if call_id is None or c.call_id == call_id
        ]
        out: dict[str, Any] = {"type": "snapshot", "call_id": call_id, "live_calls": live}
        if call_id is not None:
            out["call"] = await self.store.get(call_id)
            out["transcript"] = await self.store.transcript(call_id)
            out["prompts"] = await self.store.prompts(call_id)
        return out


CTX: web.AppKey[Context] = web.AppKey("ctx", Context)
SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
