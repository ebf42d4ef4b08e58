"""The `assist` command: serve, simulate, model, replay, outbox, accounts, user."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from pathlib import Path

from assist import logs
from assist.settings import Settings
from assist.users_cli import add_arguments as add_user_arguments
from assist.users_cli import run_user_cli


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        k: v
        for k, v in (
            ("host", getattr(args, "host", None)),
            ("port", getattr(args, "port", None)),
            ("data_dir", getattr(args, "data_dir", None)),
        )
        if v is not None
    }
    return Settings(**overrides)


def _print_urls(settings: Settings, demo: bool) -> None:
    """What to open in a browser (and, with --demo, who to sign in as)."""
    if not settings.port:
        return  # any free port: the service logs the one it got
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    base = f"http://{'[' + host + ']' if ':' in host else host}:{settings.port}"
    print(f"assist: agent sidebar      {base}/agent", flush=True)
    print(f"assist: supervisor console {base}/supervisor", flush=True)
    if demo:
        print("assist: demo sign-in       demo-agent / demo-agent, demo-supervisor / demo-supervisor", flush=True)


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    logs.configure(settings.log_format, settings.log_level)
    problem = settings.open_api_problem()
    if problem is not None:
        print(f"assist: refusing to serve: {problem}", file=sys.stderr)
        return 2
    if settings.api_token is None:
        logs.get(__name__).warning(
            "the dialler API and live feed are open without a token",
            host=settings.host,
            reachable="this machine only" if not settings.insecure else "the network (ASSIST_INSECURE=1)",
        )
    from assist.service.app import serve
    from assist.service.eventloop import loop_factory
    from assist.stream.models import ModelError

    _print_urls(settings, args.demo)
    try:
        with (
            contextlib.suppress(KeyboardInterrupt),
            asyncio.Runner(loop_factory=loop_factory(settings.poll_interval_ms / 1000)) as runner,
        ):
            runner.run(serve(settings, demo=args.demo))
    except ModelError as e:
        print(f"assist: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"assist: cannot listen: {e}", file=sys.stderr)
        return 2
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    logs.configure("console" if sys.stderr.isatty() else "json", "WARNING")
    from assist.stream.simulate import simulate

    path = Path(args.file)
    if not path.is_file():
        print(f"assist simulate: no such file: {path}", file=sys.stderr)
        return 2
    try:
        call_id = asyncio.run(
            simulate(
                path,
                args.protocol,
                args.server,
                agent=args.agent,
                account=args.account,
                language=args.language,
                fast=args.fast,
                api_token=args.api_token or os.environ.get("ASSIST_API_TOKEN"),
                twilio_auth_token=os.environ.get("ASSIST_TWILIO_AUTH_TOKEN"),
                audiohook_api_key=os.environ.get("ASSIST_AUDIOHOOK_API_KEY"),
                audiohook_client_secret=os.environ.get("ASSIST_AUDIOHOOK_CLIENT_SECRET"),
                audiofork_user=os.environ.get("ASSIST_AUDIOFORK_USER"),
                audiofork_password=os.environ.get("ASSIST_AUDIOFORK_PASSWORD"),
                call_id=args.call_id,
            )
        )
    except (OSError, ValueError, RuntimeError) as e:
        print(f"assist simulate: {e}", file=sys.stderr)
        return 1
    print(call_id)
    return 0


def cmd_model(args: argparse.Namespace) -> int:
    from assist.stream import models

    settings = Settings()
    if args.model_cmd == "install":
        try:
            inst = models.install(
                args.name, Path(args.cache or settings.model_cache), progress=True, expected_sha256=args.sha256
            )
        except models.ModelError as e:
            print(f"assist model install: {e}", file=sys.stderr)
            return 1
        print(f"model ready at {inst.path}")
        if inst.sha256:
            print(f"sha256 {inst.sha256} ({inst.size} bytes)")
        print(f"set it with:\n  export ASSIST_VOSK_MODEL={inst.path}")
        return 0
    if args.model_cmd == "list":
        for p in models.installed_models(Path(args.cache or settings.model_cache)):
            print(p)
        return 0
    if args.model_cmd == "check":
        try:
            path = models.resolve(args.spec or settings.vosk_model)
        except models.ModelError as e:
            print(f"assist model check: {e}", file=sys.stderr)
            return 1
        if path is None:
            print("no model configured (ASSIST_VOSK_MODEL is unset): calls will not be transcribed")
            return 1
        print(path)
        return 0
    return 2


def cmd_replay(args: argparse.Namespace) -> int:
    from assist.coach.replay import run_replay

    try:
        rc = run_replay([Path(f) for f in args.files], args.json, Path(args.score) if args.score else None)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (`assist replay … | head`): stop quietly, as other Unix tools do; stdout is
        # pointed at /dev/null so the interpreter's own flush at exit does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return rc


def cmd_outbox(args: argparse.Namespace) -> int:
    from assist.sync.cli import run_outbox_cli

    return run_outbox_cli(args.rest, Settings())


def cmd_accounts(args: argparse.Namespace) -> int:
    from assist.accounts import AccountError
    from assist.store.accounts import AccountStore
    from assist.store.db import open_database

    async def run() -> int:
        settings = Settings()
        db = await open_database(settings.database_target, pool_size=settings.database_pool_size)
        try:
            n = await AccountStore(db).import_file(Path(args.file))
        finally:
            await db.close()
        print(f"imported {n} accounts from {args.file}")
        return 0

    try:
        return asyncio.run(run())
    except (AccountError, OSError, ValueError) as e:
        print(f"assist accounts import: {e}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="assist", description="Realtime agent assist for collection calls.")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("serve", help="run the service")
    s.add_argument("--host", help="address to listen on (default ASSIST_HOST, 127.0.0.1)")
    s.add_argument(
        "--port",
        type=int,
        help="HTTP port for the pages, the API and the phone WebSockets (default ASSIST_PORT, 8080; 0 = any free port)",
    )
    s.add_argument(
        "--data-dir",
        type=Path,
        help="where the SQLite database lives (default ASSIST_DATA_DIR, ./data); "
        "ASSIST_DATABASE_URL may name another database",
    )
    s.add_argument(
        "--demo",
        action="store_true",
        help="also play a built-in sample collection call (10 times), with demo users "
        "demo-agent/demo-agent and demo-supervisor/demo-supervisor",
    )
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("user", help="people who sign in to the sidebar and the supervisor console")
    add_user_arguments(s)
    s.set_defaults(func=run_user_cli)

    s = sub.add_parser("simulate", help="stream a WAV file to the service as a phone system would")
    s.add_argument("file", help="mono or stereo WAV (left = customer, right = agent)")
    s.add_argument(
        "--protocol",
        required=True,
        choices=["twilio", "audiohook", "audiofork", "audiosocket", "rtp"],
        help="the phone system to act as",
    )
    s.add_argument("--server", default="127.0.0.1:8080", help="HOST:PORT of the service's HTTP port")
    s.add_argument("--agent", help="the call's agent id (who sees it in the sidebar)")
    s.add_argument("--account", help="the customer's account id (the account card)")
    s.add_argument("--language", help="the call's language, e.g. zh-CN or en-US")
    s.add_argument("--call-id", help="the call id to use (default: one is made up)")
    s.add_argument("--api-token", help="bearer token of the dialler/CTI API (default ASSIST_API_TOKEN)")
    s.add_argument("--fast", action="store_true", help="send as fast as possible instead of real time")
    s.set_defaults(func=cmd_simulate)

    s = sub.add_parser("model", help="speech models")
    msub = s.add_subparsers(dest="model_cmd", required=True)
    m = msub.add_parser("install", help="download, check and unpack a model: zh, en or a URL to a .zip")
    m.add_argument("name", help="zh, en, or the URL of a model .zip")
    m.add_argument("--cache", help="where to unpack (default ~/.cache/assist/models)")
    m.add_argument("--sha256", help="expected checksum of the archive")
    m = msub.add_parser("list", help="installed models")
    m.add_argument("--cache", help="where models are unpacked (default ~/.cache/assist/models)")
    m = msub.add_parser("check", help="resolve ASSIST_VOSK_MODEL (or SPEC) and print the model directory")
    m.add_argument("spec", nargs="?", help="a model directory or pkg:NAME (default ASSIST_VOSK_MODEL)")
    s.set_defaults(func=cmd_model)

    s = sub.add_parser("outbox", help="CRM delivery queue: list | show ID | retry ID… | metrics", add_help=False)
    s.add_argument("rest", nargs=argparse.REMAINDER, help="the outbox command and its options (assist outbox --help)")
    s.set_defaults(func=cmd_outbox)

    s = sub.add_parser("accounts", help="accounts for the account card and the dial check")
    asub = s.add_subparsers(dest="accounts_cmd", required=True)
    a = asub.add_parser("import", help="import accounts from a CSV or JSON file")
    a.add_argument("file", help="CSV or JSON file of accounts")
    s.set_defaults(func=cmd_accounts)

    s = sub.add_parser("replay", help="run timed transcripts (JSONL files or folders) through the coach")
    s.add_argument(
        "files",
        nargs="+",
        metavar="FILE_OR_DIR",
        help="timed transcripts (JSONL, the format of tests/data/coach) or folders of them",
    )
    s.add_argument("--json", action="store_true", help="one JSON line per call: its prompts and findings")
    s.add_argument("--score", metavar="LABELS", help="print precision/recall against labels (docs/coach.md)")
    s.set_defaults(func=cmd_replay)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["outbox"]:  # its own parser takes every option after the word
        from assist.sync.cli import run_outbox_cli

        return run_outbox_cli(argv[1:], Settings())
    args = build_parser().parse_args(argv)
    rc: int = args.func(args)
    return rc


if __name__ == "__main__":
    sys.exit(main())
