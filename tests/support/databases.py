"""A database of each engine for the store tests: SQLite in the test's own directory, PostgreSQL in a fresh
schema of the test server (every pooled connection's search_path is set to it by the URL) that is dropped
with everything in it when the test ends.

`database_url(engine, tmp_path)` yields the URL to give `open_database` or `Settings(database_url=…)`;
`open_engine(engine, tmp_path)` yields the database itself, open.  tests/conftest.py turns them into the
`engine`, `database_url` and `any_db` fixtures (each test that uses them runs once per engine).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from assist.store.db import POSTGRESQL, SQLITE, Database, open_database
from tests.support.services import POSTGRES_URL

ENGINES = (SQLITE, POSTGRESQL)


def with_search_path(url: str, schema: str) -> str:
    """`url` whose connections use `schema` (asyncpg passes unknown query parameters as server settings)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "search_path"] + [("search_path", schema)]
    return urlunsplit(parts._replace(query=urlencode(query)))


@asynccontextmanager
async def postgres_schema(prefix: str = "assist_t_") -> AsyncIterator[str]:
    """A URL of the test PostgreSQL server whose connections live in a new, empty schema; the schema and
    everything in it are dropped afterwards."""
    schema = f"{prefix}{secrets.token_hex(6)}"
    admin = await asyncpg.connect(POSTGRES_URL, timeout=10)
    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
        try:
            yield with_search_path(POSTGRES_URL, schema)
        finally:
            await admin.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        await admin.close()


@asynccontextmanager
async def database_url(engine: str, tmp_path: Path, name: str = "assist.db") -> AsyncIterator[str]:
    """The URL of an empty database of `engine` for one test."""
    if engine == SQLITE:
        yield f"sqlite:///{tmp_path / name}"
    elif engine == POSTGRESQL:
        async with postgres_schema() as url:
            yield url
    else:
        raise ValueError(f"unknown engine {engine!r}; one of {ENGINES}")


@asynccontextmanager
async def open_engine(engine: str, tmp_path: Path) -> AsyncIterator[Database]:
    """An open, migrated, empty database of `engine`; closed (and on PostgreSQL dropped) afterwards."""
    async with database_url(engine, tmp_path) as url:
        db = await open_database(url)
        try:
            yield db
        finally:
            await db.close()
