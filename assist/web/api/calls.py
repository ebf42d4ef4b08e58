"""HTTP API: health, calls (list, detail with transcript, register/claim, end) and the live feed."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

from aiohttp import WSMsgType, web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assist import logs
from assist.events import Speaker
from assist.service.context import CTX, Context
from assist.stream.protocols.base import Refusal
from assist.web.api.auth import require_api_token
from assist.web.api.http import bad_request, json_error, query_limit, read_json

log = logs.get(__name__)
routes = web.RouteTableDef()


def ctx_of(request: web.Request) -> Context:
    return request.app[CTX]


class RtpRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    payload_type: Literal[0, 118] = 0


class CallRegistration(BaseModel):
    """Body of POST /api/calls and PUT /api/calls/{id}."""

    model_config = ConfigDict(extra="forbid")
    call_id: str | None = Field(None, min_length=1, max_length=128)
    agent_id: str | None = Field(None, max_length=128)
    account_id: str | None = Field(None, max_length=128)
    language: str | None = Field(None, pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    protocol: str | None = None
    customer_phone: str | None = Field(None, max_length=40)
    direction: Literal["inbound", "outbound"] | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    audiosocket: dict[Speaker, str] | None = Field(None, description="AudioSocket UUID of each leg")
    rtp: RtpRequest | None = Field(None, description="allocate an RTP port per leg")


async def _body(request: web.Request) -> CallRegistration:
    raw = await read_json(request)
    try:
        return CallRegistration.model_validate(raw)
    except ValidationError as e:
        msg = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'body'}: {err['msg']}" for err in e.errors())
        raise bad_request(f"invalid call registration: {msg}") from e


def _registration_reply(ctx: Context, call_id: str) -> dict[str, Any]:
    reg = ctx.calls.registrations.get(call_id)
    """What a registration tells the dialler: for RTP and AudioSocket, where this node takes the audio (its
    advertised host: with several nodes, the legs must reach the node that holds the registration)."""
    out: dict[str, Any] = {"call_id": call_id, "live": call_id in ctx.calls.live}
    host = ctx.settings.advertised_host()
    if reg and reg.rtp:
        out["rtp"] = {sp: {"host": host, "port": port} for sp, port in reg.rtp.items()}
        out["rtp_payload_type"] = reg.rtp_payload_type
    if reg and reg.legs:
        out["audiosocket"] = {sp: leg for leg, sp in reg.legs.items()}
        if ctx.audiosocket_port is not None:
            bracketed = f"[{host}]" if ":" in host else host
            out["audiosocket_server"] = f"{bracketed}:{ctx.audiosocket_port}"  # AudioSocket(<uuid>,<this>)
    return out


async def _register(request: web.Request, call_id: str | None) -> web.Response:
    ctx = ctx_of(request)
    require_api_token(request, ctx.settings.api_token)
    body = await _body(request)
    if call_id is not None and body.call_id not in (None, call_id):
        return json_error(400, f"call_id in the body ({body.call_id}) differs from the URL ({call_id})")
    cid = call_id or body.call_id
    try:
        reg = ctx.calls.register(
            call_id=cid,
            agent_id=body.agent_id,
            account_id=body.account_id,
            language=body.language,
            protocol=body.protocol,
            customer_phone=body.customer_phone,
            direction=body.direction,
            meta=body.meta,
            audiosocket=body.audiosocket,
            rtp_payload_type=body.rtp.payload_type if body.rtp else None,
        )
    except ValueError as e:
        return json_error(400, str(e))
    except Refusal as e:
        return json_error(503, str(e))
    if reg.call_id not in ctx.calls.live:
        await ctx.record_registration(reg)
    status = 201 if request.method == "POST" else 200
    return web.json_response(_registration_reply(ctx, reg.call_id), status=status)


@routes.post("/api/calls")
async def register_call(request: web.Request) -> web.Response:
    return await _register(request, None)


@routes.put("/api/calls/{call_id}")
async def claim_call(request: web.Request) -> web.Response:
    return await _register(request, request.match_info["call_id"])


@routes.post("/api/calls/{call_id}/end")
async def end_call(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    require_api_token(request, ctx.settings.api_token)
    cid = request.match_info["call_id"]
    ev = await ctx.calls.end_call(cid, "ended by API")
    if ev is not None:
        return web.json_response(ev.model_dump(mode="json"))
    if ctx.calls.cancel_registration(cid) is not None:  # registered, never started: free its ports now
        await ctx.store.cancel_registered(cid, "ended by API before it started")
        return web.json_response({"call_id": cid, "ended": "registration"})
    return json_error(404, f"no live or registered call {cid}")


@routes.get("/api/calls")
async def list_calls(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    require_api_token(request, ctx.settings.api_token)
    q = request.query
    limit = query_limit(request)
    calls = await ctx.store.list_calls(
        status=q.get("status"), agent_id=q.get("agent_id"), account_id=q.get("account_id"), limit=limit
    )
    return web.json_response({"calls": calls})


@routes.get("/api/calls/{call_id}")
async def get_call(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    require_api_token(request, ctx.settings.api_token)
    cid = request.match_info["call_id"]
    await ctx.hub.drain()
    call = await ctx.store.get(cid)
    if call is None:
        return json_error(404, f"no call {cid}")
    call["transcript"] = await ctx.store.transcript(cid)
    call["prompts"] = await ctx.store.prompts(cid)
    return web.json_response(call)


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    s = ctx.settings
    asr = ctx.engine.status()
    return web.json_response(
        {
            "status": "ok",
            "draining": ctx.drain.active,  # liveness stays 200 while draining; readiness is GET /readyz
            "transcribing": asr["transcribing"],
            "warning": None if asr["transcribing"] else "no speech model configured: calls are not transcribed",
            "ports": {"http": ctx.http_port, "audiosocket": ctx.audiosocket_port, "rtp": s.rtp_ports},
            "live_calls": len(ctx.calls.live) + len(ctx.demo_calls),  # demo calls play without a phone connection
            "asr": asr,
            "loop_lag": ctx.looplag.summary(),
            "counters": {**ctx.calls.counters, **ctx.coach.counters},
        }
    )


@routes.get("/api/feed")
async def feed_all(request: web.Request) -> web.StreamResponse:
    return await _feed(request, request.query.get("call_id"))


@routes.get("/api/calls/{call_id}/feed")
async def feed_call(request: web.Request) -> web.StreamResponse:
    return await _feed(request, request.match_info["call_id"])


async def _feed(request: web.Request, call_id: str | None) -> web.StreamResponse:
    """WebSocket: a snapshot first, then every live event (one call, or all calls)."""
    ctx = ctx_of(request)
    require_api_token(request, ctx.settings.api_token)
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=ctx.settings.max_message_bytes)
    await ws.prepare(request)
    sub = ctx.hub.subscribe(call_id)
    ctx.websockets.add(ws)
    try:
        await ctx.hub.drain()
        await ws.send_str(json.dumps(await ctx.snapshot(call_id), default=str))

        async def pump() -> None:
            while True:
                ev = await sub.queue.get()
                if ev is None:
                    await ws.close(code=1013, message=b"listener too slow: reconnect for a fresh snapshot")
                    return
                await ws.send_str(ev.model_dump_json())

        pump_task = asyncio.create_task(pump())
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT and msg.data == "ping":
                    await ws.send_str('{"type": "pong"}')
        finally:
            pump_task.cancel()
    finally:
        ctx.hub.unsubscribe(sub)
        ctx.websockets.discard(ws)
    return ws
