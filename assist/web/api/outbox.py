"""HTTP API of the CRM sync: each call's summary (read, edit, submit) and the outbox (state, attempts,
deadline, retry, metrics).  The handlers only translate HTTP to `assist.sync` calls."""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from assist.service.context import CTX
from assist.sync import api as outbox_api
from assist.sync.finalize import SummaryError, edit_summary, get_summary, submit_summary
from assist.web.api.auth import require_api_token
from assist.web.api.http import bad_request, json_error, query_limit, read_json

routes = web.RouteTableDef()

MAX_ITEM_ID = 2**63 - 1  # SQLite's INTEGER range: a larger id cannot exist (and would overflow the query)


async def _json_body(request: web.Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise bad_request("body must be a JSON object")
    return body


@routes.get("/api/calls/{call_id}/summary")
async def summary_get(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    require_api_token(request, ctx.settings.api_token)
    state = await get_summary(ctx.db, request.match_info["call_id"])
    if state is None:
        return json_error(404, f"no summary for call {request.match_info['call_id']} (it has not ended yet?)")
    return web.json_response(state.model_dump(mode="json"))


@routes.patch("/api/calls/{call_id}/summary")
async def summary_edit(request: web.Request) -> web.Response:
    return await _edit(request, submit=False)


@routes.post("/api/calls/{call_id}/summary/submit")
async def summary_submit(request: web.Request) -> web.Response:
    return await _edit(request, submit=True)


async def _edit(request: web.Request, *, submit: bool) -> web.Response:
    ctx = request.app[CTX]
    require_api_token(request, ctx.settings.api_token)
    call_id = request.match_info["call_id"]
    body = await _json_body(request) if request.can_read_body else {}
    edits = body.get("edits", {})
    by = body.get("by")
    try:
        if submit:
            state = await submit_summary(
                ctx.db, call_id, time.time(), edits=edits or None, by=by, settings=ctx.sync_settings
            )
        else:
            state = await edit_summary(ctx.db, call_id, edits, time.time(), by=by, settings=ctx.sync_settings)
    except LookupError as e:
        return json_error(404, str(e).strip("'\""))
    except SummaryError as e:
        return json_error(400, str(e))
    ctx.sync_worker.wake()
    return web.json_response(state.model_dump(mode="json"))


@routes.get("/api/outbox")
async def outbox_list(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    require_api_token(request, ctx.settings.api_token)
    q = request.query
    limit = query_limit(request)
    items = await outbox_api.list_outbox(
        ctx.db, status=q.get("status"), call_id=q.get("call_id"), target=q.get("target"), limit=limit
    )
    return web.json_response({"items": items}, dumps=lambda o: json.dumps(o, default=str))


@routes.get("/api/outbox/metrics")
async def outbox_metrics(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    require_api_token(request, ctx.settings.api_token)
    return web.json_response(await outbox_api.outbox_metrics(ctx.db), dumps=lambda o: json.dumps(o, default=str))


@routes.get("/api/outbox/{item_id:\\d+}")
async def outbox_show(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    require_api_token(request, ctx.settings.api_token)
    item_id = int(request.match_info["item_id"])
    item = await outbox_api.show_outbox_item(ctx.db, item_id) if item_id <= MAX_ITEM_ID else None
    if item is None:
        return json_error(404, f"no outbox item {request.match_info['item_id']}")
    return web.json_response(item, dumps=lambda o: json.dumps(o, default=str))


@routes.post("/api/outbox/{item_id:\\d+}/retry")
async def outbox_retry(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    require_api_token(request, ctx.settings.api_token)
    item_id = int(request.match_info["item_id"])
    if item_id > MAX_ITEM_ID:
        return json_error(404, f"no outbox item {item_id}")
    done = await outbox_api.retry_outbox_items(ctx.db, [item_id])
    ctx.sync_worker.wake()
    return web.json_response({"retried": done}, dumps=lambda o: json.dumps(o, default=str))
