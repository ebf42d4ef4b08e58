"""`assist user …`: add, list, re-password and remove the people who sign in to the sidebar and console.

    assist user add NAME --role agent|supervisor [--team T] [--display-name N] [--password P | --password-stdin]
    assist user list [--team T]
    assist user passwd NAME [--password P | --password-stdin]
    assist user remove NAME

Without --password a terminal is asked twice; without a terminal a random password is generated and
printed once.  The database is the service's (ASSIST_DATABASE_URL, ASSIST_DATA_DIR / ASSIST_DB_PATH, or
--data-dir / --db).
`add_arguments(parser)` fills an argparse sub-parser; `run_user_cli(args)` takes that Namespace or argv.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from assist.settings import Settings
from assist.store.db import DEFAULT_POOL_SIZE, open_database
from assist.store.users import ROLES, UserError, UserStore


def _database_args(p: argparse.ArgumentParser, default: object) -> None:
    p.add_argument(
        "--data-dir", type=Path, default=default, help="the service's data directory (default ASSIST_DATA_DIR)"
    )
    p.add_argument(
        "--db",
        default=default,
        help="the SQLite database file or a database URL (default: ASSIST_DATABASE_URL, else DATA_DIR/assist.db)",
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    _database_args(p, None)
    # the same options after the sub-command (`assist user add NAME --data-dir D`); SUPPRESS keeps a value
    # given before the sub-command when they are not repeated after it
    common = argparse.ArgumentParser(add_help=False)
    _database_args(common, argparse.SUPPRESS)
    sub = p.add_subparsers(dest="user_cmd", required=True)
    a = sub.add_parser("add", help="add a person who signs in", parents=[common])
    a.add_argument("name", help="the name they sign in with (for agents: the agent_id of their calls)")
    a.add_argument("--role", required=True, choices=ROLES, help="agent (sidebar) or supervisor (console)")
    a.add_argument("--team", help="agents of a team are seen by the supervisors of that team")
    a.add_argument("--display-name", help="the name shown on the pages (default: the name)")
    _password_args(a)
    ls = sub.add_parser("list", help="list the people", parents=[common])
    ls.add_argument("--team", help="only the people of this team")
    pw = sub.add_parser("passwd", help="set a new password (signs the person out everywhere)", parents=[common])
    pw.add_argument("name", help="whose password")
    _password_args(pw)
    rm = sub.add_parser("remove", help="remove a person (and their sessions)", parents=[common])
    rm.add_argument("name", help="who to remove")


def _password_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--password", help="the password (visible in the process list: prefer --password-stdin)")
    g.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="assist user", description="People who sign in to the sidebar and console.")
    add_arguments(p)
    return p


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """(password, generated?)"""
    if args.password is not None:
        return args.password, False
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise UserError("the two passwords differ")
        return first, False
    return secrets.token_urlsafe(12), True


def _db_target(args: argparse.Namespace) -> tuple[str | Path, int]:
    """(the database file or URL, the pool size)."""
    if getattr(args, "db", None):
        return str(args.db), DEFAULT_POOL_SIZE
    overrides = {"data_dir": args.data_dir} if getattr(args, "data_dir", None) else {}
    settings = Settings(**overrides)
    return settings.database_target, settings.database_pool_size


async def _run(args: argparse.Namespace) -> int:
    target, pool_size = _db_target(args)
    db = await open_database(target, pool_size=pool_size)
    users = UserStore(db)
    try:
        if args.user_cmd == "add":
            password, generated = _password(args)
            user = await users.add(args.name, args.role, password, team=args.team, display_name=args.display_name)
            print(f"added {user.role} {user.name}" + (f" (team {user.team})" if user.team else ""))
            if generated:
                print(f"password: {password}")
        elif args.user_cmd == "list":
            for u in await users.list_users(team=args.team):
                print(f"{u.name}\t{u.role}\t{u.team or '-'}\t{u.display_name or ''}".rstrip())
        elif args.user_cmd == "passwd":
            password, generated = _password(args)
            await users.set_password(args.name, password)
            print(f"password of {args.name} changed; their sessions are signed out")
            if generated:
                print(f"password: {password}")
        elif args.user_cmd == "remove":
            if not await users.remove(args.name):
                print(f"assist user: no user {args.name!r}", file=sys.stderr)
                return 1
            print(f"removed {args.name}")
    finally:
        await db.close()
    return 0


def run_user_cli(args: argparse.Namespace | Sequence[str]) -> int:
    """Run `assist user …` (a Namespace from `add_arguments`, or the words after `user`); the exit status."""
    if not isinstance(args, argparse.Namespace):
        try:
            args = build_parser().parse_args(list(args))
        except SystemExit as e:
            return int(e.code or 0)
    try:
        return asyncio.run(_run(args))
    except UserError as e:
        print(f"assist user: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # python -m assist.users_cli add NAME --role agent
    sys.exit(run_user_cli(sys.argv[1:]))
