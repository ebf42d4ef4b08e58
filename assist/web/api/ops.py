"""What operations and the load balancer use: GET /metrics (Prometheus), GET /readyz (readiness) and
POST /api/admin/drain (docs/scale.md).

* `/metrics` takes `Authorization: Bearer` with ASSIST_METRICS_TOKEN or ASSIST_API_TOKEN; with neither set it is
  open, like the rest of the API (which `assist serve` then keeps on loopback unless ASSIST_INSECURE=1).
* `/readyz` is unauthenticated (the balancer checks it; it says nothing about calls): 200 while the node takes
  new calls, 503 with `"status": "draining"` once it drains.  `/healthz` stays the liveness check: 200 while the
  process runs, draining or not, so nothing restarts a node that is finishing its calls.
* `POST /api/admin/drain` (API token) starts the drain that SIGTERM starts; `assist serve` exits once it is done.
"""

from __future__ import annotations

from aiohttp import web

from assist.service.context import CTX
from assist.service.drain import begin_drain
from assist.web.api.auth import bearer_ok, require_api_token

routes = web.RouteTableDef()
# the classic text format (what prometheus_client's generate_latest writes), which every Prometheus version reads
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    s = ctx.settings
    tokens = [t for t in (s.metrics_token, s.api_token) if t is not None]
    if tokens and not any(bearer_ok(request, t) for t in tokens):
        reason = "missing Authorization header" if "Authorization" not in request.headers else "wrong token"
        raise web.HTTPUnauthorized(
            text=f'{{"error": "{reason}: send Authorization: Bearer <ASSIST_METRICS_TOKEN or ASSIST_API_TOKEN>"}}',
            content_type="application/json",
            headers={"WWW-Authenticate": 'Bearer realm="assist"'},
        )
    body = await ctx.metrics.render()
    return web.Response(body=body, headers={"Content-Type": TEXT_FORMAT})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    drain = ctx.drain.status()
    body = {"status": "draining" if drain["draining"] else "ready", "live_calls": len(ctx.calls.live), **drain}
    return web.json_response(body, status=503 if drain["draining"] else 200)


@routes.post("/api/admin/drain")
async def drain(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    require_api_token(request, ctx.settings.api_token)
    started = begin_drain(ctx, "POST /api/admin/drain")
    return web.json_response(
        {
            **ctx.drain.status(),
            "started": started,
            "live_calls": len(ctx.calls.live),
            "bound_seconds": ctx.settings.drain_seconds,
        },
        status=202,
    )
