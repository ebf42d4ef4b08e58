"""CRM adapters (webhook, Salesforce, HubSpot), chosen by `SyncSettings.targets`."""

from __future__ import annotations

from assist.sync.clock import Clock
from assist.sync.crm.base import CrmAdapter
from assist.sync.crm.hubspot import HubSpotAdapter
from assist.sync.crm.salesforce import SalesforceAdapter
from assist.sync.crm.webhook import WebhookAdapter
from assist.sync.settings import SyncSettings


def _secret(v: object) -> str | None:
    get = getattr(v, "get_secret_value", None)
    return get() if get else None


def build_adapter(kind: str, s: SyncSettings, clock: Clock | None = None) -> CrmAdapter:
    if kind == "webhook":
        if not s.webhook_url or s.webhook_secret is None:
            raise ValueError("webhook target needs a URL and a secret")
        return WebhookAdapter(
            s.webhook_url,
            s.webhook_secret.get_secret_value(),
            timeout=s.http_timeout,
            account_url=s.webhook_account_url,
            clock=clock,
        )
    if kind == "salesforce":
        return SalesforceAdapter(
            instance_url=s.salesforce_instance_url,
            login_url=s.salesforce_login_url,
            api_version=s.salesforce_api_version,
            client_id=s.salesforce_client_id,
            client_secret=_secret(s.salesforce_client_secret),
            refresh_token=_secret(s.salesforce_refresh_token),
            access_token=_secret(s.salesforce_access_token),
            external_id_field=s.salesforce_external_id_field,
            account_fields=s.salesforce_account_fields,
            timeout=s.http_timeout,
            clock=clock,
        )
    if kind == "hubspot":
        return HubSpotAdapter(
            base_url=s.hubspot_base_url,
            access_token=_secret(s.hubspot_access_token),
            refresh_token=_secret(s.hubspot_refresh_token),
            client_id=s.hubspot_client_id,
            client_secret=_secret(s.hubspot_client_secret),
            unique_property=s.hubspot_unique_property,
            rate_per_second=s.hubspot_rate_per_second,
            search_rate_per_second=s.hubspot_search_rate_per_second,
            contact_properties=s.hubspot_contact_properties,
            timeout=s.http_timeout,
            clock=clock,
        )
    raise ValueError(f"unknown CRM target {kind!r}")


def build_adapters(s: SyncSettings, clock: Clock | None = None) -> dict[str, CrmAdapter]:
    """One adapter per configured target (plus the account source, if it is not a target)."""
    kinds = list(s.targets)
    if s.account_source and s.account_source not in kinds:
        kinds.append(s.account_source)
    return {k: build_adapter(k, s, clock) for k in kinds}


__all__ = [
    "CrmAdapter",
    "HubSpotAdapter",
    "SalesforceAdapter",
    "WebhookAdapter",
    "build_adapter",
    "build_adapters",
]
