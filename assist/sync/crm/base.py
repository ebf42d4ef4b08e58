"""What every CRM adapter shares: the delivery contract, its errors, and one HTTP exchange.

An adapter's `deliver()` either returns `Delivered` or raises `RetryableError` (the outbox schedules
another attempt) or `PermanentError` (dead-letter).  `RetryableError.ambiguous` says the request may have
reached the CRM (timeout, dropped connection, 500/502/504, unreadable success body), so the next attempt
must first find out whether the record exists.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp

from assist.sync.backoff import parse_retry_after
from assist.sync.clock import Clock
from assist.sync.summary import Summary

USER_AGENT = "assist-sync/0.1"


@dataclass(frozen=True, slots=True)
class DeliveryItem:
    item_id: int
    target: str
    summary: Summary
    idempotency_key: str
    attempt: int
    remote_id: str | None = None
    ambiguous: bool = False

    @property
    def is_update(self) -> bool:
        return self.remote_id is not None or self.summary.version > 1


@dataclass(frozen=True, slots=True)
class Delivered:
    remote_id: str | None
    http_status: int
    kind: str  # created | updated | accepted | duplicate
    detail: str = ""


class DeliveryError(Exception):
    retryable = False

    def __init__(self, kind: str, detail: str, *, http_status: int | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.http_status = http_status


class RetryableError(DeliveryError):
    retryable = True

    def __init__(
        self,
        kind: str,
        detail: str,
        *,
        http_status: int | None = None,
        retry_after: float | None = None,
        ambiguous: bool = False,
        remote_id: str | None = None,
    ) -> None:
        super().__init__(kind, detail, http_status=http_status)
        self.retry_after = retry_after
        self.ambiguous = ambiguous
        self.remote_id = remote_id


class PermanentError(DeliveryError):
    pass


#: retryable kinds that say the target as a whole is unwell (they trip the circuit breaker)
TARGET_FAILURES = frozenset({"http_5xx", "timeout", "network", "rate_limited", "bad_response", "auth_refresh"})


class CrmAdapter(Protocol):
    name: str

    async def deliver(self, item: DeliveryItem) -> Delivered: ...

    async def lookup_account(self, account_id: str) -> dict[str, Any] | None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    url: str

    def text(self, limit: int = 300) -> str:
        return self.body[:limit].decode("utf-8", "replace").strip()

    def unexpected(self, detail: str, *, ambiguous: bool = False) -> RetryableError:
        """The error for an answer whose body is not what the API promises (retried: a proxy or a glitch)."""
        return RetryableError("bad_response", detail, http_status=self.status, ambiguous=ambiguous)

    def json(self, service: str, *, ambiguous: bool = False) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise self.unexpected(
                f"{service} answered {self.status} with a body that is not JSON: {self.text(120)!r}",
                ambiguous=ambiguous,
            ) from None

    def record(self, service: str, check: Callable[[Answer], None]) -> dict[str, Any] | None:
        """The answer to a read of one record: None when there is none (404), else its JSON object;
        `check` raises for the other failures."""
        if self.status == 404:
            return None
        check(self)
        data = self.json(service)
        if not isinstance(data, dict):
            raise self.unexpected(f"{service} answered {type(data).__name__}, not an object")
        return data


def host_of(url: str) -> str:
    return urlsplit(url).netloc or url


async def exchange(session: aiohttp.ClientSession, method: str, url: str, *, within: float, **kwargs: Any) -> Answer:
    """One HTTP request; transport failures become RetryableError (ambiguous once bytes may have left)."""
    try:
        async with session.request(method, url, timeout=aiohttp.ClientTimeout(total=within), **kwargs) as resp:
            body = await resp.read()
            return Answer(resp.status, {k.lower(): v for k, v in resp.headers.items()}, body, url)
    except TimeoutError:
        raise RetryableError(
            "timeout", f"{method} {host_of(url)}: no answer within {within:g} s", ambiguous=True
        ) from None
    except aiohttp.ClientConnectorError as e:
        raise RetryableError("network", f"{method} {host_of(url)}: cannot connect ({e.os_error or e})") from None
    except (aiohttp.ClientError, OSError) as e:
        raise RetryableError(
            "network",
            f"{method} {host_of(url)}: connection failed mid-request ({type(e).__name__}: {e})",
            ambiguous=True,
        ) from None


def check_status(ans: Answer, service: str, clock: Clock) -> None:
    """Map a non-2xx answer to the right error; return quietly on 2xx."""
    s = ans.status
    if 200 <= s < 300:
        return
    what = f"{service} answered {s}: {ans.text() or '(empty body)'}"
    if s == 429:
        raise RetryableError(
            "rate_limited",
            what,
            http_status=s,
            retry_after=parse_retry_after(ans.headers.get("retry-after"), clock.now()),
        )
    if s == 408:
        raise RetryableError("timeout", what, http_status=s)
    if s >= 500:
        raise RetryableError(
            "http_5xx",
            what,
            http_status=s,
            ambiguous=s in (500, 502, 504),
            retry_after=parse_retry_after(ans.headers.get("retry-after"), clock.now()),
        )
    if s == 401:
        raise PermanentError("auth", what, http_status=s)
    if s == 410:
        raise PermanentError("gone", what, http_status=s)
    raise PermanentError("http_4xx", what, http_status=s)


class HttpClient:
    """The adapters' HTTP session: opened on first use (and again after a close), with assist's User-Agent."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
            await asyncio.sleep(0)


# ------------------------------------------------------------------------------------------- text of a call


def _dt(value: datetime | None) -> str:
    return value.isoformat() if value else "-"


def describe(s: Summary) -> str:
    """The plain-text body CRMs store (Salesforce Description, HubSpot hs_call_body): the narrative first,
    then every field on its own line."""
    lines = [s.narrative, ""]
    lines.append(f"Outcome: {s.outcome}")
    if s.promise:
        cur = f" {s.promise.currency}" if s.promise.currency else ""
        lines.append(f"Promise: {s.promise.amount:.2f}{cur} on {s.promise.date.isoformat()}")
    if s.proposed_plan:
        p = s.proposed_plan
        lines.append(
            "Proposed plan: "
            + ", ".join(
                x
                for x in (
                    f"{p.instalments} instalments" if p.instalments else "",
                    f"{p.amount_each:.2f} each" if p.amount_each else "",
                    f"first {p.first_date.isoformat()}" if p.first_date else "",
                    p.note or "",
                )
                if x
            )
        )
    if s.willingness:
        lines.append(f"Willingness: {s.willingness}")
    if s.economic_situation:
        lines.append(f"Economic situation: {s.economic_situation}")
    if s.dispute:
        lines.append(f"Dispute: {s.dispute.kind or 'raised'}" + (f" - {s.dispute.detail}" if s.dispute.detail else ""))
    if s.contact_changes.new_numbers:
        lines.append("New contact numbers: " + ", ".join(s.contact_changes.new_numbers))
    for r in s.risk_flags:
        lines.append(f"Risk: {r.kind}" + (f" - {r.detail}" if r.detail else ""))
    if s.customer_flags:
        lines.append("Customer flags: " + ", ".join(s.customer_flags))
    if s.temperament:
        conf = f" ({s.temperament.confidence:.0%})" if s.temperament.confidence is not None else ""
        lines.append(f"Temperament: {s.temperament.label}{conf}")
    c = s.compliance
    lines.append(f"Compliance: {'passed' if c.passed else 'FAILED'}")
    if c.disclosures_made:
        lines.append("  Disclosures made: " + ", ".join(c.disclosures_made))
    if c.disclosures_missing:
        lines.append("  Disclosures missing: " + ", ".join(c.disclosures_missing))
    for v in c.violations:
        at = f"{v.at:.1f}s" if v.at is not None else "?"
        lines.append(f'  Violation at {at}: {v.rule or v.kind} "{v.quote}"')
    if c.call_time and (not c.call_time.allowed or c.call_time.warning):
        lines.append(
            f"  Call time: {'not allowed' if not c.call_time.allowed else 'warning'}"
            + (f" - {c.call_time.reason}" if c.call_time.reason else "")
        )
    if s.agent_notes:
        lines.append(f"Agent notes: {s.agent_notes}")
    lines.append(f"Duration: {s.duration_seconds:.0f} s; started {_dt(s.started_at)}; ended {_dt(s.ended_at)}")
    if s.transcript_url:
        lines.append(f"Transcript: {s.transcript_url}")
    if s.recording_url:
        lines.append(f"Recording: {s.recording_url}")
    lines.append(f"Summary {s.summary_id} v{s.version}")
    return "\n".join(lines)


SUBJECTS = {
    "zh-CN": {
        "promise_to_pay": "承诺还款",
        "refused": "拒绝还款",
        "dispute": "异议",
        "hardship": "经济困难",
        "wrong_party": "非本人",
        "callback": "约定回电",
        "no_commitment": "未承诺",
    },
    "en-US": {
        "promise_to_pay": "Promise to pay",
        "refused": "Refused",
        "dispute": "Dispute",
        "hardship": "Hardship",
        "wrong_party": "Wrong party",
        "callback": "Callback",
        "no_commitment": "No commitment",
    },
}


def subject(s: Summary) -> str:
    return ("催收通话：" if s.language == "zh-CN" else "Collection call: ") + SUBJECTS[s.language][s.outcome]
