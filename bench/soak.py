"""Soak: a real `assist serve` under steady load for a long time, calls starting and ending all along; what must
not drift (issue 15).

    python bench/soak.py --capacity 6 --load 0.7 --minutes 30 --json bench/out/soak.json

`--load x --capacity N` keeps round(x*N) calls live at all times (each slot streams the same real-speech call at
real-time pace, then the next one at once; Twilio Media Streams and FreeSWITCH audiofork alternate).  Every
summary goes to a real webhook CRM (tests/crm_fakes/webhook.py, Standard Webhooks signatures) with no grace
period.  Measured:

- **memory**: the server's resident set every 10 s; the growth over the second half of the run (MB per
  10 minutes, least squares) is what "flat" means, the first half includes the recogniser pool filling up;
- **no lost summary**: every call that was admitted has a stored summary, and the CRM got every summary
  version exactly once (duplicates the receiver saw are counted, not stored twice);
- **same audio, same words**: the final transcript of each call (per speaker, in order) compared with the first
  call's through the same protocol; a call whose words differ is listed with both texts;
- the lag of final segments over time (first vs last 5 minutes), calls refused or shed, loop stalls.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assist import logs
from assist.stream.simulate import SimulationError, simulate
from bench.asr import make_audio
from bench.common import MODEL, free_port, pct, stop_process, wait_healthy
from tests.crm_fakes.webhook import WebhookReceiver

SECRET = "soak-secret"
PROTOCOLS = ("twilio", "audiofork")  # alternating by slot


def slope_mb_per_10min(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, bytes) points, in MB per 10 minutes; nan with fewer than 2 points."""
    if len(points) < 2:
        return float("nan")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    if den == 0:
        return float("nan")
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den
    return slope * 600 / 1e6


def words_of(call: dict[str, Any]) -> dict[str, str]:
    """A call's final transcript as one text per speaker, in order."""
    out: dict[str, list[str]] = {}
    for seg in sorted(call.get("transcript", []), key=lambda s: (s["start"], s["segment_id"])):
        if seg["text"]:
            out.setdefault(seg["speaker"], []).append(seg["text"])
    return {k: " ".join(v) for k, v in sorted(out.items())}


async def soak(url: str, pid: int, wav: Path, *, slots: int, seconds: float, rx: WebhookReceiver) -> dict[str, Any]:
    server = url.removeprefix("http://")
    proc = psutil.Process(pid)
    t0 = time.monotonic()
    started: dict[str, float] = {}  # call id -> its start (monotonic)
    errors: dict[str, str] = {}
    finals: list[tuple[float, float]] = []  # (seconds into the run, lag of a final segment)
    refused: list[dict[str, Any]] = []
    memory: list[tuple[float, float]] = []
    health: list[dict[str, Any]] = []

    async def listen(ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            ev = json.loads(msg.data)
            now = time.monotonic()
            if ev.get("type") == "segment" and ev.get("final") and ev.get("call_id") in started:
                finals.append((now - t0, now - (started[ev["call_id"]] + float(ev["end"]))))
            elif ev.get("type") == "call_refused":
                refused.append(ev)

    async def sample(session: aiohttp.ClientSession) -> None:
        while True:
            memory.append((time.monotonic() - t0, float(proc.memory_info().rss)))
            try:
                async with session.get(url + "/healthz") as r:
                    h = await r.json()
                health.append({"t": round(time.monotonic() - t0), "live": h["live_calls"], "asr": h["asr"]})
            except (TimeoutError, aiohttp.ClientError):
                pass
            await asyncio.sleep(10.0)

    async def slot(k: int) -> None:
        n = 0
        while time.monotonic() - t0 < seconds:
            call_id = f"soak-{k}-{n}"
            n += 1
            started[call_id] = time.monotonic()
            try:
                await simulate(wav, PROTOCOLS[k % 2], server, fast=False, call_id=call_id)
            except (SimulationError, OSError, aiohttp.ClientError) as exc:
                errors[call_id] = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(1.0)

    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
        session.ws_connect(url.replace("http", "ws", 1) + "/api/feed") as ws,
    ):
        listener = asyncio.create_task(listen(ws))
        sampler = asyncio.create_task(sample(session))
        # slots start 1/slots of a call apart, so calls start and end all along
        call_seconds = _wav_seconds(wav)

        async def delayed(k: int) -> None:
            await asyncio.sleep(k * call_seconds / slots)
            await slot(k)

        await asyncio.gather(*(delayed(k) for k in range(slots)))
        ran = time.monotonic() - t0
        # every summary delivered: wait until the outbox is empty (or 120 s)
        for _ in range(120):
            async with session.get(url + "/api/outbox/metrics") as r:
                m = await r.json()
            if m["queue_depth"] == 0:
                break
            await asyncio.sleep(1.0)
        sampler.cancel()
        listener.cancel()
        calls: dict[str, dict[str, Any]] = {}
        summaries: dict[str, bool] = {}
        for call_id in started:
            async with session.get(f"{url}/api/calls/{call_id}") as r:
                if r.status == 200:
                    calls[call_id] = await r.json()
            async with session.get(f"{url}/api/calls/{call_id}/summary") as r:
                summaries[call_id] = r.status == 200
        async with session.get(url + "/api/outbox/metrics") as r:
            outbox = await r.json()

    admitted = [c for c in started if c in calls]
    # a call shed under overload ends early: its words are compared with nothing
    whole = [c for c in admitted if calls[c].get("end_reason") != "overload"]
    texts = {c: words_of(calls[c]) for c in whole}
    order = sorted(whole, key=lambda c: started[c])
    # the same audio through one protocol gives the same samples (μ-law 8 kHz for Twilio, L16 for audiofork):
    # each call is compared with the first call of its own slot parity (= its protocol)
    reference: dict[str, dict[str, str]] = {}
    for c in order:
        reference.setdefault(_protocol_of(c), texts[c])
    differ = [{"call_id": c, "words": texts[c]} for c in order if texts[c] != reference[_protocol_of(c)]]
    half = ran / 2
    second_half = [p for p in memory if p[0] >= half]
    stored = rx.stored_per_summary()
    first5 = [lag for t, lag in finals if t < 300]
    last5 = [lag for t, lag in finals if t >= ran - 300]
    return {
        "seconds": round(ran),
        "slots": slots,
        "calls": len(started),
        "admitted": len(admitted),
        "simulator_errors": errors,
        "refused_events": len(refused),
        "summaries_missing": [c for c in admitted if not summaries.get(c)],
        "crm_records": len(stored),
        "crm_versions_stored_twice": [k for k, v in stored.items() if v != 1],
        "crm_duplicates_ignored": rx.duplicates,
        "crm_rejected": rx.rejected,
        "crm_summaries": len(rx.summaries),
        "outbox_end": outbox,
        "shed": len(admitted) - len(whole),
        "transcripts_compared": len(whole),
        "transcripts_identical": len(whole) - len(differ),
        "transcripts_differing": differ[:10],
        "reference_words": reference,
        "rss_mb_start": round(memory[0][1] / 1e6) if memory else None,
        "rss_mb_at_half": round(second_half[0][1] / 1e6) if second_half else None,
        "rss_mb_end": round(memory[-1][1] / 1e6) if memory else None,
        "rss_mb_per_10min_second_half": round(slope_mb_per_10min(second_half), 2),
        "final_lag_first_5min": {"n": len(first5), "p50": pct(first5, 50), "p95": pct(first5, 95)},
        "final_lag_last_5min": {"n": len(last5), "p50": pct(last5, 50), "p95": pct(last5, 95)},
        "memory": [(round(t), round(b / 1e6)) for t, b in memory],
        "health": health,
    }


def _protocol_of(call_id: str) -> str:
    return PROTOCOLS[int(call_id.split("-")[1]) % 2]


def _wav_seconds(wav: Path) -> float:
    import wave

    with wave.open(str(wav)) as w:
        return w.getnframes() / w.getframerate()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="assist-soak-"))
    wav = work / "call.wav"
    make_audio(wav, args.call_seconds, "varied")
    slots = max(1, round(args.capacity * args.load))
    async with WebhookReceiver(SECRET) as rx:
        port = free_port()
        env = {
            **os.environ,
            "ASSIST_PORT": str(port),
            "ASSIST_HOST": "127.0.0.1",
            "ASSIST_DATA_DIR": str(work),
            "ASSIST_VOSK_MODEL": MODEL,
            "ASSIST_AUDIOSOCKET_PORT": "",
            "ASSIST_RTP_PORTS": "",
            "ASSIST_LOG_LEVEL": "WARNING",
            "ASSIST_MODEL_CACHE": str(work / "models"),
            "ASSIST_SYNC_TARGETS": '["webhook"]',
            "ASSIST_SYNC_WEBHOOK_URL": rx.url + "/hook",
            "ASSIST_SYNC_WEBHOOK_SECRET": SECRET,
            "ASSIST_SYNC_GRACE_MINUTES": "0",
        }
        log = (work / "server.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "assist.cli", "serve"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        url = f"http://127.0.0.1:{port}"
        try:
            await wait_healthy(url)
            out = await soak(url, proc.pid, wav, slots=slots, seconds=args.minutes * 60, rx=rx)
        finally:
            stop_process(proc, 60)
            log.close()
        out["server_log"] = str(work / "server.log")
        out["exit_code"] = proc.returncode
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    ap.add_argument("--capacity", type=int, required=True, help="calls this host decodes in real time (bench/asr.py)")
    ap.add_argument("--load", type=float, default=0.7, help="live calls as a share of --capacity")
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--call-seconds", type=float, default=45.0, help="speech per call")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    logs.configure("console", "WARNING")
    out = asyncio.run(run(args))
    brief = {k: v for k, v in out.items() if k not in ("memory", "health")}
    print(json.dumps(brief, indent=1, ensure_ascii=False, default=str))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
