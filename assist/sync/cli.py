"""`assist outbox list|show|retry|metrics`: what is waiting for the CRM, why, and a hand to push it again.

The lead's CLI calls `run_outbox_cli(argv, settings)` with the words after `outbox`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from assist.store.db import DEFAULT_POOL_SIZE, open_database
from assist.store.outbox import STATUSES
from assist.sync.api import list_outbox, outbox_metrics, retry_outbox_items, show_outbox_item


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="assist outbox", description="summaries waiting for, or delivered to, the CRM")
    sub = p.add_subparsers(dest="cmd", required=True)
    ls = sub.add_parser("list", help="items, open ones first, earliest deadline first")
    ls.add_argument("--status", choices=STATUSES)
    ls.add_argument("--call", dest="call_id")
    ls.add_argument("--target")
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--json", action="store_true")
    sh = sub.add_parser("show", help="one item with its attempts and payload")
    sh.add_argument("id", type=int)
    sh.add_argument("--json", action="store_true")
    rt = sub.add_parser("retry", help="put dead-lettered items back in the queue")
    rt.add_argument("ids", type=int, nargs="*")
    rt.add_argument("--all-dead", action="store_true")
    rt.add_argument("--target")
    mt = sub.add_parser("metrics", help="queue depth, oldest pending, latency, results")
    mt.add_argument("--json", action="store_true")
    return p


def _cell(v: Any, width: int) -> str:
    s = "-" if v is None else str(v)
    return s if len(s) <= width else s[: width - 1] + "…"


def _print_table(items: list[dict[str, Any]], out: TextIO) -> None:
    cols = [
        ("id", 6),
        ("status", 10),
        ("target", 10),
        ("call_id", 20),
        ("version", 3),
        ("attempts", 4),
        ("due_at", 20),
        ("minutes_left", 7),
        ("next_attempt_at", 20),
        ("last_error", 50),
    ]
    heads = {"version": "v", "attempts": "att", "minutes_left": "left", "next_attempt_at": "next"}
    print("  ".join(heads.get(c, c).ljust(w) for c, w in cols), file=out)
    for it in items:
        row = dict(it)
        if row["late"]:
            row["status"] = f"{row['status']}(late)"
        for k in ("due_at", "next_attempt_at"):
            if row[k]:
                row[k] = row[k][:19].replace("T", " ")
        print("  ".join(_cell(row[c], w).ljust(w) for c, w in cols).rstrip(), file=out)


async def _run(ns: argparse.Namespace, target: str | Path, pool_size: int, out: TextIO) -> int:
    db = await open_database(target, pool_size=pool_size)
    try:
        if ns.cmd == "list":
            items = await list_outbox(db, status=ns.status, call_id=ns.call_id, target=ns.target, limit=ns.limit)
            if ns.json:
                print(json.dumps(items, ensure_ascii=False, indent=2), file=out)
            elif not items:
                print("outbox is empty", file=out)
            else:
                _print_table(items, out)
            return 0
        if ns.cmd == "show":
            item = await show_outbox_item(db, ns.id)
            if item is None:
                print(f"no outbox item {ns.id}", file=sys.stderr)
                return 1
            if ns.json:
                print(json.dumps(item, ensure_ascii=False, indent=2), file=out)
                return 0
            for k, v in item.items():
                if k not in ("attempt_log", "payload"):
                    print(f"{k:>16}: {'-' if v is None else v}", file=out)
            print("attempts:", file=out)
            for a in item["attempt_log"]:
                print(
                    f"  #{a['attempt']} {a['finished_at']} {a['outcome']:<9} {a['kind']:<14} "
                    f"{a['http_status'] or '-':<4} {(a['detail'] or '')[:100]}",
                    file=out,
                )
            return 0
        if ns.cmd == "retry":
            if not ns.ids and not ns.all_dead:
                print("give item ids or --all-dead", file=sys.stderr)
                return 2
            results = await retry_outbox_items(db, ns.ids, all_dead=ns.all_dead, target=ns.target)
            for r in results:
                print(f"{r['id']}: {r['result']}", file=out)
            return 0 if all(r["result"] == "queued" for r in results) else 1
        metrics = await outbox_metrics(db)
        print(json.dumps(metrics, indent=None if not ns.json else 2), file=out)
        return 0
    finally:
        await db.close()


def run_outbox_cli(args: list[str], settings: Any, out: TextIO | None = None) -> int:
    """Entry point for `assist outbox …`; `settings` is assist.settings.Settings (its `.database_target` is
    opened), or the database's file or URL itself."""
    try:
        ns = _parser().parse_args(args)
    except SystemExit as e:
        return int(e.code or 0)
    target = getattr(settings, "database_target", None) or settings
    pool_size = getattr(settings, "database_pool_size", DEFAULT_POOL_SIZE)
    return asyncio.run(_run(ns, target if isinstance(target, Path) else str(target), pool_size, out or sys.stdout))
