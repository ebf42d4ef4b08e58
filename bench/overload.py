"""Overload benchmark: real speech calls at 2x this host's capacity through the phone protocols, at real-time
pace, into a real `assist serve`; what the overload policy admits, refuses and sheds, and the lag of the calls
it keeps (issue 15 #9).

    python bench/overload.py --capacity 8 --seconds 30 --ramp 30 --compare --json bench/out/overload.json

`--capacity N` is how many calls this host holds in real time (bench/asr.py measures it; RESULTS §1); the bench
offers `factor x N` calls, their starts spread evenly over `--ramp` seconds, alternating Twilio Media Streams and
FreeSWITCH audiofork (`--protocols`). The server runs with the configured stream ceiling well above the offered
load (`ASSIST_MAX_STREAMS` = 4 per offered call unless `--max-streams`), so only what the server *measures*
(lag, backlog, decode cost) turns calls away, as on a host whose ceiling was set for a faster machine.
Before the load, as many short calls as will be offered are streamed as fast as they go, so the server's
recogniser pool is built and warm as in service (`--no-warmup` measures a fresh server).

`--compare` runs the same load again with overload shedding disabled (`ASSIST_MAX_LAG` = 1000: no partials-off,
no harder gate, no refusals on lag, no shedding; the measured-decode-cost stream limit still applies, it has no
switch) to show what the policy changes.

Reported per run: calls offered / admitted / refused at start (by reason) / shed mid-call / completed; for the
calls that ran to the end the lag of final and partial segments (a segment's end in the audio -> the segment
received on `WS /api/feed`, as bench/asr.py measures it); the overload level, backlog, stream limit, decode cost
and calls shed from `/healthz` once a second; and whether every refused or shed call was announced with a
`call_refused` event on the feed.  `--json PATH` writes everything (with the per-second samples).

`run_load()` is the machinery; it drives any running server (tests/test_overload_bench.py runs it in-process).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assist import logs
from assist.stream.simulate import SimulationError, simulate
from bench.asr import make_audio
from bench.common import MODEL, free_port, pct, stop_process, wait_healthy
from tests.support.speech import DEFAULT_TURNS, make_call


@dataclass
class CallResult:
    """One offered call: what the simulator saw and what the feed said about it."""

    call_id: str
    protocol: str
    offered_at: float  # seconds after the first call was offered
    outcome: str = "unknown"  # completed | refused | shed | failed
    error: str | None = None  # the simulator's error (refusals and sheds end with the protocol's error)
    started: bool = False  # a call_started event arrived
    refused_events: list[str] = field(default_factory=list)  # reasons of call_refused events
    ended_reason: str | None = None  # reason of the call_ended event
    finals: list[float] = field(default_factory=list)  # lag of each final segment (s)
    partials: list[float] = field(default_factory=list)  # lag of each partial segment (s)


def refusal_kind(reason: str) -> str:
    """The class of a refusal from its reason text (assist/stream/recognition.py `admission` and `_shed`)."""
    if reason.startswith("overloaded: recognition is shedding load"):
        return "overload level"
    if reason.startswith("overloaded:"):
        return "shed"
    if reason.startswith("at capacity"):
        return "stream limit"
    if reason.startswith("recognition is lagging"):
        return "lag"
    return reason.split(":")[0]


def _lags(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50": pct(values, 50), "p95": pct(values, 95), "max": max(values, default=float("nan"))}


async def run_load(
    url: str, wav: Path, *, calls: int, ramp: float, protocols: list[str], tail: float = 3.0, prefix: str = "ovl"
) -> dict[str, Any]:
    """Offer `calls` calls of `wav` at real-time pace to the server at `url`, starts spread over `ramp` seconds;
    listen on the live feed and sample /healthz each second.  The run's accounting, lags and samples."""
    server = url.removeprefix("http://")
    results = {
        f"{prefix}-{i}": CallResult(f"{prefix}-{i}", protocols[i % len(protocols)], i * ramp / max(1, calls))
        for i in range(calls)
    }
    t0s: dict[str, float] = {}
    samples: list[dict[str, Any]] = []
    other_refusals: list[dict[str, Any]] = []
    wall0 = time.monotonic()

    def on_event(at: float, ev: dict[str, Any]) -> None:
        r = results.get(str(ev.get("call_id")))
        kind = ev.get("type")
        if r is None:
            if kind == "call_refused":
                other_refusals.append(ev)
            return
        if kind == "call_started":
            r.started = True
        elif kind == "call_refused":
            r.refused_events.append(str(ev.get("reason")))
        elif kind == "call_ended":
            r.ended_reason = str(ev.get("reason"))
        elif kind == "segment" and r.call_id in t0s:
            lag = at - (t0s[r.call_id] + float(ev["end"]))
            (r.finals if ev["final"] else r.partials).append(lag)

    async def listen(ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            on_event(time.monotonic(), json.loads(msg.data))

    async def sample(session: aiohttp.ClientSession) -> None:
        while True:
            try:
                async with session.get(url + "/healthz") as resp:
                    h = await resp.json()
                asr = h["asr"]
                samples.append(
                    {
                        "t": round(time.monotonic() - wall0, 1),
                        "level": asr["overload_level"],
                        "backlog": asr["backlog"],
                        "streams": asr["streams"],
                        "stream_limit": asr["stream_limit"],
                        "decode_cost": asr["decode_cost"],
                        "lag": asr["lag"],
                        "live_calls": h["live_calls"],
                        "calls_shed": h["counters"]["calls_shed"],
                        "calls_refused": h["counters"]["calls_refused"],
                    }
                )
            except (TimeoutError, aiohttp.ClientError, KeyError):
                pass  # a busy server may miss a sample; the gap shows in the times
            await asyncio.sleep(1.0)

    async def one(r: CallResult) -> None:
        await asyncio.sleep(r.offered_at)
        t0s[r.call_id] = time.monotonic()
        try:
            await simulate(wav, r.protocol, server, fast=False, call_id=r.call_id)
        except SimulationError as exc:
            r.error = str(exc)
        except (OSError, aiohttp.ClientError) as exc:  # the connection broke some other way
            r.error = f"{type(exc).__name__}: {exc}"

    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        aiohttp.ClientSession() as feed_session,
        feed_session.ws_connect(url.replace("http", "ws", 1) + "/api/feed") as ws,
    ):
        listener = asyncio.create_task(listen(ws))
        sampler = asyncio.create_task(sample(session))
        await asyncio.gather(*(one(r) for r in results.values()))
        await asyncio.sleep(tail)  # the last finals and call_ended events of calls still being decoded
        sampler.cancel()
        listener.cancel()
        async with session.get(url + "/healthz") as resp:
            health = await resp.json()

    for r in results.values():
        shed = any(refusal_kind(x) == "shed" for x in r.refused_events) or r.ended_reason == "overload"
        if not r.started:
            r.outcome = "refused" if (r.refused_events or r.error) else "failed"
        elif shed:
            r.outcome = "shed"
        elif r.error is None:
            r.outcome = "completed"
        else:
            r.outcome = "failed"
    return summarise(list(results.values()), samples, health, other_refusals)


def summarise(
    calls: list[CallResult], samples: list[dict[str, Any]], health: dict[str, Any], other_refusals: list[dict[str, Any]]
) -> dict[str, Any]:
    """The accounting (every offered call in exactly one outcome), lags of completed calls, the level's course."""
    outcome = Counter(r.outcome for r in calls)
    refused_by = Counter(
        refusal_kind(r.refused_events[0]) if r.refused_events else "no event" for r in calls if r.outcome == "refused"
    )
    completed = [r for r in calls if r.outcome == "completed"]
    finals = [x for r in completed for x in r.finals]
    partials = [x for r in completed for x in r.partials]
    per_call_final_max = [max(r.finals) for r in completed if r.finals]
    levels = Counter(s["level"] for s in samples)
    return {
        "offered": len(calls),
        "admitted": sum(1 for r in calls if r.started),
        "refused": outcome["refused"],
        "refused_by": dict(refused_by),
        "shed": outcome["shed"],
        "completed": outcome["completed"],
        "failed": outcome["failed"],
        # alerting: every refusal and every shed was announced on the feed
        "refused_alerted": sum(1 for r in calls if r.outcome == "refused" and r.refused_events),
        "shed_alerted": sum(1 for r in calls if r.outcome == "shed" and r.refused_events),
        "final_lag": _lags(finals),
        "partial_lag": _lags(partials),
        "worst_call_final_lag": max(per_call_final_max, default=float("nan")),
        "seconds_at_level": dict(levels),
        "max_backlog": max((s["backlog"] for s in samples), default=float("nan")),
        "calls_shed_counter": health["counters"]["calls_shed"],
        "calls_refused_counter": health["counters"]["calls_refused"],
        "final_health": {
            k: health["asr"][k]
            for k in ("overload_level", "stream_limit", "decode_cost", "shed", "refused", "lag_summary")
        },
        "other_refusals": other_refusals,
        "samples": samples,
        "calls": [asdict(r) for r in calls],
    }


async def warm_up(url: str, wav: Path, calls: int) -> None:
    """Stream `calls` short calls as fast as they go, then wait for recognition to be idle: a server in service
    has its recognisers built and warm (the pool keeps them), a fresh one pays vosk's first-decode burst.  Sent
    faster than real time, they do not count as overload; a refusal on lag is ignored."""
    server = url.removeprefix("http://")

    async def one(i: int) -> None:
        try:
            await simulate(wav, "twilio", server, fast=True, call_id=f"warm-{i}")
        except SimulationError:
            pass  # refused while the others decode: fewer recognisers warmed, not an error of the bench

    await asyncio.gather(*(one(i) for i in range(calls)))
    async with aiohttp.ClientSession() as session:
        for _ in range(120):
            async with session.get(url + "/healthz") as resp:
                asr = (await resp.json())["asr"]
            if asr["streams"] == 0 and asr["lag"] == 0 and asr["overload_level"] == "NORMAL":
                return
            await asyncio.sleep(1.0)


def _spawn_server(env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    """`assist serve` with its log in a file (kept for reading after the run)."""
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "assist.cli", "serve"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    return proc, log


async def run_server(
    wav: Path,
    *,
    calls: int,
    ramp: float,
    protocols: list[str],
    max_lag: float,
    max_streams: int,
    extra_env: dict[str, str],
    warmup: Path | None = None,
) -> dict[str, Any]:
    """A fresh `assist serve` process (so the simulators' CPU is not the server's) under one load."""
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="assist-overload-")
    env = {
        **os.environ,
        "ASSIST_PORT": str(port),
        "ASSIST_HOST": "127.0.0.1",
        "ASSIST_DATA_DIR": tmp,
        "ASSIST_VOSK_MODEL": MODEL,
        "ASSIST_MAX_STREAMS": str(max_streams),
        "ASSIST_MAX_LAG": str(max_lag),
        "ASSIST_AUDIOSOCKET_PORT": "",
        "ASSIST_RTP_PORTS": "",
        "ASSIST_LOG_LEVEL": "WARNING",
        "ASSIST_MODEL_CACHE": str(Path(tmp) / "models"),
        **extra_env,
    }
    proc, log = _spawn_server(env, Path(tmp) / "server.log")
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_healthy(url)
        if warmup is not None:
            await warm_up(url, warmup, calls)
        out = await run_load(url, wav, calls=calls, ramp=ramp, protocols=protocols)
        out["server_log"] = str(Path(tmp) / "server.log")
        return out
    finally:
        stop_process(proc, 30)
        log.close()


def _f(x: float) -> str:
    return "–" if x != x else f"{x:.2f}"  # nan (no values) as a dash


def print_table(runs: list[dict[str, Any]], max_lag_default: float) -> None:
    print(
        "| run | offered | admitted | refused at start (by reason) | shed mid-call | completed | failed "
        "| alerted (refused / shed) | final lag p50 / p95 / max s | partial lag p95 s | max backlog s "
        "| seconds at level (N/NP/GH/S) | stream limit (end) | decode cost (end) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        r = run["result"]
        by = ", ".join(f"{k} {v}" for k, v in sorted(r["refused_by"].items())) or "–"
        lv = r["seconds_at_level"]
        levels = "/".join(str(lv.get(k, 0)) for k in ("NORMAL", "NO_PARTIALS", "GATE_HARDER", "SHED"))
        fl, pl = r["final_lag"], r["partial_lag"]
        fh = r["final_health"]
        print(
            f"| {run['label']} | {r['offered']} | {r['admitted']} | {r['refused']} ({by}) | {r['shed']} "
            f"| {r['completed']} | {r['failed']} | {r['refused_alerted']}/{r['refused']} · "
            f"{r['shed_alerted']}/{r['shed']} | {_f(fl['p50'])} / {_f(fl['p95'])} / {_f(fl['max'])} "
            f"| {_f(pl['p95'])} | {_f(r['max_backlog'])} | {levels} | {fh['stream_limit']} "
            f"| {fh['decode_cost']} |"
        )
    print(
        f"\n(ASSIST_MAX_LAG = {max_lag_default} s in the policy run; the target is final p95 under "
        f"{2 * max_lag_default:.1f} s)"
    )


def print_course(runs: list[dict[str, Any]]) -> None:
    """The overload level over time, one line per run, every 5th sample."""
    for run in runs:
        print(f"\n{run['label']}: t s → level, backlog s, streams / limit, calls shed")
        for s in run["result"]["samples"][::5]:
            print(
                f"  {s['t']:6.1f}  {s['level']:<12} {s['backlog']:6.2f}  {s['streams']:3d} / {s['stream_limit']:3d}"
                f"  shed {s['calls_shed']}"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    ap.add_argument("--capacity", type=int, required=True, help="calls this host decodes in real time (bench/asr.py)")
    ap.add_argument("--factor", type=float, default=2.0, help="offered load as a multiple of --capacity")
    ap.add_argument(
        "--seconds",
        type=float,
        default=30,
        help="speech per call, as bench/asr.py counts it (a call's length is printed)",
    )
    ap.add_argument("--ramp", type=float, default=30, help="call starts are spread over this many seconds")
    ap.add_argument("--protocols", default="twilio,audiofork", help="alternated between calls")
    ap.add_argument("--audio", choices=["tight", "varied"], default="tight")
    ap.add_argument("--max-lag", type=float, default=1.5, help="ASSIST_MAX_LAG of the policy run (the default)")
    ap.add_argument("--max-streams", type=int, help="ASSIST_MAX_STREAMS (default: 4 per offered call, no ceiling)")
    ap.add_argument("--compare", action="store_true", help="also run with overload shedding off (max lag 1000)")
    ap.add_argument("--no-warmup", action="store_true", help="measure a fresh server (cold recognisers)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    logs.configure("console", "WARNING")  # the simulators' per-call lines would bury the table

    calls = max(1, round(args.capacity * args.factor))
    max_streams = args.max_streams or 4 * calls
    work = Path(tempfile.mkdtemp(prefix="assist-overload-audio-"))
    wav = work / "call.wav"
    timeline = make_audio(wav, args.seconds, args.audio)
    warm = work / "warm.wav"
    make_call(warm, DEFAULT_TURNS[:2])
    protocols = args.protocols.split(",")
    configs = [("overload policy", args.max_lag)] + ([("shedding off (max lag 1000)", 1000.0)] if args.compare else [])
    runs = []
    for label, max_lag in configs:
        result = asyncio.run(
            run_server(
                wav,
                calls=calls,
                ramp=args.ramp,
                protocols=protocols,
                max_lag=max_lag,
                max_streams=max_streams,
                extra_env={},
                warmup=None if args.no_warmup else warm,
            )
        )
        runs.append({"label": label, "max_lag": max_lag, "result": result})
        print(
            f"# done {label}: admitted {result['admitted']}/{result['offered']}, shed {result['shed']}, "
            f"final p95 {_f(result['final_lag']['p95'])} s",
            file=sys.stderr,
        )
    print(
        f"\n{calls} calls offered ({args.factor:g}x capacity {args.capacity}), each a {timeline[-1][2]:.0f} s stereo "
        f"call ({args.audio}), starts over {args.ramp:g} s, protocols {args.protocols}, real-time pace; "
        f"ASSIST_MAX_STREAMS={max_streams}; machine: {os.cpu_count()} cores\n"
    )
    print_table(runs, args.max_lag)
    print_course(runs)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {"args": {k: str(v) for k, v in vars(args).items()}, "calls": calls, "runs": runs},
                indent=1,
                default=str,
            )
        )


if __name__ == "__main__":
    main()
