"""People who sign in: the user store (argon2 hashes, roles, teams), server-side sessions, and `assist user`;
on SQLite and on PostgreSQL."""

from __future__ import annotations

import time

import pytest
import pytest_asyncio

from assist.store.db import Database, open_database
from assist.store.users import UserError, UserStore, token_hash
from assist.users_cli import run_user_cli
from assist.web.browser import sessions


@pytest_asyncio.fixture
async def users(any_db: Database) -> UserStore:
    return UserStore(any_db)


async def test_add_and_verify(users: UserStore) -> None:
    u = await users.add("agent-7", "agent", "s3cret-pass", team="east", display_name="Wang")
    assert (u.name, u.role, u.team) == ("agent-7", "agent", "east")
    row = await users.db.fetchone("SELECT password_hash FROM users WHERE name='agent-7'")
    assert row is not None and row["password_hash"].startswith("$argon2id$")
    assert "s3cret-pass" not in row["password_hash"]
    ok = await users.verify("agent-7", "s3cret-pass")
    assert ok is not None and ok.team == "east" and ok.display_name == "Wang"
    assert await users.verify("agent-7", "wrong-pass") is None
    assert await users.verify("nobody", "s3cret-pass") is None


@pytest.mark.parametrize(
    ("name", "role", "password", "team", "problem"),
    [
        ("a b", "agent", "long-enough", None, "not valid"),
        ("-x", "agent", "long-enough", None, "not valid"),
        ("ok", "admin", "long-enough", None, "role must be"),
        ("ok", "agent", "short", None, "too short"),
        ("ok", "agent", "long-enough", "bad/team", "team"),
    ],
)
async def test_bad_users_are_refused(
    users: UserStore, name: str, role: str, password: str, team: str | None, problem: str
) -> None:
    with pytest.raises(UserError, match=problem):
        await users.add(name, role, password, team=team)
    assert await users.list_users() == []


async def test_duplicate_user(users: UserStore) -> None:
    await users.add("sup-1", "supervisor", "long-enough")
    with pytest.raises(UserError, match="already exists"):
        await users.add("sup-1", "agent", "other-pass")
    assert [u.role for u in await users.list_users()] == ["supervisor"]


async def test_sessions(users: UserStore) -> None:
    u = await users.add("agent-7", "agent", "long-enough", team="east")
    token, expires = await users.create_session(u)
    assert expires > time.time() + 3600
    stored = await users.db.fetchall("SELECT token_hash FROM user_sessions")
    assert [r["token_hash"] for r in stored] == [token_hash(token)]  # only the hash is kept
    s = await users.session(token)
    assert s is not None and s.user.name == "agent-7" and s.user.team == "east"
    assert await users.session(token + "x") is None
    await users.end_session(token)
    assert await users.session(token) is None

    old, _ = await users.create_session(u, lifetime=-1)
    assert await users.session(old) is None  # expired
    await users.purge_sessions()
    assert await users.db.fetchall("SELECT * FROM user_sessions") == []


async def test_new_password_signs_out_everywhere(users: UserStore) -> None:
    u = await users.add("agent-7", "agent", "first-pass")
    token, _ = await users.create_session(u)
    await users.set_password("agent-7", "second-pass")
    assert await users.session(token) is None
    assert await users.verify("agent-7", "first-pass") is None
    assert await users.verify("agent-7", "second-pass") is not None
    assert await users.remove("agent-7") and not await users.remove("agent-7")


async def test_cookie_signature(users: UserStore) -> None:
    secret = await users.secret("session")
    assert secret == await users.secret("session") and len(secret) == 64
    value = sessions.sign("tok", secret)
    assert sessions.unsign(value, secret) == "tok"
    assert sessions.unsign(value[:-1] + ("0" if value[-1] != "0" else "1"), secret) is None
    assert sessions.unsign("tok", secret) is None
    assert sessions.unsign(value, "another-secret") is None


def test_user_cli(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", database_url]
    assert run_user_cli([*db, "add", "agent-7", "--role", "agent", "--team", "east", "--password", "long-enough"]) == 0
    assert (
        run_user_cli([*db, "add", "sup-1", "--role", "supervisor", "--team", "east", "--password", "long-enough"]) == 0
    )
    assert "added agent agent-7 (team east)" in capsys.readouterr().out
    assert run_user_cli([*db, "add", "agent-7", "--role", "agent", "--password", "long-enough"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert run_user_cli([*db, "add", "x", "--role", "boss", "--password", "long-enough"]) == 2  # argparse
    capsys.readouterr()
    # no terminal and no --password: a password is generated and printed once
    assert run_user_cli([*db, "add", "agent-8", "--role", "agent"]) == 0
    out = capsys.readouterr().out
    generated = out.split("password: ")[1].strip()
    assert len(generated) >= 12
    assert run_user_cli([*db, "list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing == ["agent-7\tagent\teast", "agent-8\tagent\t-", "sup-1\tsupervisor\teast"]
    assert run_user_cli([*db, "passwd", "agent-7", "--password", "another-pass"]) == 0
    assert run_user_cli([*db, "remove", "agent-8"]) == 0
    assert run_user_cli([*db, "remove", "agent-8"]) == 1

    async def check() -> None:
        d = await open_database(database_url)
        try:
            us = UserStore(d)
            assert await us.verify("agent-7", "another-pass") is not None
            assert await us.verify("agent-8", generated) is None
        finally:
            await d.close()

    import asyncio

    asyncio.run(check())
