"""One OAuth 2.0 session for the CRM adapters that use bearer tokens (Salesforce, HubSpot).

`OAuthSession.request()` sends an authorised request to the CRM's API.  Without a token it first gets one;
a 401 is answered by one refresh-token grant (RFC 6749 section 6) and the request is sent once more, and
concurrent 401s share that one refresh.  The token endpoint's answers map onto the delivery errors: a
refused refresh token (400/401) or none configured is permanent (dead-letter: a person must re-authorise),
an unavailable endpoint is retried as `auth_refresh`.  A grant that carries a new refresh token replaces the
old one (rotation); anything else vendor-specific in the grant (Salesforce's instance URL) goes to `on_grant`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from assist.sync.clock import Clock
from assist.sync.crm.base import Answer, HttpClient, PermanentError, RetryableError, check_status, exchange


@dataclass(slots=True)
class OAuthClient:
    """The app's credentials at the token endpoint; `secret_required`: the vendor refuses a grant without
    the client secret."""

    client_id: str | None = None
    client_secret: str | None = None
    refresh_token: str | None = None
    secret_required: bool = False

    def can_refresh(self) -> bool:
        return bool(self.refresh_token and self.client_id and (self.client_secret or not self.secret_required))

    def grant_form(self) -> dict[str, str]:
        form = {
            "grant_type": "refresh_token",
            "client_id": self.client_id or "",
            "refresh_token": self.refresh_token or "",
        }
        if self.client_secret:
            form["client_secret"] = self.client_secret
        return form


def oauth_error(ans: Answer) -> str:
    """An OAuth error answer ({"error", "error_description"}) as one line, else the body's text."""
    try:
        data = json.loads(ans.body)
    except (ValueError, UnicodeDecodeError):
        return ans.text()
    if isinstance(data, dict) and "error" in data:
        return f"{data.get('error')}: {data.get('error_description', '')}"
    return ans.text()


@dataclass(kw_only=True, eq=False)
class OAuthSession(HttpClient):
    """Bearer-token requests to `base_url` (None until a grant names it), refreshed at `token_url`;
    `no_refresh_hint` ends the error when there is nothing to refresh with."""

    service: str
    base_url: str | None
    token_url: str
    access_token: str | None
    client: OAuthClient
    timeout: float
    clock: Clock
    no_refresh_hint: str = ""
    on_grant: Callable[[dict[str, Any]], None] | None = None
    refreshes: int = field(default=0, init=False)
    _refresh_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__init__()
        self.base_url = self.base_url.rstrip("/") if self.base_url else None

    async def request(
        self, method: str, path: str, *, before: Callable[[], Awaitable[None]] | None = None, **kwargs: Any
    ) -> Answer:
        """An authorised request to `base_url + path`; on 401 refresh once and repeat it.  `before` runs
        ahead of each attempt (a rate limiter)."""
        if self.access_token is None or self.base_url is None:
            await self.refresh(None)
        extra = kwargs.pop("headers", {})
        for first in (True, False):
            if before is not None:
                await before()
            token = self.access_token
            ans = await exchange(
                self.session,
                method,
                f"{self.base_url}{path}",
                within=self.timeout,
                headers={"Authorization": f"Bearer {token}", **extra},
                **kwargs,
            )
            if ans.status == 401 and first:
                await self.refresh(token)
                continue
            return ans
        raise AssertionError("unreachable")

    async def refresh(self, stale_token: str | None) -> None:
        """A new access token, unless another request replaced `stale_token` meanwhile."""
        async with self._refresh_lock:
            if self.access_token is not None and self.access_token != stale_token:
                return
            if not self.client.can_refresh():
                raise PermanentError(
                    "auth",
                    f"{self.service} needs a new access token and no OAuth refresh token is configured"
                    + self.no_refresh_hint,
                    http_status=401,
                )
            self._take_grant(await self._grant())
            self.refreshes += 1

    async def _grant(self) -> dict[str, Any]:
        """The token endpoint's answer to the refresh-token grant, checked."""
        form = self.client.grant_form()
        ans = await exchange(self.session, "POST", self.token_url, within=self.timeout, data=form)
        endpoint = f"{self.service} token endpoint"
        if ans.status in (400, 401):
            raise PermanentError(
                "auth",
                f"{self.service} refused the refresh token ({ans.status}): {oauth_error(ans)}",
                http_status=ans.status,
            )
        try:
            check_status(ans, endpoint, self.clock)
        except RetryableError as e:
            e.kind = "auth_refresh" if e.kind == "http_5xx" else e.kind
            raise
        data = ans.json(endpoint)
        if not isinstance(data, dict) or not isinstance(data.get("access_token"), str) or not data["access_token"]:
            raise ans.unexpected(f"{endpoint} answered without an access_token")
        return data

    def _take_grant(self, data: dict[str, Any]) -> None:
        self.access_token = data["access_token"]
        rotated = data.get("refresh_token")
        if isinstance(rotated, str) and rotated:
            self.client.refresh_token = rotated
        if self.on_grant is not None:
            self.on_grant(data)

    def rejected(self, ans: Answer, detail: str) -> None:
        """A 401 that outlived the refresh: the credentials are wrong, not stale (dead-letter)."""
        if ans.status == 401:
            raise PermanentError(
                "auth", f"{self.service} rejected the token after a refresh: {detail}", http_status=401
            )
