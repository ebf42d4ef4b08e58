"""The PostgreSQL and Redis servers the tests use for real, and a check that they are up.

`python -m tests.support.services --wait 60` (run by .ci/run before the tests) waits until both answer and
exits non-zero with a message that names the one that is down.  The addresses come from
`ASSIST_TEST_POSTGRES_URL` and `ASSIST_TEST_REDIS_URL` (defaults: the machine's own servers on loopback).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

POSTGRES_URL = os.environ.get("ASSIST_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("ASSIST_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def postgres_error(url: str = POSTGRES_URL) -> str | None:
    """None when PostgreSQL answers a query at `url`, else what went wrong."""
    import asyncpg

    try:
        conn = await asyncpg.connect(url, timeout=3)
        try:
            await conn.fetchval("SELECT 1")
        finally:
            await conn.close()
    except Exception as e:
        return f"PostgreSQL at {url} did not answer: {type(e).__name__}: {e}"
    return None


async def redis_error(url: str = REDIS_URL) -> str | None:
    """None when Redis answers PING at `url`, else what went wrong."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        await client.ping()
    except Exception as e:
        return f"Redis at {url} did not answer: {type(e).__name__}: {e}"
    finally:
        await client.aclose()
    return None


async def wait(seconds: float) -> list[str]:
    deadline = time.monotonic() + seconds
    while True:
        errors = [e for e in (await postgres_error(), await redis_error()) if e is not None]
        if not errors or time.monotonic() >= deadline:
            return errors
        await asyncio.sleep(1.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--wait", type=float, default=60.0, help="seconds to wait for both servers")
    args = ap.parse_args()
    errors = asyncio.run(wait(args.wait))
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    if errors:
        print(
            "the tests need PostgreSQL and Redis running (set ASSIST_TEST_POSTGRES_URL / ASSIST_TEST_REDIS_URL "
            "if they are elsewhere)",
            file=sys.stderr,
        )
        return 1
    print(f"PostgreSQL ({POSTGRES_URL}) and Redis ({REDIS_URL}) are up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
