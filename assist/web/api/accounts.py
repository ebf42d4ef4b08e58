"""Accounts API for the dialler: import accounts, record contact attempts, and the pre-dial check
(may this debtor be called now, and why not) under the playbook's time and frequency rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assist.accounts import AccountError, parse_account
from assist.coach.dialing import dial_check
from assist.coach.playbook import load_playbook
from assist.service.call_services import HISTORY_DAYS
from assist.service.context import CTX
from assist.store.accounts import AccountStore
from assist.web.api.auth import require_api_token
from assist.web.api.http import bad_request, json_error, read_json

routes = web.RouteTableDef()


def _parse_time(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(text)
    except ValueError as e:
        raise bad_request(f"at={text!r} is not an ISO-8601 time") from e
    if at.tzinfo is None:
        raise bad_request(f"at={text!r} needs a UTC offset (e.g. +08:00)")
    # The history window (`at` minus HISTORY_DAYS) and the debtor's local time are computed from `at`:
    # near year 1 or 9999 they overflow (OverflowError, a 500), and no dialler dials then.
    if not 1900 <= at.year <= 9000:
        raise bad_request(f"at={text!r} is out of range (years 1900-9000)")
    return at


@routes.post("/api/accounts")
async def import_accounts(request: web.Request) -> web.Response:
    """Body: one account object or a list of them (fields as in docs/coach.md)."""
    ctx = request.app[CTX]
    require_api_token(request, ctx.settings.api_token)
    body = await read_json(request)
    items = body if isinstance(body, list) else [body]
    try:
        accounts = [
            parse_account(a, where=f"account[{i}]")
            if isinstance(a, dict)
            else parse_account({}, where=f"account[{i}] is not an object")
            for i, a in enumerate(items)
        ]
    except AccountError as e:
        return json_error(400, str(e))
    n = await AccountStore(ctx.db).upsert_many(accounts)
    return web.json_response({"imported": n}, status=201)


@routes.get("/api/accounts/{account_id}")
async def get_account(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    require_api_token(request, ctx.settings.api_token)
    acc = await AccountStore(ctx.db).get(request.match_info["account_id"])
    if acc is None:
        return json_error(404, f"no account {request.match_info['account_id']}")
    return web.json_response(acc.model_dump(mode="json"))


class Attempt(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: datetime | None = None
    connected: bool
    channel: str = Field("human", pattern="^(human|robot)$")
    call_id: str | None = None


@routes.post("/api/accounts/{account_id}/attempts")
async def record_attempt(request: web.Request) -> web.Response:
    """The dialler reports every attempt (answered or not): the frequency rules count them all."""
    ctx = request.app[CTX]
    require_api_token(request, ctx.settings.api_token)
    try:
        att = Attempt.model_validate(await read_json(request))
    except ValidationError as e:
        return json_error(
            400,
            "invalid attempt: " + "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()),
        )
    at = att.at or datetime.now(UTC)
    if at.tzinfo is None:
        return json_error(400, "attempt 'at' needs a UTC offset")
    await AccountStore(ctx.db).record_attempt(
        request.match_info["account_id"],
        at,
        connected=att.connected,
        channel=att.channel,  # type: ignore[arg-type]
        call_id=att.call_id,
    )
    return web.json_response({"recorded": True}, status=201)


@routes.get("/api/accounts/{account_id}/dial-check")
async def dial_check_route(request: web.Request) -> web.Response:
    """May the dialler call this debtor now (or at ?at=ISO)?  Allowed or not, and why."""
    ctx = request.app[CTX]
    require_api_token(request, ctx.settings.api_token)
    account_id = request.match_info["account_id"]
    store = AccountStore(ctx.db)
    account = await store.get(account_id)
    if account is None:
        return json_error(404, f"no account {account_id}: import it first (POST /api/accounts)")
    at = _parse_time(request.query.get("at"))
    language = request.query.get("language") or ctx.settings.default_language
    history = await store.history(account_id, since=at - timedelta(days=HISTORY_DAYS))
    result = dial_check(account, history.before(at), at, load_playbook(language))
    return web.json_response(result.model_dump(mode="json"))
