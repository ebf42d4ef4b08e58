"""The database: SQLite (aiosqlite, WAL; the default) or PostgreSQL (asyncpg with a connection pool), and
their transactions.

`open_database(url)` picks the engine from `ASSIST_DATABASE_URL`-style text (`sqlite:///path/assist.db`, a
plain path, or `postgresql://user@host:port/db`) and returns it open: connected, schema up to date
(assist.store.schema), so every table exists once it returns.  `Database(path)` is the SQLite database at
`path`.  Both engines take the same SQL with `?` placeholders (turned into `$1, $2, …` for PostgreSQL) and
give rows back as plain dicts with the same Python types (str, int, float, None).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import aiosqlite
import asyncpg

Row = dict[str, Any]
Params = tuple[Any, ...] | dict[str, Any]
SQLITE = "sqlite"
POSTGRESQL = "postgresql"
DEFAULT_POOL_SIZE = 10
# what a write that breaks a constraint (unique, foreign key, check) raises, on either engine
INTEGRITY_ERRORS: tuple[type[Exception], ...] = (sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError)


class DatabaseUrlError(ValueError):
    """ASSIST_DATABASE_URL names no engine this store has; the message says what was expected."""


class Database:
    """An open database of either engine (`engine` says which).  `Database(path)` itself is the SQLite
    database at `path` (what callers constructed before there were two engines)."""

    engine: str = SQLITE

    def __new__(cls, *args: Any, **kwargs: Any) -> Database:
        return super().__new__(SqliteDatabase if cls is Database else cls)

    async def open(self) -> Database:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """BEGIN … COMMIT, rolled back on error; SQLite's write transactions run one at a time (BEGIN
        IMMEDIATE), PostgreSQL's run side by side at READ COMMITTED (rows are locked where it matters)."""
        raise NotImplementedError

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement on its own; the number of rows it changed."""
        raise NotImplementedError

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        raise NotImplementedError

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        raise NotImplementedError

    def describe(self) -> str:
        """Where the data lives, for logs (never a password)."""
        raise NotImplementedError


class Transaction:
    """The statements of one open transaction (from `Database.transaction()`); it commits when the block
    ends and rolls back if the block raises."""

    engine: str = SQLITE

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; the number of rows it changed."""
        raise NotImplementedError

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        raise NotImplementedError

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        raise NotImplementedError

    async def executescript(self, script: str) -> None:
        """Several statements (separated by ';') inside this transaction."""
        raise NotImplementedError


Queryable = Database | Transaction  # what a read can run on: the database, or an open transaction


def lock_rows(q: Queryable, clause: str = "FOR UPDATE") -> str:
    """` FOR UPDATE` (or `clause`) to append to a SELECT on PostgreSQL; '' on SQLite, whose write
    transactions already run one at a time."""
    return f" {clause}" if q.engine == POSTGRESQL else ""


# ---------------------------------------------------------------------------------------------- SQLite


class SqliteDatabase(Database):
    """One aiosqlite connection in WAL mode.  Writes are serialised by a lock so that a
    multi-statement transaction from one task never interleaves with another's."""

    engine = SQLITE

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._conn: aiosqlite.Connection | None = None
        self.write_lock = asyncio.Lock()

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("database is not open")
        return self._conn

    def describe(self) -> str:
        return str(self.path)

    async def open(self) -> SqliteDatabase:
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
    async def _transaction(self) -> AsyncIterator[Transaction]:
        async with self.write_lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield SqliteTransaction(self.conn)
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            else:
                await self.conn.execute("COMMIT")

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        return self._transaction()

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self.write_lock, self.conn.execute(sql, params) as cur:
            return cur.rowcount

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self.conn.execute(sql, params) as cur:
            return cast(list[Row], list(await cur.fetchall()))  # rows are dicts: _dict_row

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        async with self.conn.execute(sql, params) as cur:
            return cast(Row | None, await cur.fetchone())


class SqliteTransaction(Transaction):
    engine = SQLITE

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self._conn.execute(sql, params) as cur:
            return cur.rowcount

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._conn.execute(sql, params) as cur:
            return cast(list[Row], list(await cur.fetchall()))  # rows are dicts: _dict_row

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        async with self._conn.execute(sql, params) as cur:
            return cast(Row | None, await cur.fetchone())

    async def executescript(self, script: str) -> None:
        """Statements run one by one inside this transaction (sqlite's own executescript would commit
        first)."""
        for stmt in (s.strip() for s in script.split(";")):
            if stmt:
                await self._conn.execute(stmt)


def _dict_row(cursor: Any, values: tuple[Any, ...]) -> Row:
    return {d[0]: v for d, v in zip(cursor.description, values, strict=True)}


# ---------------------------------------------------------------------------------------------- PostgreSQL


@lru_cache(maxsize=1024)
def to_dollar(sql: str) -> str:
    """`?` placeholders as asyncpg's `$1, $2, …`; a `?` inside quotes or a comment is left alone."""
    out: list[str] = []
    n = 0
    i = 0
    while i < len(sql):
        c = sql[i]
        if c in "'\"":
            end = sql.find(c, i + 1)
            end = len(sql) if end < 0 else end + 1
            out.append(sql[i:end])
            i = end
            continue
        if c == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            end = len(sql) if end < 0 else end
            out.append(sql[i:end])
            i = end
            continue
        if c == "?":
            n += 1
            out.append(f"${n}")
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _args(params: Params) -> tuple[Any, ...]:
    if isinstance(params, dict):
        raise TypeError("the PostgreSQL store takes positional parameters ('?'), not named ones")
    return tuple(params)


def _rowcount(status: str) -> int:
    """The row count of an asyncpg command status ('UPDATE 3', 'INSERT 0 1'); 0 when it has none."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresDatabase(Database):
    """A pool of asyncpg connections to one PostgreSQL database.  Each statement outside a transaction
    takes a connection from the pool; a transaction keeps one until it ends."""

    engine = POSTGRESQL

    def __init__(self, url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        if pool_size < 1:
            raise ValueError(f"database pool size must be at least 1, got {pool_size}")
        self.url = url
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("database is not open")
        return self._pool

    def describe(self) -> str:
        parts = urlsplit(self.url)
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
        user = f"{unquote(parts.username)}@" if parts.username else ""
        return f"postgresql://{user}{host}{port}{parts.path}"

    async def open(self) -> PostgresDatabase:
        """Connect the pool and bring the schema up to date (one node at a time: an advisory lock)."""
        from assist.store.schema import migrate

        self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=self.pool_size)
        try:
            await migrate(self)
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Transaction]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield PostgresTransaction(conn)

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        return self._transaction()

    async def execute(self, sql: str, params: Params = ()) -> int:
        return _rowcount(await self.pool.execute(to_dollar(sql), *_args(params)))

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return [dict(r) for r in await self.pool.fetch(to_dollar(sql), *_args(params))]

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        row = await self.pool.fetchrow(to_dollar(sql), *_args(params))
        return dict(row) if row is not None else None


class PostgresTransaction(Transaction):
    engine = POSTGRESQL

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        return _rowcount(await self._conn.execute(to_dollar(sql), *_args(params)))

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return [dict(r) for r in await self._conn.fetch(to_dollar(sql), *_args(params))]

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        row = await self._conn.fetchrow(to_dollar(sql), *_args(params))
        return dict(row) if row is not None else None

    async def executescript(self, script: str) -> None:
        """The whole script in one go (PostgreSQL runs several statements sent without parameters, and a
        function body may hold ';')."""
        await self._conn.execute(script)


# ---------------------------------------------------------------------------------------------- choosing


_SQLITE_URL = re.compile(r"^sqlite://(?P<path>.*)$")


def sqlite_path(url: str) -> Path:
    """The file of a `sqlite:///path` URL (`sqlite:///relative` or `sqlite:////absolute`, as SQLAlchemy
    writes them; `sqlite:///:memory:` is an in-memory database)."""
    m = _SQLITE_URL.match(url)
    if m is None or not m.group("path").startswith("/") or len(m.group("path")) < 2:
        raise DatabaseUrlError(f"database URL {url!r}: a SQLite URL is sqlite:///path/to/assist.db")
    return Path(unquote(m.group("path")[1:]))


def make_database(url: str | Path, *, pool_size: int = DEFAULT_POOL_SIZE) -> Database:
    """The (not yet open) database `url` names: `sqlite:///path`, `postgresql://…` (or `postgres://…`),
    or a plain file path (SQLite)."""
    if isinstance(url, Path):
        return SqliteDatabase(url)
    text = url.strip()
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in ("postgresql", "postgres"):
        return PostgresDatabase(text, pool_size=pool_size)
    if scheme == "sqlite":
        return SqliteDatabase(sqlite_path(text))
    if scheme:
        raise DatabaseUrlError(
            f"database URL {url!r}: unknown engine {scheme!r}; use sqlite:///path/to/assist.db or "
            "postgresql://user@host:port/db"
        )
    if not text:
        raise DatabaseUrlError("database URL is empty; use sqlite:///path/to/assist.db or postgresql://…")
    return SqliteDatabase(Path(text))


async def open_database(url: str | Path, *, pool_size: int = DEFAULT_POOL_SIZE) -> Database:
    """The database `url` names, open and migrated (see `make_database`)."""
    return await make_database(url, pool_size=pool_size).open()
