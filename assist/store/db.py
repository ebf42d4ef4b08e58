"""The database connection (SQLite through aiosqlite, WAL) and its transactions.

`Database.open()` connects and applies the schema (assist.store.schema), so every table exists once it
returns.  Rows come back as plain dicts (column name → value), whatever the engine underneath.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import aiosqlite

Row = dict[str, Any]
Params = tuple[Any, ...] | dict[str, Any]


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
        """Connect and bring the schema up to date."""
        from assist.store.schema import migrate

        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = await aiosqlite.connect(self.path, isolation_level=None)
        self._conn.row_factory = _dict_row  # type: ignore[assignment]  # aiosqlite types it as a class only
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=5000"):
            await self._conn.execute(f"PRAGMA {pragma}")
        await migrate(self)
        return self

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on error."""
        async with self.write_lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(self.conn)
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            else:
                await self.conn.execute("COMMIT")

    async def execute(self, sql: str, params: Params = ()) -> None:
        async with self.write_lock:
            await self.conn.execute(sql, params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self.conn.execute(sql, params) as cur:
            return cast(list[Row], list(await cur.fetchall()))  # rows are dicts: _dict_row

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        async with self.conn.execute(sql, params) as cur:
            return cast(Row | None, await cur.fetchone())


class Transaction:
    """The statements of one open transaction (from `Database.transaction()`); it commits when the block
    ends and rolls back if the block raises."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; the number of rows it changed."""
        async with self._conn.execute(sql, params) as cur:
            return cur.rowcount

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._conn.execute(sql, params) as cur:
            return cast(list[Row], list(await cur.fetchall()))  # rows are dicts: _dict_row

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        async with self._conn.execute(sql, params) as cur:
            return cast(Row | None, await cur.fetchone())

    async def executescript(self, script: str) -> None:
        """Statements separated by ';', run one by one inside this transaction (sqlite's own executescript
        would commit first)."""
        for stmt in (s.strip() for s in script.split(";")):
            if stmt:
                await self._conn.execute(stmt)


Queryable = Database | Transaction  # what a read can run on: the database, or an open transaction


def _dict_row(cursor: Any, values: tuple[Any, ...]) -> Row:
    return {d[0]: v for d, v in zip(cursor.description, values, strict=True)}
