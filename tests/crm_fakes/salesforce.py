"""Salesforce REST API, the parts assist uses: OAuth refresh-token grant, Task upsert by External ID,
Account read.  Shapes follow the REST API Developer Guide (upsert: 201 created / 200 updated with
{id, success, errors, created}; errors: [{message, errorCode, fields}]; 401 INVALID_SESSION_ID).
"""

from __future__ import annotations

import itertools
from typing import Any

from aiohttp import web

from .base import OAuthServer, body_json

API = "v62.0"
TASK_FIELDS = {
    "Subject": str,
    "Status": str,
    "TaskSubtype": str,
    "CallType": str,
    "CallDurationInSeconds": int,
    "CallObject": str,
    "CallDisposition": str,
    "Description": str,
    "ActivityDate": str,
    "WhoId": str,
    "WhatId": str,
    "OwnerId": str,
    "Priority": str,
}
LIMITS = {"Subject": 255, "CallObject": 255, "CallDisposition": 255, "Description": 32000}
OAUTH_ERRORS = {  # what the token endpoint says (400) for each problem of a grant
    "grant_type": ("unsupported_grant_type", "grant type not supported"),
    "client": ("invalid_client_id", "client identifier invalid"),
    "refresh_token": ("invalid_grant", "expired access/refresh token"),
}


def _err(status: int, code: str, message: str, fields: list[str] | None = None) -> web.Response:
    return web.json_response([{"message": message, "errorCode": code, "fields": fields or []}], status=status)


class FakeSalesforce(OAuthServer):
    def __init__(self, *, client_id: str = "cid", client_secret: str = "csecret", refresh_token: str = "rtok") -> None:
        super().__init__(
            first_token="tok-0",
            token_prefix="tok-",
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=refresh_token,
        )
        self.tasks: dict[str, dict[str, Any]] = {}  # Call_Key__c -> Task
        self.created = 0
        self.updated = 0
        self.accounts: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self.route("POST", "/services/oauth2/token", "token", self._token)
        self.route("PATCH", f"/services/data/{API}/sobjects/Task/{{field}}/{{key}}", "upsert", self._upsert)
        self.route("GET", f"/services/data/{API}/sobjects/Account/{{id}}", "account", self._account)

    async def _token(self, request: web.Request) -> web.StreamResponse:
        problem = self.grant_problem(request)
        if problem is not None:
            error, description = OAUTH_ERRORS[problem]
            return web.json_response({"error": error, "error_description": description}, status=400)
        token = self.issue_token()
        return web.json_response(
            {
                "access_token": token,
                "instance_url": self.url,
                "token_type": "Bearer",
                "id": f"{self.url}/id/00D/005",
                "issued_at": "1700000000000",
                "signature": "x",
            }
        )

    async def _upsert(self, request: web.Request) -> web.StreamResponse:
        if not self.authorised(request):
            return _err(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if request.match_info["field"] != "Call_Key__c":
            return _err(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {request.match_info['field']}",
            )
        body = body_json(request)
        if not isinstance(body, dict):
            return _err(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of Task from non-object")
        for name, value in body.items():
            kind = TASK_FIELDS.get(name)
            if kind is None:
                return _err(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type Task", [name])
            if not isinstance(value, kind) or isinstance(value, bool):
                return _err(400, "JSON_PARSER_ERROR", f"Cannot deserialize value of {name}", [name])
            if name in LIMITS and isinstance(value, str) and len(value) > LIMITS[name]:
                return _err(400, "STRING_TOO_LONG", f"{name}: data value too large", [name])
        if body.get("CallType") not in (None, "Inbound", "Outbound", "Internal"):
            return _err(
                400,
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                "Call Type: bad value for restricted picklist",
                ["CallType"],
            )
        key = request.match_info["key"]
        existing = self.tasks.get(key)
        if existing is None:
            task = {"Id": f"00T{next(self._ids):015d}", "Call_Key__c": key, **body}
            self.tasks[key] = task
            self.created += 1
            return web.json_response({"id": task["Id"], "success": True, "errors": [], "created": True}, status=201)
        if "TaskSubtype" in body and body["TaskSubtype"] != existing.get("TaskSubtype"):
            return _err(
                400, "INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update fields: TaskSubtype", ["TaskSubtype"]
            )
        existing.update(body)
        self.updated += 1
        return web.json_response({"id": existing["Id"], "success": True, "errors": [], "created": False}, status=200)

    async def _account(self, request: web.Request) -> web.StreamResponse:
        if not self.authorised(request):
            return _err(401, "INVALID_SESSION_ID", "Session expired or invalid")
        acc = self.accounts.get(request.match_info["id"])
        if acc is None:
            return _err(404, "NOT_FOUND", "The requested resource does not exist")
        fields = request.query.get("fields")
        rec = {k: v for k, v in acc.items() if not fields or k in fields.split(",")}
        return web.json_response({"attributes": {"type": "Account", "url": request.path}, **rec})
