"""SQLite connection (aiosqlite, WAL) and schema migrations.

Each store module registers its own tables with `migration(name, sql)`; `Database.open()` applies
the ones not applied yet, in registration order, and records them in `schema_migrations`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

_MIGRATIONS: list[tuple[str, str]] = []


def migration(name: str, sql: str) -> None:
    """Register a schema step; names must be unique and never change once released."""
    if any(n == name for n, _ in _MIGRATIONS):
        return
    _MIGRATIONS.append((name, sql))


class Database:
    """One aiosqlite connection in WAL mode.  Writes are serialised by a lock so that a
    multi-statement transaction from one task never interleaves with another's."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._conn: aiosqlite.Connection | None = None
        self.write_lock = asyncio.Lock()

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("database is not open")
        return self._conn

    async def open(self) -> Database:
        # importing the store modules registers their migrations
        from assist.store import accounts as _accounts  # noqa: F401  (accounts + contact_attempts)
        from assist.store import calls as _calls  # noqa: F401
        from assist.store import outbox as _outbox  # noqa: F401  (summaries + outbox tables)

        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = await aiosqlite.connect(self.path, isolation_level=None)
        self._conn.row_factory = aiosqlite.Row
        await self._conn.execute("PRAGMA journal_mode=WAL")
        await self._conn.execute("PRAGMA synchronous=NORMAL")
        await self._conn.execute("PRAGMA foreign_keys=ON")
        await self._conn.execute("PRAGMA busy_timeout=5000")
        await self._conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL"
            " DEFAULT CURRENT_TIMESTAMP)"
        )
        async with self._conn.execute("SELECT name FROM schema_migrations") as cur:
            done = {row[0] for row in await cur.fetchall()}
        for name, sql in _MIGRATIONS:
            if name in done:
                continue
            async with self.transaction() as tx:
                await tx.executescript_in_tx(sql)
                await tx.execute("INSERT INTO schema_migrations(name) VALUES (?)", (name,))
        return self

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Tx]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on error."""
        async with self.write_lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield _Tx(self.conn)
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            else:
                await self.conn.execute("COMMIT")

    async def execute(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> None:
        async with self.write_lock:
            await self.conn.execute(sql, params)

    async def fetchall(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[aiosqlite.Row]:
        async with self.conn.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def fetchone(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> aiosqlite.Row | None:
        async with self.conn.execute(sql, params) as cur:
            return await cur.fetchone()


class _Tx:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> int:
        async with self.conn.execute(sql, params) as cur:
            return cur.rowcount

    async def fetchall(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[aiosqlite.Row]:
        async with self.conn.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def executescript_in_tx(self, script: str) -> None:
        # executescript() would COMMIT first; run statement by statement inside the transaction
        for stmt in (s.strip() for s in script.split(";")):
            if stmt:
                await self.conn.execute(stmt)
