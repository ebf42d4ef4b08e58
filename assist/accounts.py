"""Debtor accounts and their contact history: the models the coach, the store, the CRM sync and the API share.

An account carries the amounts (principal, interest, penalty, total due), how late it is (overdue
days, stage M1/M2/M3…), the due date, the debtor's time zone, earlier promises and earlier contacts.
Naive timestamps in `contacts` are read in the account's time zone (or the `default_tz` given).
`ContactHistory` is the dialling log of one account (what the dial check reads, what the store keeps).
Loaders read account files (CSV, JSON, JSON Lines).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Channel = Literal["human", "robot"]

_CONTACT_ALIASES = ("history", "contact_history", "previous_contacts", "contact_attempts")


class AccountError(ValueError):
    """An account file or record is invalid; the message names the record and the field."""


class PromiseRecord(BaseModel):
    """An earlier promise to pay."""

    model_config = ConfigDict(extra="allow")

    date: dt.date | None = None
    amount: float | None = None
    kept: bool | None = None
    made_at: dt.datetime | dt.date | None = None
    note: str | None = None


class ContactRecord(BaseModel):
    """An earlier contact attempt (a dial, connected or not)."""

    model_config = ConfigDict(extra="allow")

    at: datetime
    connected: bool = True
    channel: Channel = "human"
    conversation: bool | None = Field(None, description="a conversation about the debt (default: connected)")
    call_id: str | None = None
    outcome: str | None = None
    note: str | None = None

    @field_validator("channel", mode="before")
    @classmethod
    def _channel(cls, v: Any) -> Any:
        if isinstance(v, str):
            low = v.strip().lower()
            if low in ("robot", "bot", "ivr", "ai", "intelligent_voice", "auto", "机器人"):
                return "robot"
            if low in ("human", "agent", "manual", "人工"):
                return "human"
        return v


class Account(BaseModel):
    """One debtor account.  Unknown fields are kept (extra="allow") so nothing imported is lost."""

    model_config = ConfigDict(extra="allow")

    id: str
    name: str = ""
    principal: float = 0.0
    interest: float = 0.0
    penalty: float = 0.0
    total_due: float = 0.0
    overdue_days: int = 0
    stage: str | None = None
    due_date: date | None = None
    currency: str | None = None
    timezone: str | None = None
    phone: str | None = None
    creditor: str | None = None
    product: str | None = None
    previous_promises: list[PromiseRecord] = Field(default_factory=list)
    contacts: list[ContactRecord] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "id" not in data:
            for k in ("account_id", "account", "acct_id"):
                if k in data:
                    data["id"] = data.pop(k)
                    break
        # digits written as a JSON number are the id's text; any other type (a list, an object, a boolean,
        # a fraction) is left for validation to refuse, naming the field, rather than stored as its repr
        if isinstance(data.get("id"), int) and not isinstance(data["id"], bool):
            data["id"] = str(data["id"])
        if isinstance(data.get("phone"), int):  # digits written as a JSON number
            data["phone"] = str(data["phone"])
        contacts = list(data.get("contacts") or [])
        for k in _CONTACT_ALIASES:
            extra = data.pop(k, None)
            if isinstance(extra, list):
                contacts.extend(extra)
        if contacts:
            data["contacts"] = contacts
        if "previous_promises" not in data and isinstance(data.get("promises"), list):
            data["previous_promises"] = data.pop("promises")
        for k in ("principal", "interest", "penalty", "total_due"):
            if data.get(k) in ("", None):
                data.pop(k, None)
        return data

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        if v:
            try:
                ZoneInfo(v)
            except (ZoneInfoNotFoundError, ValueError) as e:
                raise ValueError(f"unknown time zone {v!r}") from e
        return v or None

    @model_validator(mode="after")
    def _derive(self) -> Account:
        if not self.total_due:
            self.total_due = round(self.principal + self.interest + self.penalty, 2)
        if not self.stage and self.overdue_days > 0:
            self.stage = stage_for(self.overdue_days)
        if self.timezone:
            tz = ZoneInfo(self.timezone)
            for c in self.contacts:
                if c.at.tzinfo is None:
                    c.at = c.at.replace(tzinfo=tz)
        return self

    def localize(self, default_tz: str) -> Account:
        """Give naive contact timestamps `default_tz` (the debtor's likeliest zone) when the account has none."""
        tz = ZoneInfo(self.timezone or default_tz)
        for c in self.contacts:
            if c.at.tzinfo is None:
                c.at = c.at.replace(tzinfo=tz)
        return self

    @property
    def broken_promises(self) -> int:
        return sum(1 for p in self.previous_promises if p.kept is False)


def stage_for(overdue_days: int) -> str:
    """M1 = 1-30 days overdue, M2 = 31-60, … M6+ beyond 150 days."""
    if overdue_days <= 0:
        return "M0"
    m = (overdue_days - 1) // 30 + 1
    return f"M{m}" if m <= 6 else "M6+"


def parse_account(data: dict[str, Any], where: str = "account") -> Account:
    try:
        return Account.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in err['loc']) or '(record)'}: {err['msg']}" for err in e.errors()[:6]
        )
        raise AccountError(f"{where}: {problems}") from None


_JSON_CELLS = ("previous_promises", "contacts", *_CONTACT_ALIASES)


def _csv_row(row: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if k is None:
            raise AccountError(f"{where}: more cells than header columns")
        key = k.strip()
        val = v.strip() if isinstance(v, str) else v
        if val in ("", None):
            continue
        if key in _JSON_CELLS:
            try:
                val = json.loads(val)
            except json.JSONDecodeError as e:
                raise AccountError(f"{where}: column {key!r} must hold a JSON list: {e.msg}") from None
        out[key] = val
    return out


def load_accounts(path: Path | str) -> list[Account]:
    """Accounts from a CSV file (one per row, header row required; `previous_promises`/`contacts` cells
    hold JSON lists) or a JSON file (a list of objects, or {"accounts": [...]}, or JSON Lines)."""
    p = Path(path)
    if not p.is_file():
        raise AccountError(f"{p}: no such file")
    text = p.read_text(encoding="utf-8-sig")
    suffix = p.suffix.lower()
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames or "id" not in [f.strip() for f in reader.fieldnames]:
            raise AccountError(f"{p}: the CSV header must include an 'id' column")
        return [parse_account(_csv_row(row, f"{p} row {i}"), f"{p} row {i}") for i, row in enumerate(reader, start=2)]
    if suffix in (".json", ".jsonl", ".ndjson"):
        records: list[Any]
        if suffix == ".json":
            try:
                data = json.loads(text)
            except json.JSONDecodeError as e:
                raise AccountError(f"{p}: not valid JSON: {e.msg} at line {e.lineno}") from None
            if isinstance(data, dict) and isinstance(data.get("accounts"), list):
                records = data["accounts"]
            elif isinstance(data, list):
                records = data
            elif isinstance(data, dict):
                records = [data]
            else:
                raise AccountError(f"{p}: expected a list of accounts")
        else:
            records = []
            for n, line in enumerate(text.splitlines(), start=1):
                if line.strip():
                    try:
                        records.append(json.loads(line))
                    except json.JSONDecodeError as e:
                        raise AccountError(f"{p} line {n}: not valid JSON: {e.msg}") from None
        out = []
        for i, rec in enumerate(records):
            if not isinstance(rec, dict):
                raise AccountError(f"{p} record {i}: expected an object, got {type(rec).__name__}")
            out.append(parse_account(rec, f"{p} record {i}"))
        return out
    raise AccountError(f"{p}: unsupported account file type {suffix!r} (use .csv, .json or .jsonl)")


class ContactAttempt(BaseModel):
    """One dial of an account, connected or not."""

    at: datetime
    connected: bool = False
    channel: Channel = "human"
    call_id: str | None = None
    conversation: bool | None = Field(None, description="a conversation about the debt; default: connected")

    @property
    def talked(self) -> bool:
        return self.connected if self.conversation is None else self.conversation


class ContactHistory(BaseModel):
    """Earlier contact attempts for one account (any order)."""

    account_id: str | None = None
    attempts: list[ContactAttempt] = Field(default_factory=list)

    @classmethod
    def from_account(cls, account: Account, default_tz: str) -> ContactHistory:
        tz = ZoneInfo(account.timezone or default_tz)
        return cls(
            account_id=account.id,
            attempts=[
                ContactAttempt(
                    at=c.at if c.at.tzinfo else c.at.replace(tzinfo=tz),
                    connected=c.connected,
                    channel=c.channel,
                    call_id=c.call_id,
                    conversation=c.conversation,
                )
                for c in account.contacts
            ],
        )

    def before(self, now: datetime, exclude_call: str | None = None) -> ContactHistory:
        return ContactHistory(
            account_id=self.account_id,
            attempts=[a for a in self.attempts if a.at < now and (exclude_call is None or a.call_id != exclude_call)],
        )
