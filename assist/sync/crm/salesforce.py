"""Salesforce target: the summary as a Task, upserted on an External ID field (Call_Key__c = call id).

PATCH /services/data/vXX.X/sobjects/Task/Call_Key__c/{call_id} creates the Task the first time (201) and
updates it afterwards (200/204), so a retried or re-sent request can never make a second Task; a later edit
is the same upsert.  An expired session (401 INVALID_SESSION_ID) is refreshed once with the OAuth
refresh-token grant (`OAuthSession`, shared with HubSpot).  REQUEST_LIMIT_EXCEEDED (403) and 5xx are
retried; other 4xx are dead-lettered with Salesforce's errorCode and message.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from assist.sync.clock import Clock, SystemClock
from assist.sync.crm.base import (
    Answer,
    Delivered,
    DeliveryItem,
    PermanentError,
    RetryableError,
    check_status,
    describe,
    subject,
)
from assist.sync.crm.oauth import OAuthClient, OAuthSession, oauth_error
from assist.sync.summary import Summary

_SF_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
SERVICE = "Salesforce"


def task_fields(s: Summary, *, create: bool) -> dict[str, Any]:
    """Task fields for a call (with the Call Center fields CallType, CallDurationInSeconds, CallObject…)."""
    when = s.ended_at or s.started_at
    what_id = s.crm_refs.get("salesforce_what_id")
    if what_id is None and s.account_id and _SF_ID.match(s.account_id):
        what_id = s.account_id
    fields: dict[str, Any] = {
        "Subject": subject(s)[:255],
        "Status": "Completed",
        "CallType": {"inbound": "Inbound", "outbound": "Outbound"}.get(s.direction or ""),
        "CallDurationInSeconds": round(s.duration_seconds),
        "CallObject": s.call_id[:255],
        "CallDisposition": s.outcome,
        "Description": describe(s)[:32000],
        "ActivityDate": when.date().isoformat() if when else None,
        "WhoId": s.crm_refs.get("salesforce_who_id"),
        "WhatId": what_id,
        "OwnerId": s.crm_refs.get("salesforce_owner_id"),
    }
    if create:
        fields["TaskSubtype"] = "Call"  # set on create only: it cannot be changed afterwards
    return {k: v for k, v in fields.items() if v is not None}


def _errors(ans: Answer) -> str:
    """Salesforce errors are [{"message", "errorCode", "fields"}]."""
    try:
        data = json.loads(ans.body)
    except ValueError:
        return ans.text()
    if isinstance(data, list):
        return "; ".join(f"{e.get('errorCode', '?')}: {e.get('message', '')}" for e in data if isinstance(e, dict))
    return oauth_error(ans)


class SalesforceAdapter:
    name = "salesforce"

    def __init__(
        self,
        *,
        instance_url: str | None,
        login_url: str,
        api_version: str = "v62.0",
        client_id: str | None = None,
        client_secret: str | None = None,
        refresh_token: str | None = None,
        access_token: str | None = None,
        external_id_field: str = "Call_Key__c",
        account_fields: list[str] | None = None,
        timeout: float = 10.0,
        clock: Clock | None = None,
    ) -> None:
        self.api_version = api_version
        self.external_id_field = external_id_field
        self.account_fields = account_fields or ["Id", "Name"]
        self.clock = clock or SystemClock()
        self.oauth = OAuthSession(
            service=SERVICE,
            base_url=instance_url,
            token_url=f"{login_url.rstrip('/')}/services/oauth2/token",
            access_token=access_token,
            client=OAuthClient(client_id, client_secret, refresh_token),
            timeout=timeout,
            clock=self.clock,
            on_grant=self._on_grant,
        )

    def _on_grant(self, data: dict[str, Any]) -> None:
        """A Salesforce grant names the org's instance: requests go there from now on."""
        url = data.get("instance_url")
        if isinstance(url, str) and url:
            self.oauth.base_url = url.rstrip("/")

    # ------------------------------------------------------------------------------------------- calls

    def _base(self) -> str:
        return f"/services/data/{self.api_version}/sobjects"

    async def deliver(self, item: DeliveryItem) -> Delivered:
        s = item.summary
        create = not item.is_update and not item.ambiguous
        path = f"{self._base()}/Task/{self.external_id_field}/{quote(s.record_key, safe='')}"
        ans = await self.oauth.request("PATCH", path, json=task_fields(s, create=create))
        self._check(ans)
        if ans.status == 204:  # older API versions: updated, no body
            return Delivered(item.remote_id, 204, "updated")
        data = ans.json(SERVICE, ambiguous=True)
        rid = data.get("id") if isinstance(data, dict) else None
        if not isinstance(rid, str) or not rid:
            raise ans.unexpected(
                f"Salesforce answered {ans.status} without a record id: {ans.text(120)!r}", ambiguous=True
            )
        if isinstance(data, dict) and data.get("success") is False:
            raise PermanentError(
                "http_4xx", f"Salesforce reported failure: {data.get('errors')}", http_status=ans.status
            )
        created = ans.status == 201 or (isinstance(data, dict) and data.get("created") is True)
        return Delivered(rid, ans.status, "created" if created else "updated")

    def _check(self, ans: Answer) -> None:
        if 200 <= ans.status < 300:
            return
        detail = _errors(ans)
        if ans.status == 300:
            raise PermanentError("http_4xx", f"several Tasks share {self.external_id_field}: {detail}", http_status=300)
        self.oauth.rejected(ans, detail)
        if ans.status == 403 and "REQUEST_LIMIT_EXCEEDED" in detail:
            raise RetryableError("rate_limited", f"Salesforce API limit: {detail}", http_status=403, retry_after=300.0)
        if 400 <= ans.status < 500 and ans.status not in (408, 429):
            raise PermanentError("http_4xx", f"Salesforce answered {ans.status}: {detail}", http_status=ans.status)
        check_status(ans, SERVICE, self.clock)

    async def lookup_account(self, account_id: str) -> dict[str, Any] | None:
        fields = ",".join(self.account_fields)
        ans = await self.oauth.request(
            "GET", f"{self._base()}/Account/{quote(account_id, safe='')}", params={"fields": fields}
        )
        data = ans.record(SERVICE, self._check)
        return None if data is None else {k: v for k, v in data.items() if k != "attributes"}

    async def close(self) -> None:
        await self.oauth.close()
