"""The store's schema: every table exists after `Database.open()`, whatever was imported, and a database made
by the earlier store (tables registered by import side effect) opens and migrates without losing anything."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from assist.store.accounts import AccountStore
from assist.store.calls import CallStore
from assist.store.db import Database, open_database
from assist.store.outbox import OutboxStore
from assist.store.schema import MIGRATIONS, migrate, migrations_for
from assist.store.users import UserStore
from assist.sync.finalize import get_summary

OLD_DB = Path(__file__).parent / "data" / "store" / "e474041_worker_db.sql"
TABLES = {
    "calls",
    "segments",
    "prompts",
    "summaries",
    "outbox",
    "outbox_attempts",
    "accounts",
    "contact_attempts",
    "users",
    "user_sessions",
    "ui_secrets",
    "supervisor_messages",
    "alert_acks",
}


def _schema(path: Path) -> dict[str, str]:
    """name -> CREATE statement with whitespace collapsed (sqlite keeps each statement's text as written)."""
    with sqlite3.connect(path) as con:
        rows = con.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name != 'schema_migrations'")
        return {name: re.sub(r"\s+", " ", sql).replace("( ", "(").replace(" )", ")") for name, sql in rows}


def _applied(path: Path) -> list[str]:
    with sqlite3.connect(path) as con:
        return [r[0] for r in con.execute("SELECT name FROM schema_migrations ORDER BY rowid")]


def test_open_creates_every_table_without_importing_the_store_modules(tmp_path: Path) -> None:
    # a fresh interpreter that imports only the database module: nothing registered by side effect
    script = (
        "import asyncio, sys\nfrom assist.store.db import Database\n"
        "async def main():\n    db = await Database(sys.argv[1]).open()\n    await db.close()\n"
        "asyncio.run(main())\n"
        "assert 'assist.store.users' not in sys.modules and 'assist.store.messages' not in sys.modules\n"
    )
    path = tmp_path / "bare.db"
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, timeout=60)
    assert TABLES <= set(_schema(path))
    assert _applied(path) == [m.name for m in MIGRATIONS]


async def test_migration_names_are_unique_and_opening_twice_applies_nothing(database_url: str) -> None:
    assert len({m.name for m in MIGRATIONS}) == len(MIGRATIONS)
    db = await open_database(database_url)
    try:
        assert await migrate(db) == []
        rows = await db.fetchall("SELECT name FROM schema_migrations")
        assert sorted(r["name"] for r in rows) == sorted(m.name for m in migrations_for(db.engine))
    finally:
        await db.close()
    again = await open_database(database_url)  # a second open (a restart, another node) changes nothing
    try:
        assert await migrate(again) == []
    finally:
        await again.close()


async def test_a_database_of_the_earlier_store_opens_and_migrates(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as con:
        con.executescript(OLD_DB.read_text(encoding="utf-8"))
    assert "users" not in _schema(old)
    db = await Database(old).open()
    try:
        call = await CallStore(db).get("old-1")
        assert call is not None and call["status"] == "ended" and call["meta"]["summary"]["state"] == "draft"
        summary = await get_summary(db, "old-1")
        assert summary is not None and summary.version == 1 and [d["status"] for d in summary.deliveries] == ["held"]
        assert (await OutboxStore(db).counts())["held"] == 1
        account = await AccountStore(db).get("ACC-1")
        assert account is not None and account.total_due == 5000
        history = await AccountStore(db).history("ACC-1", since=datetime(2026, 11, 1, tzinfo=UTC))
        assert [a.call_id for a in history.attempts] == ["old-1"]
        users = UserStore(db)
        await users.add("ana", "agent", "password-1", team="t1")
        assert (await users.get("ana")) is not None
    finally:
        await db.close()
    fresh = tmp_path / "fresh.db"
    await (await Database(fresh).open()).close()
    assert _schema(old) == _schema(fresh)
    assert sorted(_applied(old)) == sorted(m.name for m in MIGRATIONS)
