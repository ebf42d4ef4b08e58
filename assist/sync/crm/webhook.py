"""Generic webhook target, signed the Standard Webhooks way.

POST <url> with the summary as {"type", "timestamp", "data"} and headers
  webhook-id: <summary_id>:v<version>      (the idempotency key; the same on every retry)
  webhook-timestamp: <unix seconds of this attempt>
  webhook-signature: v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>
  Idempotency-Key: <same as webhook-id>
Any 2xx is delivered, 409 is a receiver's "already have it" (delivered), 410 retires the endpoint
(dead-letter), 408/429/5xx are retried, other 4xx are dead-lettered.  docs/crm-webhook.md is the
receiving side's contract.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import Any
from urllib.parse import quote

from assist.sync.clock import Clock, SystemClock
from assist.sync.crm.base import Delivered, DeliveryItem, HttpClient, check_status, exchange

SECRET_PREFIX = "whsec_"


def secret_bytes(secret: str) -> bytes:
    """'whsec_<base64>' secrets (Standard Webhooks) are the base64-decoded key; anything else is UTF-8."""
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except ValueError:
            raise ValueError("webhook secret starts with whsec_ but the rest is not base64") from None
    return secret.encode()


def sign(secret: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(
    secret: bytes,
    msg_id: str,
    timestamp: str,
    body: bytes,
    signature_header: str,
    *,
    now: float,
    tolerance: float = 300.0,
) -> None:
    """The receiving side's check (used by our tests and documented for customers): raises ValueError."""
    try:
        ts = int(timestamp)
    except ValueError:
        raise ValueError("webhook-timestamp is not an integer") from None
    if abs(now - ts) > tolerance:
        raise ValueError("webhook-timestamp is too far from now (replay?)")
    expected = sign(secret, msg_id, ts, body).split(",", 1)[1]
    for candidate in signature_header.split():
        version, _, sig = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(sig, expected):
            return
    raise ValueError("no matching v1 signature")


def envelope(item: DeliveryItem) -> bytes:
    s = item.summary
    event = "call.summary.created" if s.version == 1 else "call.summary.updated"
    body = {"type": event, "timestamp": s.updated_at.isoformat(), "data": s.model_dump(mode="json")}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


class WebhookAdapter:
    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout: float = 10.0,
        account_url: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.url = url
        self.secret = secret_bytes(secret)
        self.timeout = timeout
        self.account_url = account_url
        self.clock = clock or SystemClock()
        self.http = HttpClient()

    def headers(self, msg_id: str, body: bytes) -> dict[str, str]:
        ts = int(self.clock.now())
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(self.secret, msg_id, ts, body),
        }

    async def deliver(self, item: DeliveryItem) -> Delivered:
        body = envelope(item)
        headers = self.headers(item.idempotency_key, body)
        headers.update({"Idempotency-Key": item.idempotency_key, "Content-Type": "application/json"})
        ans = await exchange(self.http.session, "POST", self.url, within=self.timeout, data=body, headers=headers)
        if ans.status == 409:
            return Delivered(None, 409, "duplicate", "receiver already had this webhook-id")
        check_status(ans, "webhook receiver", self.clock)
        return Delivered(ans.headers.get("x-record-id"), ans.status, "accepted")

    async def lookup_account(self, account_id: str) -> dict[str, Any] | None:
        if not self.account_url:
            return None
        url = self.account_url.replace("{account_id}", quote(account_id, safe=""))
        headers = self.headers(f"lookup_{uuid.uuid4().hex}", b"")
        ans = await exchange(self.http.session, "GET", url, within=self.timeout, headers=headers)
        return ans.record("account endpoint", lambda a: check_status(a, "account endpoint", self.clock))

    async def close(self) -> None:
        await self.http.close()
