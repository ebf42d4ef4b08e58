"""HubSpot CRM v3, the parts assist uses: calls object create / update / search, contact read, OAuth refresh.

Shapes follow developers.hubspot.com: create answers 201 {id, properties, createdAt, updatedAt, archived};
errors are {status: "error", message, correlationId, category}; `hs_timestamp` is required; association
type 194 = call→contact.  A property listed in `unique_properties` refuses duplicate values (409 CONFLICT),
search can lag behind writes (`search_lag` requests), and the server enforces its own burst limit
(`burst`/`window` seconds → 429 with Retry-After).
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from typing import Any

from aiohttp import web

from .base import OAuthServer, body_json


def _err(status: int, category: str, message: str) -> web.Response:
    return web.json_response(
        {"status": "error", "message": message, "correlationId": "c0ffee", "category": category}, status=status
    )


class FakeHubSpot(OAuthServer):
    def __init__(
        self,
        *,
        unique_property: str = "assist_call_key",
        burst: int = 1000,
        window: float = 10.0,
        client_id: str = "hcid",
        client_secret: str = "hsecret",
        refresh_token: str = "hrtok",
    ) -> None:
        super().__init__(
            first_token="pat-0",
            token_prefix="oauth-",
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=refresh_token,
        )
        self.unique_property = unique_property
        self.burst, self.window = burst, window
        self._hits: deque[float] = deque()
        self._ids = itertools.count(1001)
        self.calls: dict[str, dict[str, Any]] = {}  # id -> {"properties", "associations"}
        self.created = 0
        self.updated = 0
        self.search_lag = 0  # the next N searches do not see anything (index lag)
        self.contacts: dict[str, dict[str, Any]] = {"501": {"firstname": "Li", "lastname": "Wei", "phone": "+86 138"}}
        self.route("POST", "/oauth/v1/token", "token", self._token)
        self.route("POST", "/crm/v3/objects/calls", "create", self._limited(self._create))
        self.route("PATCH", "/crm/v3/objects/calls/{id}", "update", self._limited(self._update))
        self.route("POST", "/crm/v3/objects/calls/search", "search", self._limited(self._search))
        self.route("GET", "/crm/v3/objects/contacts/{id}", "contact", self._limited(self._contact))

    def _limited(self, handler: Any) -> Any:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            now = time.monotonic()
            while self._hits and now - self._hits[0] > self.window:
                self._hits.popleft()
            if len(self._hits) >= self.burst:
                return web.json_response(
                    {
                        "status": "error",
                        "message": "You have reached your ten_secondly_rolling limit.",
                        "errorType": "RATE_LIMIT",
                        "policyName": "TEN_SECONDLY_ROLLING",
                        "category": "RATE_LIMITS",
                    },
                    status=429,
                    headers={"Retry-After": "1", "X-HubSpot-RateLimit-Max": str(self.burst)},
                )
            self._hits.append(now)
            if not self.authorised(request):
                return _err(401, "INVALID_AUTHENTICATION", "Authentication credentials not found.")
            return await handler(request)

        return wrapped

    async def _token(self, request: web.Request) -> web.StreamResponse:
        if self.grant_problem(request) is not None:  # HubSpot says the same for every bad grant
            return web.json_response(
                {"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token"}, status=400
            )
        return web.json_response(
            {
                "access_token": self.issue_token(),
                "refresh_token": self.refresh_token,
                "expires_in": 1800,
                "token_type": "bearer",
            }
        )

    def _check_properties(self, props: Any, *, create: bool) -> web.Response | None:
        if not isinstance(props, dict):
            return _err(400, "VALIDATION_ERROR", "properties must be an object")
        for k, v in props.items():
            if not isinstance(v, str):
                return _err(400, "VALIDATION_ERROR", f"Property values were not valid: {k} must be a string")
        if create and "hs_timestamp" not in props:
            return _err(400, "VALIDATION_ERROR", "Property values were not valid: hs_timestamp is required")
        if "hs_call_duration" in props and not props["hs_call_duration"].isdigit():
            return _err(400, "VALIDATION_ERROR", "hs_call_duration must be a number of milliseconds")
        return None

    async def _create(self, request: web.Request) -> web.StreamResponse:
        body = body_json(request)
        if not isinstance(body, dict):
            return _err(400, "VALIDATION_ERROR", "Invalid input JSON")
        props: Any = body.get("properties")
        bad = self._check_properties(props, create=True)
        if bad is not None:
            return bad
        value = props.get(self.unique_property)
        if value is not None and any(c["properties"].get(self.unique_property) == value for c in self.calls.values()):
            return _err(409, "CONFLICT", f"A call with {self.unique_property} '{value}' already has that value.")
        assoc = body.get("associations") or []
        for a in assoc:
            types = a.get("types") or []
            if not (isinstance(a.get("to"), dict) and types and types[0].get("associationTypeId") == 194):
                return _err(400, "VALIDATION_ERROR", "invalid association: call->contact is typeId 194")
            if str(a["to"].get("id")) not in self.contacts:
                return _err(400, "VALIDATION_ERROR", f"contact {a['to'].get('id')} does not exist")
        cid = str(next(self._ids))
        self.calls[cid] = {"properties": dict(props), "associations": assoc, "created_seq": len(self.received)}
        self.created += 1
        return web.json_response(
            {
                "id": cid,
                "properties": props,
                "createdAt": "2026-11-28T00:00:00Z",
                "updatedAt": "2026-11-28T00:00:00Z",
                "archived": False,
            },
            status=201,
        )

    async def _update(self, request: web.Request) -> web.StreamResponse:
        cid = request.match_info["id"]
        if cid not in self.calls:
            return _err(404, "OBJECT_NOT_FOUND", f"Object not found. objectId are usually numeric. {cid}")
        body = body_json(request)
        props = body.get("properties") if isinstance(body, dict) else None
        bad = self._check_properties(props, create=False)
        if bad is not None:
            return bad
        self.calls[cid]["properties"].update(props)
        self.updated += 1
        return web.json_response({"id": cid, "properties": self.calls[cid]["properties"], "archived": False})

    async def _search(self, request: web.Request) -> web.StreamResponse:
        body = body_json(request)
        try:
            flt = body["filterGroups"][0]["filters"][0]
            prop, op, value = flt["propertyName"], flt["operator"], flt["value"]
        except (KeyError, IndexError, TypeError):
            return _err(400, "VALIDATION_ERROR", "filterGroups[0].filters[0] needs propertyName, operator, value")
        if op != "EQ":
            return _err(400, "VALIDATION_ERROR", f"operator {op} not supported by this fake")
        if self.search_lag > 0:
            self.search_lag -= 1
            hits: list[str] = []
        else:
            hits = [cid for cid, c in self.calls.items() if c["properties"].get(prop) == value]
        return web.json_response(
            {
                "total": len(hits),
                "results": [{"id": cid, "properties": {prop: value}, "archived": False} for cid in hits],
            }
        )

    async def _contact(self, request: web.Request) -> web.StreamResponse:
        c = self.contacts.get(request.match_info["id"])
        if c is None:
            return _err(404, "OBJECT_NOT_FOUND", "Object not found.")
        return web.json_response({"id": request.match_info["id"], "properties": c, "archived": False})

    def calls_with_key(self, key: str) -> list[str]:
        return [cid for cid, c in self.calls.items() if c["properties"].get(self.unique_property) == key]
