"""Salesforce REST API, the parts assist uses: OAuth refresh-token grant, Task upsert by External ID,
Account read.  Shapes follow the REST API Developer Guide (upsert: 201 created / 200 updated with
{id, success, errors, created}; errors: [{message, errorCode, fields}]; 401 INVALID_SESSION_ID).
"""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from .base import BODY, FakeServer, body_json

API = "v62.0"
TASK_FIELDS = {
    "Subject": str, "Status": str, "TaskSubtype": str, "CallType": str, "CallDurationInSeconds": int,
    "CallObject": str, "CallDisposition": str, "Description": str, "ActivityDate": str, "WhoId": str,
    "WhatId": str, "OwnerId": str, "Priority": str,
}
LIMITS = {"Subject": 255, "CallObject": 255, "CallDisposition": 255, "Description": 32000}


def _err(status: int, code: str, message: str, fields: list[str] | None = None) -> web.Response:
    return web.json_response([{"message": message, "errorCode": code, "fields": fields or []}], status=status)


class FakeSalesforce(FakeServer):
    def __init__(self, *, client_id: str = "cid", client_secret: str = "csecret", refresh_token: str = "rtok") -> None:
        super().__init__()
        self.client_id, self.client_secret, self.refresh_token = client_id, client_secret, refresh_token
        self._tokens = itertools.count(1)
        self.valid_tokens: set[str] = {"tok-0"}
        self.tasks: dict[str, dict[str, Any]] = {}  # Call_Key__c -> Task
        self.created = 0
        self.updated = 0
        self.token_grants = 0
        self.accounts: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self.route("POST", "/services/oauth2/token", "token", self._token)
        self.route("PATCH", f"/services/data/{API}/sobjects/Task/{{field}}/{{key}}", "upsert", self._upsert)
        self.route("GET", f"/services/data/{API}/sobjects/Account/{{id}}", "account", self._account)

    def expire_tokens(self) -> None:
        self.valid_tokens.clear()

    def _authorised(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        return auth.startswith("Bearer ") and auth[7:] in self.valid_tokens

    async def _token(self, request: web.Request) -> web.StreamResponse:
        form = {k: v[0] for k, v in parse_qs(request[BODY].decode()).items()}
        if form.get("grant_type") != "refresh_token":
            return web.json_response({"error": "unsupported_grant_type", "error_description": "grant type not supported"},
                                     status=400)
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return web.json_response({"error": "invalid_client_id", "error_description": "client identifier invalid"},
                                     status=400)
        if form.get("refresh_token") != self.refresh_token:
            return web.json_response({"error": "invalid_grant", "error_description": "expired access/refresh token"},
                                     status=400)
        token = f"tok-{next(self._tokens)}"
        self.valid_tokens.add(token)
        self.token_grants += 1
        return web.json_response({"access_token": token, "instance_url": self.url, "token_type": "Bearer",
                                  "id": f"{self.url}/id/00D/005", "issued_at": "1700000000000", "signature": "x"})

    async def _upsert(self, request: web.Request) -> web.StreamResponse:
        if not self._authorised(request):
            return _err(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if request.match_info["field"] != "Call_Key__c":
            return _err(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: "
                        f"{request.match_info['field']}")
        body = body_json(request)
        if not isinstance(body, dict):
            return _err(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of Task from non-object")
        for name, value in body.items():
            kind = TASK_FIELDS.get(name)
            if kind is None:
                return _err(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type Task", [name])
            if not isinstance(value, kind) or isinstance(value, bool):
                return _err(400, "JSON_PARSER_ERROR", f"Cannot deserialize value of {name}", [name])
            if name in LIMITS and len(value) > LIMITS[name]:
                return _err(400, "STRING_TOO_LONG", f"{name}: data value too large", [name])
        if body.get("CallType") not in (None, "Inbound", "Outbound", "Internal"):
            return _err(400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Call Type: bad value for restricted picklist",
                        ["CallType"])
        key = request.match_info["key"]
        existing = self.tasks.get(key)
        if existing is None:
            task = {"Id": f"00T{next(self._ids):015d}", "Call_Key__c": key, **body}
            self.tasks[key] = task
            self.created += 1
            return web.json_response({"id": task["Id"], "success": True, "errors": [], "created": True}, status=201)
        if "TaskSubtype" in body and body["TaskSubtype"] != existing.get("TaskSubtype"):
            return _err(400, "INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update fields: TaskSubtype",
                        ["TaskSubtype"])
        existing.update(body)
        self.updated += 1
        return web.json_response({"id": existing["Id"], "success": True, "errors": [], "created": False}, status=200)

    async def _account(self, request: web.Request) -> web.StreamResponse:
        if not self._authorised(request):
            return _err(401, "INVALID_SESSION_ID", "Session expired or invalid")
        acc = self.accounts.get(request.match_info["id"])
        if acc is None:
            return _err(404, "NOT_FOUND", "The requested resource does not exist")
        fields = request.query.get("fields")
        rec = {k: v for k, v in acc.items() if not fields or k in fields.split(",")}
        return web.json_response({"attributes": {"type": "Account", "url": request.path}, **rec})
