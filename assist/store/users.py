"""People who sign in to the sidebar and the console: users (agent or supervisor, a team, an argon2 password
hash) and their server-side sessions (only a hash of each session token is stored).

Phone systems and the dialler API have their own credentials (assist.web.api.auth); nothing here touches them.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from assist.store.db import Database

Role = Literal["agent", "supervisor"]
ROLES: tuple[Role, Role] = ("agent", "supervisor")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
TEAM_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,63}$")
MIN_PASSWORD = 8
SESSION_SECONDS = 12 * 3600.0  # one shift

_hasher = PasswordHasher()
# verified against when the user does not exist, so a wrong name costs as long as a wrong password
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))
# argon2 costs ≈50 ms of CPU per hash or verify: never on the event loop.  It runs on a pool of its own,
# so a sign-in flood can neither stall the loop nor take the threads of the database or the decoders;
# callers beyond the pool wait their turn in order (the per-address limits keep that queue short).
HASH_THREADS = 2
T = TypeVar("T")
_hash_pool = ThreadPoolExecutor(max_workers=HASH_THREADS, thread_name_prefix="argon2")


async def _off_loop(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_hash_pool, fn, *args)


def _verify(stored: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(stored, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class UserError(ValueError):
    """A user could not be added or changed; the message says what was wrong."""


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    team: str | None = None
    display_name: str | None = None
    disabled: bool = False

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "team": self.team, "display_name": self.display_name}


@dataclass(frozen=True)
class Session:
    token_hash: str
    user: User
    expires_at: float


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> str:
    if not NAME_RE.match(name or ""):
        raise UserError(
            f"user name {name!r} is not valid: 1-64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password too short: at least {MIN_PASSWORD} characters")
    return password


def _user(row: Any) -> User:
    return User(
        name=row["name"],
        role=row["role"],
        team=row["team"],
        display_name=row["display_name"],
        disabled=bool(row["disabled"]),
    )


class UserStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self, name: str, role: str, password: str, *, team: str | None = None, display_name: str | None = None
    ) -> User:
        check_name(name)
        if role not in ROLES:
            raise UserError(f"role must be 'agent' or 'supervisor', got {role!r}")
        if team is not None and not TEAM_RE.match(team):
            raise UserError(f"team {team!r} is not valid: 1-64 letters, digits, spaces, '.', '_' or '-'")
        check_password(password)
        if await self.get(name) is not None:
            raise UserError(f"user {name!r} already exists")
        await self.db.execute(
            "INSERT INTO users(name, role, team, display_name, password_hash) VALUES (?,?,?,?,?)",
            (name, role, team, display_name, await _off_loop(_hasher.hash, password)),
        )
        return User(name=name, role=role, team=team, display_name=display_name)

    async def get(self, name: str) -> User | None:
        row = await self.db.fetchone("SELECT * FROM users WHERE name=?", (name,))
        return _user(row) if row else None

    async def list_users(self, *, team: str | None = None) -> list[User]:
        if team is None:
            rows = await self.db.fetchall("SELECT * FROM users ORDER BY role, name")
        else:
            rows = await self.db.fetchall("SELECT * FROM users WHERE team=? ORDER BY role, name", (team,))
        return [_user(r) for r in rows]

    async def teams(self) -> dict[str, str | None]:
        """Every user's team (name -> team), for access checks."""
        rows = await self.db.fetchall("SELECT name, team FROM users WHERE disabled=0")
        return {r["name"]: r["team"] for r in rows}

    async def verify(self, name: str, password: str) -> User | None:
        """The user if the password is right and the account is enabled, else None (same cost either way)."""
        row = await self.db.fetchone("SELECT * FROM users WHERE name=?", (name,))
        stored = row["password_hash"] if row else _DUMMY_HASH
        if not await _off_loop(_verify, stored, password):
            return None
        if row is None or row["disabled"]:
            return None
        if _hasher.check_needs_rehash(stored):
            new_hash = await _off_loop(_hasher.hash, password)
            await self.db.execute("UPDATE users SET password_hash=? WHERE name=?", (new_hash, name))
        return _user(row)

    async def set_password(self, name: str, password: str) -> None:
        check_password(password)
        if await self.get(name) is None:
            raise UserError(f"no user {name!r}")
        new_hash = await _off_loop(_hasher.hash, password)
        await self.db.execute("UPDATE users SET password_hash=? WHERE name=?", (new_hash, name))
        await self.db.execute("DELETE FROM user_sessions WHERE user_name=?", (name,))

    async def remove(self, name: str) -> bool:
        if await self.get(name) is None:
            return False
        await self.db.execute("DELETE FROM user_sessions WHERE user_name=?", (name,))
        await self.db.execute("DELETE FROM users WHERE name=?", (name,))
        return True

    # ------------------------------------------------------------------ sessions

    async def create_session(self, user: User, *, lifetime: float = SESSION_SECONDS) -> tuple[str, float]:
        """A new random session token (returned once, stored only as a hash) and when it expires."""
        token = secrets.token_urlsafe(32)
        now = time.time()
        await self.db.execute(
            "INSERT INTO user_sessions(token_hash, user_name, created_at, expires_at) VALUES (?,?,?,?)",
            (token_hash(token), user.name, now, now + lifetime),
        )
        return token, now + lifetime

    async def session(self, token: str) -> Session | None:
        """The live session of a token, or None if unknown, expired or its user is disabled."""
        h = token_hash(token)
        row = await self.db.fetchone(
            "SELECT u.*, s.expires_at FROM user_sessions s JOIN users u ON u.name = s.user_name WHERE s.token_hash=?",
            (h,),
        )
        if row is None or row["disabled"] or row["expires_at"] < time.time():
            return None
        return Session(token_hash=h, user=_user(row), expires_at=row["expires_at"])

    async def end_session(self, token: str) -> None:
        await self.db.execute("DELETE FROM user_sessions WHERE token_hash=?", (token_hash(token),))

    async def purge_sessions(self) -> None:
        await self.db.execute("DELETE FROM user_sessions WHERE expires_at < ?", (time.time(),))

    async def secret(self, name: str) -> str:
        """A random server secret kept in the database (created on first use)."""
        row = await self.db.fetchone("SELECT value FROM ui_secrets WHERE name=?", (name,))
        if row is not None:
            return str(row["value"])
        await self.db.execute(
            "INSERT INTO ui_secrets(name, value) VALUES (?,?) ON CONFLICT(name) DO NOTHING",
            (name, secrets.token_hex(32)),
        )
        row = await self.db.fetchone("SELECT value FROM ui_secrets WHERE name=?", (name,))
        assert row is not None
        return str(row["value"])
