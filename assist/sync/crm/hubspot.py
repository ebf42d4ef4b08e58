"""HubSpot target: the summary as an engagement of the CRM v3 calls object, associated to the contact.

Create: POST /crm/v3/objects/calls {properties, associations (call→contact, typeId 194)}; the returned id is
kept in the outbox row and later edits PATCH /crm/v3/objects/calls/{id}.  HubSpot has no idempotency header,
so a custom call property with unique values (`assist_call_key` = call id) is set on every create; after an
ambiguous failure (timeout, dropped connection, unreadable answer) the next attempt searches for that
property before creating, and a 409 on create (the value exists) is resolved by searching too.  Requests
pass a client-side token bucket (search has its own, lower one).  With an OAuth app, a 401 is answered by
one refresh-token grant (`OAuthSession`, shared with Salesforce); a private-app token cannot be refreshed,
so its 401 is dead-lettered.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from assist.sync.clock import Clock, SystemClock
from assist.sync.crm.base import Answer, Delivered, DeliveryItem, RetryableError, check_status, describe, subject
from assist.sync.crm.oauth import OAuthClient, OAuthSession
from assist.sync.crm.ratelimit import TokenBucket
from assist.sync.summary import Summary

SERVICE = "HubSpot"
CALL_TO_CONTACT = 194
_EXISTING_ID = re.compile(r"Existing ID:\s*(\d+)")


def call_properties(s: Summary, unique_property: str) -> dict[str, str]:
    when = s.ended_at or s.started_at or s.created_at
    props: dict[str, str | None] = {
        "hs_timestamp": str(int(when.timestamp() * 1000)),
        "hs_call_title": subject(s),
        "hs_call_body": describe(s)[:65000],
        "hs_call_direction": {"inbound": "INBOUND", "outbound": "OUTBOUND"}.get(s.direction or ""),
        "hs_call_duration": str(round(s.duration_seconds * 1000)),
        "hs_call_status": "COMPLETED",
        "hs_call_recording_url": s.recording_url,
        "hubspot_owner_id": s.crm_refs.get("hubspot_owner_id"),
        unique_property: s.record_key,
    }
    if s.customer_phone:
        props["hs_call_to_number" if s.direction != "inbound" else "hs_call_from_number"] = s.customer_phone
    return {k: v for k, v in props.items() if v is not None}


def contact_id(s: Summary) -> str | None:
    ref = s.crm_refs.get("hubspot_contact_id")
    if ref:
        return ref
    return s.account_id if s.account_id and s.account_id.isdigit() else None


class HubSpotAdapter:
    name = "hubspot"

    def __init__(
        self,
        *,
        base_url: str,
        access_token: str | None,
        refresh_token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        unique_property: str = "assist_call_key",
        rate_per_second: float = 15.0,
        search_rate_per_second: float = 4.0,
        contact_properties: list[str] | None = None,
        timeout: float = 10.0,
        clock: Clock | None = None,
    ) -> None:
        self.unique_property = unique_property
        self.bucket = TokenBucket(rate_per_second)
        self.search_bucket = TokenBucket(search_rate_per_second)
        self.contact_properties = contact_properties or ["firstname", "lastname", "phone"]
        self.clock = clock or SystemClock()
        self.oauth = OAuthSession(
            service=SERVICE,
            base_url=base_url,
            token_url=f"{base_url.rstrip('/')}/oauth/v1/token",
            access_token=access_token,
            client=OAuthClient(client_id, client_secret, refresh_token, secret_required=True),
            timeout=timeout,
            clock=self.clock,
            no_refresh_hint=" (a private-app token must be replaced by hand)",
        )
        self.searches = 0

    async def _call(self, method: str, path: str, *, search: bool = False, **kwargs: Any) -> Answer:
        """An authorised request that waits for its token bucket (search has its own) before each attempt."""
        bucket = self.search_bucket if search else self.bucket
        return await self.oauth.request(method, path, before=bucket.acquire, **kwargs)

    def _check(self, ans: Answer) -> None:
        self.oauth.rejected(ans, ans.text())
        check_status(ans, SERVICE, self.clock)

    async def find(self, record_key: str) -> str | None:
        """The id of the call carrying our unique property, if HubSpot has one."""
        self.searches += 1
        body = {
            "filterGroups": [
                {"filters": [{"propertyName": self.unique_property, "operator": "EQ", "value": record_key}]}
            ],
            "properties": [self.unique_property],
            "limit": 2,
        }
        ans = await self._call("POST", "/crm/v3/objects/calls/search", search=True, json=body)
        self._check(ans)
        data = ans.json(SERVICE)
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, list):
            raise ans.unexpected(f"HubSpot search answer has no results list: {ans.text(120)!r}")
        for r in results:
            if isinstance(r, dict) and isinstance(r.get("id"), str | int):
                return str(r["id"])
        return None

    async def _update(self, rid: str, props: dict[str, str]) -> Answer:
        return await self._call("PATCH", f"/crm/v3/objects/calls/{quote(rid, safe='')}", json={"properties": props})

    async def deliver(self, item: DeliveryItem) -> Delivered:
        s = item.summary
        props = call_properties(s, self.unique_property)
        rid = item.remote_id
        if rid is None and item.ambiguous:
            rid = await self.find(s.record_key)
        if rid is not None:
            ans = await self._update(rid, props)
            if ans.status != 404:  # 404: deleted in HubSpot; create it again
                self._check(ans)
                return Delivered(rid, ans.status, "updated")
        payload: dict[str, Any] = {"properties": props}
        contact = contact_id(s)
        if contact:
            payload["associations"] = [
                {
                    "to": {"id": contact},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": CALL_TO_CONTACT}],
                }
            ]
        ans = await self._call("POST", "/crm/v3/objects/calls", json=payload)
        if ans.status == 409:
            return await self._resolve_conflict(ans, s, props)
        self._check(ans)
        data = ans.json(SERVICE, ambiguous=True)
        new_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(new_id, str | int) or isinstance(new_id, bool) or str(new_id) == "":
            raise ans.unexpected(f"HubSpot answered {ans.status} without a call id: {ans.text(120)!r}", ambiguous=True)
        return Delivered(str(new_id), ans.status, "created")

    async def _resolve_conflict(self, ans: Answer, s: Summary, props: dict[str, str]) -> Delivered:
        """Create said our unique key exists: an earlier ambiguous attempt created it: update it."""
        m = _EXISTING_ID.search(ans.text(2000))
        rid = m.group(1) if m else await self.find(s.record_key)
        if rid is None:  # search index lags behind writes: look again on the next attempt
            raise RetryableError(
                "conflict",
                f"HubSpot says {self.unique_property}={s.record_key} exists but search does not find it yet",
                http_status=409,
                ambiguous=True,
            )
        upd = await self._update(rid, props)
        self._check(upd)
        return Delivered(rid, upd.status, "updated", "existing call found after a conflict")

    async def lookup_account(self, account_id: str) -> dict[str, Any] | None:
        ans = await self._call(
            "GET",
            f"/crm/v3/objects/contacts/{quote(account_id, safe='')}",
            params={"properties": ",".join(self.contact_properties)},
        )
        data = ans.record(SERVICE, self._check)
        if data is None:
            return None
        props = data.get("properties")
        if not isinstance(props, dict):
            raise ans.unexpected(f"HubSpot contact has no properties object: {ans.text(120)!r}")
        return {"id": str(data.get("id", account_id)), **props}

    async def close(self) -> None:
        await self.oauth.close()
