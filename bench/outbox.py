"""Benchmark of the CRM outbox: N summaries through finalize_call → outbox → worker → a local webhook CRM.

The CRM runs in its own process on 127.0.0.1, verifies every Standard Webhooks signature, dedupes on
webhook-id, and fails a share of requests (half 503 before storing, half 500 *after* storing, the ambiguous
case that forces a redelivery).  Reported: throughput, time from call end to CRM acknowledgement
(p50/p95/p99/max), attempts by outcome, and duplicates (summaries the CRM stored more than once; must be 0).

    /work/venv/bin/python bench/outbox.py --n 10000 --fail-rate 0.05 --mode both

Modes: `burst` commits all N summaries first, then starts the worker (drain throughput); `paced` commits
them at --rate per second while the worker runs (latency under a steady load).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import multiprocessing as mp
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assist import logs

logs.configure("json", "ERROR")  # before the modules below bind their loggers

import assist.store.outbox  # noqa: F401  (registers the outbox tables)
from assist.store.db import Database
from assist.sync.api import outbox_metrics, percentile
from assist.sync.crm.webhook import WebhookAdapter
from assist.sync.finalize import finalize_call
from assist.sync.outbox import OutboxWorker
from assist.sync.settings import SyncSettings
from assist.sync.summary import build_summary

SECRET = "whsec_" + base64.b64encode(b"bench-secret-bench-secret-32byte").decode()
FINDINGS: dict[str, Any] = {
    "disclosures": {"identity": {"done": True, "at": 3.0}, "recording_notice": {"done": True, "at": 1.0}},
    "violations": [],
    "call_time": {"allowed": True, "warning": False, "reason": ""},
    "temperament": {"label": "procrastinating", "confidence": 0.7, "angry": False},
    "risks": [],
    "promise": {"amount": 1200, "date": "2026-12-15"},
    "outcome": "promise_to_pay",
    "dispute": False,
    "new_contact_numbers": [],
    "economic_situation": "收入不稳定",
    "willingness": "medium",
}


# ------------------------------------------------------------------------------------------ the CRM process


def crm_process(port_q: Any, fail_rate: float, seed: int) -> None:
    from aiohttp import web

    key = base64.b64decode(SECRET[6:])
    rng = random.Random(seed)
    stored: dict[str, int] = {}
    stats = {"requests": 0, "stored": 0, "redeliveries": 0, "failed_before": 0, "failed_after": 0, "bad_sig": 0}

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        stats["requests"] += 1
        h = request.headers
        signed = f"{h['webhook-id']}.{h['webhook-timestamp']}.".encode() + body
        want = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(h["webhook-signature"].partition(",")[2], want):
            stats["bad_sig"] += 1
            return web.json_response({"error": "signature"}, status=401)
        roll = rng.random()
        if roll < fail_rate / 2:
            stats["failed_before"] += 1
            return web.json_response({"error": "unavailable"}, status=503)
        msg_id = h["webhook-id"]
        if msg_id in stored:
            stats["redeliveries"] += 1
        else:
            json.loads(body)
            stored[msg_id] = 1
            stats["stored"] += 1
        if roll < fail_rate:
            stats["failed_after"] += 1  # stored, but the client is told it failed
            return web.json_response({"error": "internal"}, status=500)
        return web.json_response({"ok": True})

    async def get_stats(request: web.Request) -> web.Response:
        return web.json_response({**stats, "distinct_ids": len(stored)})

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/hook", hook)
        app.router.add_get("/stats", get_stats)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port_q.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(main())


# ------------------------------------------------------------------------------------------ the run


async def prepare_calls(db: Database, n: int, prefix: str) -> None:
    rows = [
        (f"{prefix}{i:06d}", "bench", f"agent-{i % 50}", str(500 + i % 1000), "zh-CN", "outbound", "live")
        for i in range(n)
    ]
    async with db.transaction() as tx:
        for r in rows:
            await tx.execute(
                "INSERT INTO calls(call_id, protocol, agent_id, account_id, language, direction, status)"
                " VALUES (?,?,?,?,?,?,?)",
                r,
            )


async def end_call(db: Database, call_id: str, cfg: SyncSettings) -> None:
    """What the service does at call end: mark it ended, build the summary, finalize (one transaction)."""
    now = time.time()
    ended = datetime.fromtimestamp(now, UTC).isoformat()
    await db.execute("UPDATE calls SET ended_at=?, duration=? WHERE call_id=?", (ended, 180.0, call_id))
    call = {
        "call_id": call_id,
        "language": "zh-CN",
        "account_id": "501",
        "agent_id": "a",
        "direction": "outbound",
        "started_at": None,
        "ended_at": ended,
        "duration": 180.0,
        "meta": {},
    }
    await finalize_call(db, call_id, build_summary(call, FINDINGS), ["webhook"], now, settings=cfg)


async def run(mode: str, n: int, rate: float, url: str, cfg: SyncSettings, workdir: Path) -> dict[str, Any]:
    db = await Database(workdir / f"bench-{mode}.db").open()
    await prepare_calls(db, n, f"{mode}-")
    adapter = WebhookAdapter(url, SECRET, timeout=cfg.http_timeout)
    worker = OutboxWorker(db, {"webhook": adapter}, cfg, worker_id=f"bench-{mode}")
    t_start = time.perf_counter()
    if mode == "burst":
        for i in range(n):
            await end_call(db, f"{mode}-{i:06d}", cfg)
        t_committed = time.perf_counter()
        await worker.start()
    else:
        await worker.start()
        t0 = time.perf_counter()
        for i in range(n):
            await end_call(db, f"{mode}-{i:06d}", cfg)
            worker.wake()
            ahead = t0 + (i + 1) / rate - time.perf_counter()
            if ahead > 0:
                await asyncio.sleep(ahead)
        t_committed = time.perf_counter()
    t_work = time.perf_counter() if mode == "burst" else t_start
    epoch_work = time.time() - (time.perf_counter() - t_work)
    while True:
        row = await db.fetchone("SELECT COUNT(*) AS n FROM outbox WHERE status!='done'")
        if row is not None and row["n"] == 0:
            break
        await asyncio.sleep(0.05)
    t_end = time.perf_counter()
    await worker.close()
    rows = await db.fetchall(
        "SELECT delivered_at - call_ended_at AS lat, delivered_at - ? AS t FROM outbox", (epoch_work,)
    )
    lat = [r["lat"] for r in rows]
    t95 = percentile([r["t"] for r in rows], 95) or 1e-9
    metrics = await outbox_metrics(db)
    await db.close()
    return {
        "mode": mode,
        "n": n,
        "commit_seconds": round(t_committed - t_start, 2),
        "deliver_seconds": round(t_end - t_work, 2),
        "throughput_per_s": round(n / (t_end - t_work), 1),
        "throughput_first_95pct_per_s": round(0.95 * n / t95, 1),
        "latency_s": {q: round(percentile(lat, p) or 0.0, 3) for q, p in (("p50", 50), ("p95", 95), ("p99", 99))}
        | {"max": round(max(lat), 3)},
        "results_by_kind": metrics["results_by_kind"],
    }


async def main_async(ns: argparse.Namespace) -> list[dict[str, Any]]:
    ctx = mp.get_context("spawn")
    port_q = ctx.Queue()
    crm = ctx.Process(target=crm_process, args=(port_q, ns.fail_rate, ns.seed), daemon=True)
    crm.start()
    port = port_q.get(timeout=30)
    url = f"http://127.0.0.1:{port}"
    cfg = SyncSettings(
        targets=[],
        grace_minutes=0,
        concurrency=ns.concurrency,
        batch=ns.batch,
        poll_seconds=0.05,
        backoff_base=ns.backoff_base,
        http_timeout=10,
    )
    results = []
    import aiohttp

    try:
        with tempfile.TemporaryDirectory() as tmp:
            for mode in ["burst", "paced"] if ns.mode == "both" else [ns.mode]:
                async with aiohttp.ClientSession() as s, s.get(f"{url}/stats") as r:
                    before = await r.json()
                res = await run(mode, ns.n, ns.rate, f"{url}/hook", cfg, Path(tmp))
                async with aiohttp.ClientSession() as s, s.get(f"{url}/stats") as r:
                    after = await r.json()
                crm_stats = {k: after[k] - before[k] for k in after}
                res["crm"] = crm_stats
                res["duplicates"] = crm_stats["stored"] - ns.n  # summaries stored more than once
                res["lost"] = ns.n - crm_stats["distinct_ids"]
                results.append(res)
                print(json.dumps(res, ensure_ascii=False), flush=True)
    finally:
        crm.terminate()
        crm.join(5)
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--fail-rate", type=float, default=0.05)
    p.add_argument("--mode", choices=["burst", "paced", "both"], default="both")
    p.add_argument("--rate", type=float, default=200.0, help="calls ending per second in paced mode")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--backoff-base", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=1)
    ns = p.parse_args()
    results = asyncio.run(main_async(ns))
    return 0 if all(r["duplicates"] == 0 and r["lost"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
