"""Configuration of CRM delivery: environment variables `ASSIST_SYNC_*` (lists may be comma-separated).

Kept apart from `assist.settings.Settings` so the sync package can be configured and tested on its own;
`SyncSettings()` reads the environment, or the service core passes explicit values.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

TARGET_KINDS = ("webhook", "salesforce", "hubspot")


class SyncSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASSIST_SYNC_", extra="ignore")

    targets: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="CRM targets every summary goes to: webhook, salesforce, hubspot"
    )
    account_source: str | None = Field(None, description="which target answers account lookups at call start")

    # timing
    deadline_minutes: float = Field(120.0, gt=0, description="a summary must reach the CRM this long after call end")
    grace_minutes: float = Field(10.0, ge=0, description="wait this long for the agent's submit before auto-posting")
    alert_minutes: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [60.0, 20.0], description="alert supervisors when this much time is left"
    )
    backoff_base: float = Field(5.0, gt=0, description="seconds; retry n waits random(0, min(cap, base*2^n))")
    backoff_cap: float = Field(600.0, gt=0)
    safety_margin_minutes: float = Field(15.0, ge=0, description="one last attempt is scheduled this long before due")
    retry_after_max: float = Field(3600.0, gt=0, description="a CRM's Retry-After is honoured up to this many seconds")
    circuit_failures: int = Field(3, ge=1, description="consecutive failures that pause a whole target")
    lease_seconds: float = Field(60.0, gt=0)
    batch: int = Field(20, ge=1)
    concurrency: int = Field(8, ge=1)
    poll_seconds: float = Field(1.0, gt=0)
    http_timeout: float = Field(10.0, gt=0)
    worker_id: str | None = Field(None, description="stable id of this node's worker; default: host name")
    public_url: str | None = Field(None, description="base URL of assist, for transcript/recording links")

    # generic webhook (Standard Webhooks signature)
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = Field(None, description="'whsec_<base64>' or any string")
    webhook_account_url: str | None = Field(
        None, description="GET template for lookups, e.g. https://x/acc/{account_id}"
    )

    # Salesforce
    salesforce_instance_url: str | None = None
    salesforce_login_url: str = "https://login.salesforce.com"
    salesforce_api_version: str = "v62.0"
    salesforce_client_id: str | None = None
    salesforce_client_secret: SecretStr | None = None
    salesforce_refresh_token: SecretStr | None = None
    salesforce_access_token: SecretStr | None = None
    salesforce_external_id_field: str = "Call_Key__c"
    salesforce_account_fields: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["Id", "Name", "AccountNumber", "Phone", "Description"]
    )

    # HubSpot
    hubspot_base_url: str = "https://api.hubapi.com"
    hubspot_access_token: SecretStr | None = None
    hubspot_refresh_token: SecretStr | None = None
    hubspot_client_id: str | None = None
    hubspot_client_secret: SecretStr | None = None
    hubspot_unique_property: str = Field("assist_call_key", description="custom call property with unique values")
    hubspot_rate_per_second: float = Field(15.0, gt=0, description="client-side token bucket (burst limit 190/10 s)")
    hubspot_search_rate_per_second: float = Field(4.0, gt=0)
    hubspot_contact_properties: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["firstname", "lastname", "phone", "email", "hs_object_id"]
    )

    # account lookup
    account_timeout: float = Field(1.5, gt=0, description="seconds a call start waits for the CRM at most")
    account_cache_seconds: float = Field(300.0, ge=0)

    @field_validator(
        "targets", "alert_minutes", "salesforce_account_fields", "hubspot_contact_properties", mode="before"
    )
    @classmethod
    def _split(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = v.strip()
            if v.startswith("["):
                import json

                return json.loads(v)
            return [p.strip() for p in v.split(",") if p.strip()]
        return v

    @field_validator(
        "account_source",
        "webhook_url",
        "salesforce_instance_url",
        "public_url",
        "webhook_account_url",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, v: Any) -> Any:
        return None if v == "" else v

    @model_validator(mode="after")
    def _check(self) -> SyncSettings:
        for t in self.targets:
            if t not in TARGET_KINDS:
                raise ValueError(f"ASSIST_SYNC_TARGETS: unknown target {t!r} (known: {', '.join(TARGET_KINDS)})")
        if len(set(self.targets)) != len(self.targets):
            raise ValueError("ASSIST_SYNC_TARGETS: a target is listed twice")
        if "webhook" in self.targets and not (self.webhook_url and self.webhook_secret):
            raise ValueError("target webhook needs ASSIST_SYNC_WEBHOOK_URL and ASSIST_SYNC_WEBHOOK_SECRET")
        if "salesforce" in self.targets:
            has_token = self.salesforce_access_token is not None and self.salesforce_instance_url
            can_refresh = self.salesforce_refresh_token is not None and self.salesforce_client_id
            if not (has_token or can_refresh):
                raise ValueError(
                    "target salesforce needs ASSIST_SYNC_SALESFORCE_ACCESS_TOKEN + _INSTANCE_URL, or "
                    "_REFRESH_TOKEN + _CLIENT_ID (+ _CLIENT_SECRET) to obtain one"
                )
        if "hubspot" in self.targets and not (self.hubspot_access_token or self.hubspot_refresh_token):
            raise ValueError("target hubspot needs ASSIST_SYNC_HUBSPOT_ACCESS_TOKEN (private app) or _REFRESH_TOKEN")
        if self.account_source is not None and self.account_source not in TARGET_KINDS:
            raise ValueError(f"ASSIST_SYNC_ACCOUNT_SOURCE: unknown target {self.account_source!r}")
        if any(m <= 0 for m in self.alert_minutes):
            raise ValueError("ASSIST_SYNC_ALERT_MINUTES: thresholds must be positive minutes")
        return self

    @property
    def deadline_seconds(self) -> float:
        return self.deadline_minutes * 60

    @property
    def grace_seconds(self) -> float:
        return self.grace_minutes * 60
