"""The running service's parts, shared by the handlers (one per process)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from assist.events import CallStarted
from assist.service.hub import Hub
from assist.settings import Settings
from assist.store.calls import CallStore
from assist.store.db import Database
from assist.stream.calls import CallManager, Registration
from assist.stream.recognition import AsrEngine


@dataclass
class Context:
    settings: Settings
    db: Database
    store: CallStore
    hub: Hub
    engine: AsrEngine
    calls: CallManager
    http_port: int | None = None
    audiosocket_port: int | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    # open connections, closed at shutdown: WebSockets (phone, feed) and AudioSocket writers
    websockets: set[web.WebSocketResponse] = field(default_factory=set)
    tcp_writers: set[Any] = field(default_factory=set)

    async def record_registration(self, reg: Registration) -> None:
        """A call registered ahead of its audio is stored as 'registered'."""
        await self.store.upsert_started(
            CallStarted(call_id=reg.call_id, protocol=reg.protocol or "api", agent_id=reg.agent_id,
                        account_id=reg.account_id, language=reg.language or self.settings.default_language,
                        customer_phone=reg.customer_phone, direction=reg.direction, meta=reg.meta,
                        transcribed=self.engine.available),
            status="registered",
        )

    async def snapshot(self, call_id: str | None) -> dict[str, Any]:
        """What a live listener needs before the events: the live calls, and for one call its
        transcript and prompts so far."""
        live = [c.started.model_dump(mode="json") for c in self.calls.live.values()
                if call_id is None or c.call_id == call_id]
        out: dict[str, Any] = {"type": "snapshot", "call_id": call_id, "live_calls": live}
        if call_id is not None:
            out["call"] = await self.store.get(call_id)
            out["transcript"] = await self.store.transcript(call_id)
            out["prompts"] = await self.store.prompts(call_id)
        return out


CTX: web.AppKey[Context] = web.AppKey("ctx", Context)
SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
