"""Bare vosk at real time: the reference for the server's CPU per call and its real-time capacity.

N stereo calls, each channel one plain `KaldiRecognizer` (words on), fed the way a phone system
delivers audio: a 100 ms piece every 100 ms per channel, call starts ramped over `--ramp` seconds,
decoded on a 2-thread pool (the cores) with at most one decode in flight per recogniser and queued
pieces joined when a channel falls behind; a partial after every piece, `Result()` at vosk's own
endpoints.  Nothing else runs in the process: no protocol, no gate, no store, no feed.  Round 0
uses fresh recognisers, round 1 the same ones after `FinalResult()` (recycled, as the server's
pool does).

    python bench/bare_realtime.py --wav call.wav --model DIR --calls 6 --rounds 2

Prints one JSON object per round: CPU-seconds per call-second (process CPU over the round / calls /
call length), cores busy, and decode lag (a piece's due time -> decoded) p50/p95/p99/max over the
whole round and over its steady part (from each call's 10th second on).
bench/asr.py runs this in a subprocess right before each server configuration, with the same N.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import pct
from tests.support.engine import read_channels

PIECE_S = 0.1


async def one_round(
    recs: list[Any], chans: list[bytes], rate: int, calls: int, ramp: float, pool: ThreadPoolExecutor
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    step = int(rate * PIECE_S) * 2
    n_pieces = (len(chans[0]) + step - 1) // step
    lags: list[tuple[float, float]] = []  # (seconds since the call started, lag)

    def decode(rec: Any, pcm: bytes) -> None:
        if rec.AcceptWaveform(pcm):
            rec.Result()
        else:
            rec.PartialResult()

    async def channel(rec: Any, pcm: bytes, t0: float) -> None:
        k = 0  # pieces handed to vosk
        while k < n_pieces:
            due = t0 + (k + 1) * PIECE_S
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            # everything that has arrived by now goes in one call (catch-up when behind)
            upto = min(n_pieces, max(k + 1, int((time.monotonic() - t0) / PIECE_S)))
            await loop.run_in_executor(pool, decode, rec, pcm[k * step : upto * step])
            newest_due = t0 + upto * PIECE_S
            lags.append((newest_due - t0, time.monotonic() - newest_due))
            k = upto
        await loop.run_in_executor(pool, rec.FinalResult)

    async def call(i: int) -> None:
        await asyncio.sleep(i * ramp / max(1, calls))
        t0 = time.monotonic()
        await asyncio.gather(*(channel(recs[2 * i + c], chans[c], t0) for c in range(2)))

    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.gather(*(call(i) for i in range(calls)))
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    duration = len(chans[0]) / 2 / rate
    every = [lag for _, lag in lags]
    steady = [lag for t, lag in lags if t >= 10.0]
    return {
        "calls": calls,
        "call_seconds": duration,
        "cpu_per_call_s": cpu / (calls * duration),
        "cores_busy": cpu / wall,
        "lag": {"p50": pct(every, 50), "p95": pct(every, 95), "p99": pct(every, 99), "max": max(every)},
        "steady_lag": {
            "p50": pct(steady, 50),
            "p95": pct(steady, 95),
            "p99": pct(steady, 99),
            "max": max(steady, default=float("nan")),
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--wav", type=Path, required=True, help="stereo PCM16 WAV: left customer, right agent")
    ap.add_argument("--model", type=Path, required=True, help="model directory")
    ap.add_argument("--calls", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--ramp", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import vosk

    vosk.SetLogLevel(-1)
    model = vosk.Model(str(args.model))
    rate, chans = read_channels(args.wav)
    recs = [vosk.KaldiRecognizer(model, rate) for _ in range(2 * args.calls)]
    for r in recs:
        r.SetWords(True)
    with ThreadPoolExecutor(args.threads) as pool:
        for rnd in range(args.rounds):
            out = asyncio.run(one_round(recs, chans, rate, args.calls, args.ramp, pool))
            out["round"] = rnd
            print(json.dumps(out), flush=True)
            recs = recs[1:] + recs[:1]  # recycled recognisers get another channel than before


if __name__ == "__main__":
    main()
