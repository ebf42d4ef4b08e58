"""Builds the service: one aiohttp application for all HTTP/WebSocket traffic, plus the AudioSocket
(TCP) and RTP (UDP) listeners in the same process, all wired to one hub."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from typing import Any

from aiohttp import WSCloseCode, web

from assist import logs
from assist.coach.detectors.sensitive import mask_meta
from assist.coach.playbook import use_playbook_dir
from assist.service.call_services import CallServices, warm_up_coach
from assist.service.coach_runner import CoachRunner
from assist.service.context import CTX, SETTINGS, Context
from assist.service.drain import begin_drain, drain_node
from assist.service.hub import Hub, store_writer
from assist.service.looplag import LoopLagMonitor
from assist.service.recovery import recover
from assist.settings import Settings
from assist.store.calls import CallStore
from assist.store.db import open_database
from assist.stream import models
from assist.stream.calls import CallManager
from assist.stream.recognition import AsrEngine
from assist.sync.settings import SyncSettings
from assist.sync.worker import start_worker
from assist.web.api import accounts as accounts_routes
from assist.web.api import calls as api
from assist.web.api import ops as ops_routes
from assist.web.api import outbox as sync_routes
from assist.web.api.http import json_errors
from assist.web.browser import routes as ui
from assist.web.phone import websocket as phone

log = logs.get(__name__)


def create_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=settings.max_message_bytes, middlewares=[json_errors])
    app[SETTINGS] = settings
    use_playbook_dir(settings.playbook_dir)  # ASSIST_PLAYBOOK_DIR: extra playbooks, searched first
    app.add_routes(api.routes)
    app.add_routes(phone.routes)
    app.add_routes(sync_routes.routes)
    app.add_routes(accounts_routes.routes)
    app.add_routes(ops_routes.routes)
    app.add_routes(ui.routes)
    app.on_startup.append(_startup)
    app.on_startup.append(ui.startup)
    app.on_shutdown.append(_shutdown)
    app.on_cleanup.append(_cleanup)
    return app


async def _startup(app: web.Application) -> None:
    """Build the parts in the order the events flow back from the hub: store and hub, the CRM sync, the call
    services, the coach, and the call manager whose sink is the coach (calls -> coach -> hub -> store)."""
    settings = app[SETTINGS]
    db = await open_database(settings.database_target, pool_size=settings.database_pool_size)
    store = CallStore(db)
    hub = Hub(persist=[store_writer(store)])
    hub.start()
    engine = await _start_engine(settings)
    await asyncio.get_running_loop().run_in_executor(None, warm_up_coach)
    sync = SyncSettings()
    worker = await start_worker(db, sync, on_alert=hub.publish)
    services = CallServices(db, store, hub, sync, wake_sync=worker.wake)
    await recover(store, services.accounts, services.finalize, alert=hub.publish)
    coach = CoachRunner(hub.publish, services.load_context, services.on_findings)
    coach.start()
    calls = CallManager(
        engine,
        coach,
        default_language=settings.default_language,
        rtp_ports=settings.rtp_port_range(),
        mask_meta=mask_meta,
    )
    monitor = LoopLagMonitor(busy=lambda: bool(calls.live))
    monitor.start()
    ctx = Context(
        settings=settings,
        db=db,
        store=store,
        hub=hub,
        engine=engine,
        calls=calls,
        coach=coach,
        sync_settings=sync,
        sync_worker=worker,
        looplag=monitor,
    )
    app[CTX] = ctx
    ctx.metrics.track(ctx)
    await _start_listeners(ctx)
    ctx.housekeeping = asyncio.get_running_loop().create_task(_housekeeping(calls))
    # What start-up built lives as long as the process.  Frozen, it is left out of every later
    # collection, so a full collection walks only what calls create (the loop-stall monitor times
    # collections; bench/asr.py shows what one costs the event loop).
    gc.collect()
    gc.freeze()
    monitor.reset()  # that collection was start-up, not a stall while calls run


async def _start_engine(settings: Settings) -> AsrEngine:
    model_path = models.resolve(settings.vosk_model)
    if model_path is not None and settings.endpoint_rules:
        model_path = models.endpoint_overlay(model_path, settings.endpoint_rules, settings.model_cache)
    engine = AsrEngine(
        model_path,
        workers=settings.decode_workers,
        chunk_ms=settings.chunk_ms,
        vad=settings.vad,
        max_streams=settings.max_streams,
        max_lag=settings.max_lag,
        gate_options={"pre_roll": settings.vad_pre_roll, "hangover": settings.vad_hangover, "tail": settings.vad_tail},
    )
    await engine.start()
    return engine


async def _start_listeners(ctx: Context) -> None:
    from assist.web.phone import rtp_server, tcp_server

    s = ctx.settings
    if s.audiosocket_port is not None:
        server = await tcp_server.start(ctx, s.host, s.audiosocket_port)
        ctx.audiosocket = server
        ctx.audiosocket_port = server.sockets[0].getsockname()[1]
        log.info("AudioSocket listening", host=s.host, port=ctx.audiosocket_port)
    ports = s.rtp_port_range()
    if ports is not None:
        ctx.rtp = await rtp_server.start(ctx, s.host, ports)
        log.info("RTP listening", host=s.host, ports=s.rtp_ports)
    takes_legs = s.audiosocket_port is not None or ports is not None
    if takes_legs and s.advertise_host is None and s.host in ("0.0.0.0", "::"):
        log.warning(
            "ASSIST_ADVERTISE_HOST is not set: call registrations tell phone systems to send audio to this "
            "machine's host name",
            advertised=s.advertised_host(),
        )


async def _housekeeping(calls: CallManager) -> None:
    while True:
        await asyncio.sleep(30)
        calls.expire_registrations()


async def _shutdown(app: web.Application) -> None:
    """Stop taking audio, finish every live call (its last finals are decoded and stored), then
    close the connections that are still open."""
    ctx = app.get(CTX)
    if ctx is None:
        return
    for listener in (ctx.audiosocket, ctx.rtp):
        if listener is not None:
            listener.close()
    await ctx.calls.end_all("shutdown")
    for ws in list(ctx.websockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
    for writer in list(ctx.tcp_writers):
        writer.close()


async def _cleanup(app: web.Application) -> None:
    gc.unfreeze()  # an app torn down in a longer-lived process (the tests) must be collectable again
    ctx: Context | None = app.get(CTX)
    if ctx is None:
        return
    ctx.looplag.stop()
    await ctx.coach.stop()
    await ctx.sync_worker.close()
    if ctx.housekeeping is not None:
        ctx.housekeeping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ctx.housekeeping
    await ctx.calls.end_all("shutdown")
    await ctx.hub.stop()
    await ctx.engine.stop()
    await ctx.db.close()


async def serve(settings: Settings, *, demo: bool = False) -> None:
    """Run until SIGTERM, POST /api/admin/drain or Ctrl-C, then shut down gracefully (live calls are finished and
    stored).  SIGTERM and the drain API drain first (assist.service.drain: not ready, new calls refused, calls in
    progress may finish within ASSIST_DRAIN_SECONDS); a second SIGTERM, or Ctrl-C, stops without waiting.
    With `demo`, a built-in sample collection call also plays in a loop."""
    app = create_app(settings)
    if demo:
        from assist.service.demo import install_demo

        install_demo(app)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_sigterm() -> None:
        ctx = app.get(CTX)
        if ctx is None or not begin_drain(ctx, "SIGTERM"):
            stop.set()  # still starting, or already draining: stop now

    loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        # start-up is done (database, decode threads, listeners): a port already in use must undo it all, or
        # the process would report the error and then never exit
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        ctx = app[CTX]
        server: Any = site._server
        ctx.http_port = server.sockets[0].getsockname()[1] if server else settings.port
        log.info(
            "assist is serving",
            url=f"http://{settings.host}:{ctx.http_port}",
            db=ctx.db.describe(),
            transcribing=ctx.engine.available,
        )
        await _until_stop_or_drain(stop, ctx)
        if ctx.drain.active and not stop.is_set():
            await drain_node(ctx, stop)
        log.info("shutting down: finishing live calls")
    finally:
        await runner.cleanup()


async def _until_stop_or_drain(stop: asyncio.Event, ctx: Context) -> None:
    """Return when the process is told to stop, or to drain (SIGTERM, POST /api/admin/drain)."""
    waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(ctx.drain.requested.wait())}
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
