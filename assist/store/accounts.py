"""Debtor accounts and the contact-attempt log (the dialling history the dial check reads).

Tables: `accounts` (one JSON document per account, so imported fields are never lost) and
`contact_attempts` (account_id, at, connected, channel human|robot, call_id).  Timestamps are stored
as UTC ISO-8601 so they sort and compare as text.  The tables are created by assist.store.schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from assist.accounts import Account, Channel, ContactAttempt, ContactHistory, load_accounts, parse_account
from assist.store.db import Database


def _utc(dt: datetime) -> str:
    if dt.tzinfo is None:
        raise ValueError("contact attempt times must be timezone-aware")
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


def _now_iso() -> str:
    """The current UTC time as '2026-11-25T08:00:00.123Z' (milliseconds; sorts as text)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class AccountStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ accounts

    async def upsert(self, account: Account) -> None:
        await self.db.execute(
            """INSERT INTO accounts(account_id, name, phone, total_due, overdue_days, body, updated_at)
               VALUES (?,?,?,?,?,?,?)
               ON CONFLICT(account_id) DO UPDATE SET name=excluded.name, phone=excluded.phone,
                 total_due=excluded.total_due, overdue_days=excluded.overdue_days, body=excluded.body,
                 updated_at=excluded.updated_at""",
            (
                account.id,
                account.name,
                account.phone,
                account.total_due,
                account.overdue_days,
                account.model_dump_json(),
                _now_iso(),
            ),
        )

    async def upsert_many(self, accounts: Iterable[Account]) -> int:
        n = 0
        now = _now_iso()
        async with self.db.transaction() as tx:
            for a in accounts:
                await tx.execute(
                    """INSERT INTO accounts(account_id, name, phone, total_due, overdue_days, body, updated_at)
                       VALUES (?,?,?,?,?,?,?)
                       ON CONFLICT(account_id) DO UPDATE SET name=excluded.name, phone=excluded.phone,
                         total_due=excluded.total_due, overdue_days=excluded.overdue_days, body=excluded.body,
                         updated_at=excluded.updated_at""",
                    (a.id, a.name, a.phone, a.total_due, a.overdue_days, a.model_dump_json(), now),
                )
                n += 1
        return n

    async def import_file(self, path: Path | str) -> int:
        """Load accounts from CSV/JSON (see assist.accounts.load_accounts) and upsert them all, or none
        when a record is invalid (the AccountError names it)."""
        return await self.upsert_many(load_accounts(path))

    async def import_accounts(self, path: Path | str) -> int:
        """Alias of `import_file`."""
        return await self.import_file(path)

    async def get(self, account_id: str) -> Account | None:
        row = await self.db.fetchone("SELECT body FROM accounts WHERE account_id=?", (account_id,))
        return parse_account(json.loads(row["body"]), f"stored account {account_id}") if row else None

    async def by_phone(self, phone: str) -> Account | None:
        row = await self.db.fetchone(
            "SELECT body FROM accounts WHERE phone=? ORDER BY updated_at DESC LIMIT 1", (phone,)
        )
        return parse_account(json.loads(row["body"]), f"stored account for {phone}") if row else None

    async def list(self, limit: int = 100, offset: int = 0) -> list[Account]:
        rows = await self.db.fetchall("SELECT body FROM accounts ORDER BY account_id LIMIT ? OFFSET ?", (limit, offset))
        return [parse_account(json.loads(r["body"]), "stored account") for r in rows]

    # ------------------------------------------------------------------ contact attempts

    async def record_attempt(
        self, account_id: str, at: datetime, *, connected: bool, channel: Channel = "human", call_id: str | None = None
    ) -> None:
        """Log one dial (connected or not).  Recording the same call twice updates it."""
        if channel not in ("human", "robot"):
            raise ValueError(f"channel must be 'human' or 'robot', got {channel!r}")
        if call_id is not None:
            await self.db.execute(
                """INSERT INTO contact_attempts(account_id, at, connected, channel, call_id) VALUES (?,?,?,?,?)
                   ON CONFLICT(account_id, call_id) WHERE call_id IS NOT NULL
                   DO UPDATE SET at=excluded.at, connected=excluded.connected, channel=excluded.channel""",
                (account_id, _utc(at), int(connected), channel, call_id),
            )
        else:
            await self.db.execute(
                "INSERT INTO contact_attempts(account_id, at, connected, channel, call_id) VALUES (?,?,?,?,NULL)",
                (account_id, _utc(at), int(connected), channel),
            )

    async def history(self, account_id: str, since: datetime) -> ContactHistory:
        """Attempts for `account_id` at or after `since` (aware), oldest first."""
        rows = await self.db.fetchall(
            "SELECT at, connected, channel, call_id FROM contact_attempts WHERE account_id=? AND at>=? ORDER BY at",
            (account_id, _utc(since)),
        )
        return ContactHistory(
            account_id=account_id,
            attempts=[
                ContactAttempt(
                    at=datetime.fromisoformat(r["at"]),
                    connected=bool(r["connected"]),
                    channel=r["channel"],
                    call_id=r["call_id"],
                )
                for r in rows
            ],
        )
