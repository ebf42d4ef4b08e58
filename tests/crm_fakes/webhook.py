"""A Standard Webhooks receiver, written from the spec (not from assist's signing code).

It verifies webhook-signature (v1, HMAC-SHA256 over "{id}.{timestamp}.{body}", base64; whsec_ secrets are
base64 keys) and the timestamp tolerance, dedupes on webhook-id as receivers are told to, and keeps the
newest version of each summary.  `records` is what the receiver's system stored: one entry per webhook-id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .base import BODY, FakeServer, body_json


class WebhookReceiver(FakeServer):
    def __init__(self, secret: str, *, now: Callable[[], float] = time.time, tolerance: float = 300.0) -> None:
        super().__init__()
        self.key = base64.b64decode(secret[6:]) if secret.startswith("whsec_") else secret.encode()
        self.now = now
        self.tolerance = tolerance
        self.records: dict[str, dict[str, Any]] = {}  # webhook-id -> envelope
        self.order: list[str] = []  # webhook-ids in the order first stored
        self.duplicates = 0
        self.rejected: list[str] = []
        self.summaries: dict[str, dict[str, Any]] = {}  # summary_id -> newest data
        self.accounts: dict[str, dict[str, Any]] = {}
        self.route("POST", "/hook", "hook", self._hook)
        self.route("GET", "/accounts/{account_id}", "account", self._account)

    def _verify(self, request: web.Request) -> str | None:
        h = request.headers
        msg_id, ts, sigs = h.get("webhook-id"), h.get("webhook-timestamp"), h.get("webhook-signature")
        if not (msg_id and ts and sigs):
            return "missing webhook-id, webhook-timestamp or webhook-signature"
        if not ts.isdigit() or abs(self.now() - int(ts)) > self.tolerance:
            return "timestamp outside tolerance"
        signed = msg_id.encode() + b"." + ts.encode() + b"." + request[BODY]
        want = base64.b64encode(hmac.new(self.key, signed, hashlib.sha256).digest()).decode()
        for part in sigs.split(" "):
            version, _, value = part.partition(",")
            if version == "v1" and hmac.compare_digest(value, want):
                return None
        return "signature mismatch"

    async def _hook(self, request: web.Request) -> web.StreamResponse:
        problem = self._verify(request)
        if problem:
            self.rejected.append(problem)
            return web.json_response({"error": problem}, status=401)
        msg_id = request.headers["webhook-id"]
        if request.headers.get("idempotency-key") != msg_id:
            return web.json_response({"error": "Idempotency-Key must equal webhook-id"}, status=400)
        env = body_json(request)
        if not isinstance(env, dict) or not isinstance(env.get("data"), dict) or "type" not in env:
            return web.json_response({"error": "body must be {type, timestamp, data}"}, status=400)
        if msg_id in self.records:
            self.duplicates += 1
            return web.json_response({"status": "duplicate ignored"}, status=200)
        self.records[msg_id] = env
        self.order.append(msg_id)
        data = env["data"]
        old = self.summaries.get(data["summary_id"])
        if old is None or old["version"] < data["version"]:
            self.summaries[data["summary_id"]] = data
        return web.json_response({"status": "stored"}, status=200, headers={"X-Record-Id": f"rec-{len(self.order)}"})

    async def _account(self, request: web.Request) -> web.StreamResponse:
        problem = self._verify(request)
        if problem:
            return web.json_response({"error": problem}, status=401)
        acc = self.accounts.get(request.match_info["account_id"])
        if acc is None:
            return web.json_response({"error": "no such account"}, status=404)
        return web.json_response(acc)

    def stored_per_summary(self) -> dict[str, int]:
        """How many distinct records of each (summary, version) the receiver stored (must all be 1)."""
        out: dict[str, int] = {}
        for env in self.records.values():
            key = f"{env['data']['summary_id']}:v{env['data']['version']}"
            out[key] = out.get(key, 0) + 1
        return out

    def first_delivery_order(self) -> list[str]:
        return [self.records[m]["data"]["summary_id"] for m in self.order]
