"""Recognition benchmark: N concurrent stereo calls at real-time pace through a real server, next to
a bare vosk loop decoding the same audio in the same run.

    python bench/asr.py --calls 2,4,6 --vad off,energy --seconds 60

Reports per configuration: CPU per call (CPU-seconds per call-second, server process), cores busy,
real-time factor, memory per call, partial and final latency (a segment's end in the audio -> the
segment received by a WebSocket listener; p50/p95), decode lag, event-loop stalls, and the transcript
difference of the energy gate against no gate (WER).  The bare loop is a plain `KaldiRecognizer`
loop in this process over the same two channels (first pass = fresh recognisers, second pass =
recycled, as the server's pool does).  Results are printed as markdown.
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
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assist.stream.simulate import simulate
from assist.stream.vad import EnergyGate
from bench.common import MODEL, free_port, pct, prepare_model, stop_process, wait_healthy
from tests.support.engine import read_channels
from tests.support.speech import DEFAULT_TURNS, Turn, make_call, varied_turns


def make_audio(path: Path, seconds: float, kind: str = "tight") -> list[tuple[str, float, float, str]]:
    """`tight`: the six default turns repeated, 0.9 s between turns (each channel is speech 35-50 % of
    the time); `varied`: turns drawn from the sentence bank with pauses of 0.9-3.4 s, as calls with
    thinking time have (each channel speech ~30 % of the time)."""
    turns: list[Turn] = []
    k = 0
    while sum(len(t.text) for t in turns) / 6.5 < seconds:  # espeak-ng ko speaks ~6.5 chars/s at these rates
        turns += DEFAULT_TURNS if kind == "tight" else varied_turns(100 + k, 6)
        k += 1
    if kind == "tight":
        return make_call(path, turns)
    return make_call(path, turns, gap_jitter=2.5)


def bare_loop(model_dir: Path, path: Path) -> dict[str, Any]:
    """Decode both channels with plain vosk in 100 ms chunks, one thread per channel on a pool of two
    (the server's pool size here, so both see the same contention between the cores): first with
    fresh recognisers, then with the same recognisers recycled onto the other channel."""
    from concurrent.futures import ThreadPoolExecutor

    import vosk

    vosk.SetLogLevel(-1)
    model = vosk.Model(str(model_dir))
    rate, chans = read_channels(path)
    audio_s = len(chans[0]) / 2 / rate
    step = rate // 10 * 2
    recs = [vosk.KaldiRecognizer(model, rate) for _ in chans]
    for r in recs:
        r.SetWords(True)

    def decode(rec: Any, pcm: bytes) -> list[str]:
        ws: list[str] = []
        for i in range(0, len(pcm), step):
            if rec.AcceptWaveform(pcm[i : i + step]):
                ws += json.loads(rec.Result()).get("text", "").split()
            else:
                rec.PartialResult()
        ws += json.loads(rec.FinalResult()).get("text", "").split()
        return ws

    out: dict[str, Any] = {}
    texts: dict[str, list[list[str]]] = {}
    with ThreadPoolExecutor(2) as pool:
        for label in ("fresh", "recycled"):
            order = recs if label == "fresh" else recs[::-1]  # reuse hands each recogniser the other channel
            cpu0, wall0 = time.process_time(), time.perf_counter()
            words = list(pool.map(decode, order, chans))
            cpu = time.process_time() - cpu0
            out[label] = {"cpu_per_call_s": cpu / audio_s, "rtf": (time.perf_counter() - wall0) / audio_s}
            texts[label] = words
    out["texts"] = texts["fresh"]
    return out


def bare_realtime(model_dir: Path, path: Path, calls: int, rounds: int, ramp: float) -> list[dict[str, Any]]:
    """The same N calls decoded by plain vosk at real-time pace (bench/bare_realtime.py), in a process of
    its own so its CPU is counted alone; one result per round (0 = fresh recognisers, then recycled)."""
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "bare_realtime.py"),
            "--wav",
            str(path),
            "--model",
            str(model_dir),
            "--calls",
            str(calls),
            "--rounds",
            str(rounds),
            "--ramp",
            str(ramp),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def wer(ref: list[str], hyp: list[str]) -> float:
    if not ref:
        return 0.0 if not hyp else 1.0
    d = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(hyp, 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
            prev, d[j] = d[j], cur
    return d[-1] / len(ref)


def server_env(config: str) -> dict[str, str]:
    """`energy` or `energy:poll_interval_ms=0:vad_tail=0.5`: the VAD mode, then any settings (ASSIST_*) to change."""
    mode, *opts = config.split(":")
    env = {"ASSIST_VAD": mode}
    for opt in opts:
        key, _, value = opt.partition("=")
        env[f"ASSIST_{key.upper()}"] = value
    return env


def loop_switches(pid: int) -> int:
    """Voluntary context switches of the process's main thread (the event loop): each is a wake-up after a wait."""
    status = Path(f"/proc/{pid}/task/{pid}/status").read_text()
    return int(status.split("\nvoluntary_ctxt_switches:")[1].split()[0])


async def run_server_round(path: Path, calls: int, vad: str, rounds: int, ramp: float) -> list[dict[str, Any]]:
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="assist-bench-")
    env = {
        **os.environ,
        "ASSIST_PORT": str(port),
        "ASSIST_HOST": "127.0.0.1",
        "ASSIST_DATA_DIR": tmp,
        "ASSIST_VOSK_MODEL": MODEL,
        "ASSIST_MAX_STREAMS": "200",
        "ASSIST_MAX_LAG": "1000",
        "ASSIST_AUDIOSOCKET_PORT": "",
        "ASSIST_RTP_PORTS": "",
        "ASSIST_LOG_LEVEL": "WARNING",
        "ASSIST_MODEL_CACHE": str(Path(tmp) / "models"),
        **server_env(vad),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "assist.cli", "serve"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_healthy(url)
        ps = psutil.Process(proc.pid)
        rate, chans = read_channels(path)
        duration = len(chans[0]) / 2 / rate
        events: list[tuple[float, dict[str, Any]]] = []

        async def listen(ws: aiohttp.ClientWebSocketResponse) -> None:
            async for msg in ws:
                events.append((time.monotonic(), json.loads(msg.data)))

        results: list[dict[str, Any]] = []
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(url.replace("http", "ws") + "/api/feed") as ws,
        ):
            listener = asyncio.create_task(listen(ws))
            for rnd in range(rounds):
                events.clear()
                t0s: dict[str, float] = {}
                cpu0 = sum(ps.cpu_times()[:2])
                async with session.get(url + "/healthz") as hr:
                    dec0 = (await hr.json())["asr"]["decode_cpu_seconds"]
                rss0 = ps.memory_info().rss
                wake0 = loop_switches(proc.pid)
                wall0 = time.monotonic()

                async def one(i: int) -> None:
                    await asyncio.sleep(i * ramp / max(1, calls))
                    cid = f"bench-{rnd}-{i}"
                    t0s[cid] = time.monotonic()
                    await simulate(path, "twilio", f"127.0.0.1:{port}", fast=False, call_id=cid)

                await asyncio.gather(*(one(i) for i in range(calls)))
                await asyncio.sleep(2.0)
                wall = time.monotonic() - wall0
                cpu = sum(ps.cpu_times()[:2]) - cpu0
                wakeups = (loop_switches(proc.pid) - wake0) / wall
                rss = ps.memory_info().rss
                fin: list[float] = []
                par: list[float] = []
                texts: dict[str, dict[str, list[str]]] = {}
                for at, ev in events:
                    if ev.get("type") != "segment":
                        continue
                    t0 = t0s.get(ev["call_id"])
                    if t0 is None:
                        continue
                    lat = at - (t0 + ev["end"])
                    (fin if ev["final"] else par).append(lat)
                    if ev["final"]:
                        texts.setdefault(ev["call_id"], {}).setdefault(ev["speaker"], []).extend(ev["text"].split())
                health = await (await session.get(url + "/healthz")).json()
                results.append(
                    {
                        "calls": calls,
                        "vad": vad,
                        "round": rnd,
                        "call_seconds": duration,
                        "cpu_per_call_s": cpu / (calls * duration),
                        "cores_busy": cpu / wall,
                        "loop_wakeups_per_s": wakeups,
                        "decode_cpu_per_call_s": (health["asr"]["decode_cpu_seconds"] - dec0) / (calls * duration),
                        "rss_mb": rss / 2**20,
                        "rss_per_call_mb": (rss - rss0) / 2**20 / calls if rnd == 0 else None,
                        "final_p50": pct(fin, 50),
                        "final_p95": pct(fin, 95),
                        "partial_p50": pct(par, 50),
                        "partial_p95": pct(par, 95),
                        "lag": health["asr"]["lag_summary"],
                        "loop_lag": health["loop_lag"],
                        "texts": texts,
                        "finals": len(fin),
                    }
                )
            listener.cancel()
        return results
    finally:
        stop_process(proc, 30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", default="1,4,8")
    ap.add_argument(
        "--vad",
        default="off,energy",
        help="server configurations: a VAD mode, optionally followed by "
        "settings to change, e.g. energy:poll_interval_ms=0",
    )
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--rounds", type=int, default=2, help="rounds per server; the last (recycled recognisers) counts")
    ap.add_argument("--ramp", type=float, default=5.0)
    ap.add_argument("--audio", choices=["tight", "varied"], default="tight")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="assist-bench-audio-"))
    wav = work / "call.wav"
    timeline = make_audio(wav, args.seconds, args.audio)
    model_dir = prepare_model(work)
    rows = []
    bares = []
    for vad in args.vad.split(","):
        for n in [int(x) for x in args.calls.split(",")]:
            # both bare loops run right before each server, so all three see the host at the same speed
            bare = bare_loop(model_dir, wav)
            bare["realtime"] = bare_realtime(model_dir, wav, n, args.rounds, args.ramp)
            bares.append(bare)
            for r in asyncio.run(run_server_round(wav, n, vad, args.rounds, args.ramp)):
                r["bare"] = {k: v for k, v in bare.items() if k != "texts"}
                rows.append(r)
                rt = bare["realtime"][r["round"]]
                print(
                    f"# done vad={vad} calls={n} round={r['round']}: cpu/call {r['cpu_per_call_s']:.3f} "
                    f"(bare real time {rt['cpu_per_call_s']:.3f}, lag p95 {rt['steady_lag']['p95']:.2f}s; "
                    f"bare batch {bare['fresh' if r['round'] == 0 else 'recycled']['cpu_per_call_s']:.3f}) "
                    f"final p95 {r['final_p95']:.2f}s",
                    file=sys.stderr,
                )

    # character error rate (spaces removed): the standard for Korean/Chinese, where word splits vary
    script = {sp: "".join(t[3].replace(" ", "") for t in timeline if t[0] == sp) for sp in ("customer", "agent")}

    def cer(ref: str, hyp: str) -> float:
        return wer(list(ref), list(hyp))

    def call_cer(texts: dict[str, dict[str, list[str]]], ref: dict[str, str]) -> float:
        vals = [cer(ref[sp], "".join(t.get(sp, []))) for t in texts.values() for sp in ("customer", "agent")]
        return float(np.mean(vals)) if vals else float("nan")

    bare_cer = np.mean([cer(script[sp], "".join(bares[0]["texts"][i])) for i, sp in enumerate(("customer", "agent"))])
    rate, chans = read_channels(wav)
    share = []
    for c in chans:
        g = EnergyGate(rate)
        g.push(c, 0.0)
        share.append(g.frames_out / max(1, g.frames_in))
    print(
        f"\naudio ({args.audio}): {timeline[-1][2]:.0f} s stereo call, 8 kHz, twilio protocol; the gate passes "
        f"{share[0]:.0%} of the customer channel and {share[1]:.0%} of the agent's; machine: {os.cpu_count()} cores\n"
    )
    print(
        "Bare vosk loops, measured right before each server configuration: *real time* = the same N calls paced "
        "as the server gets them (bench/bare_realtime.py); *batch* = one call decoded as fast as it goes:\n"
    )
    print(
        "| before | recognisers | real time: CPU-s per call-second | real time: cores busy "
        "| real time: lag p50/p95/p99 s (steady) | batch: CPU-s per call-second | batch: RTF |"
    )
    print("|---|---|---|---|---|---|---|")
    configs = [(v, int(n)) for v in args.vad.split(",") for n in args.calls.split(",")]
    for (vad, n), bare in zip(configs, bares, strict=True):
        for rnd, label in enumerate(("fresh", "recycled")[: args.rounds]):
            b, rt = bare[label], bare["realtime"][rnd]
            lag = rt["steady_lag"]
            print(
                f"| {vad} x{n} | {label} | {rt['cpu_per_call_s']:.3f} | {rt['cores_busy']:.2f} | "
                f"{lag['p50']:.2f}/{lag['p95']:.2f}/{lag['p99']:.2f} | {b['cpu_per_call_s']:.3f} | {b['rtf']:.3f} |"
            )
    print(f"\nbare loop CER vs script: {bare_cer:.3f}\n")
    print(
        "| vad | calls | round | CPU-s/call-s | of which decoding | calls/core | **calls/core vs bare real time** "
        "| vs bare batch | cores busy "
        "| loop wake-ups/s | RSS MB | MB/call | partial p50/p95 s | final p50/p95 s | decode lag p95 s "
        "| loop stall p99/max ms (GC max) "
        "| CER vs script | CER vs no gate |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    nogate = {(r["calls"], r["round"]): r for r in rows if r["vad"] == "off"}
    for r in rows:
        base = r["bare"]["fresh" if r["round"] == 0 else "recycled"]["cpu_per_call_s"]
        base_rt = r["bare"]["realtime"][r["round"]]["cpu_per_call_s"]
        ref = nogate.get((r["calls"], r["round"]))
        vs_nogate = ""
        if ref is not None and r["vad"] != "off":
            ref_texts: dict[str, list[str]] = next(iter(ref["texts"].values()), {})
            vs_nogate = f"{call_cer(r['texts'], {sp: ''.join(ref_texts.get(sp, [])) for sp in script}):.3f}"
        mpc = f"{r['rss_per_call_mb']:.0f}" if r["rss_per_call_mb"] is not None else "-"
        print(
            f"| {r['vad']} | {r['calls']} | {r['round']} | {r['cpu_per_call_s']:.3f} | "
            f"{r['decode_cpu_per_call_s']:.3f} | {1 / r['cpu_per_call_s']:.1f} | "
            f"**{base_rt / r['cpu_per_call_s']:.2f}x** | {base / r['cpu_per_call_s']:.2f}x | {r['cores_busy']:.2f} | "
            f"{r['loop_wakeups_per_s']:.0f} | {r['rss_mb']:.0f} | {mpc} | {r['partial_p50']:.2f}/{r['partial_p95']:.2f} | "
            f"{r['final_p50']:.2f}/{r['final_p95']:.2f} | {r['lag']['p95']:.2f} | "
            f"{r['loop_lag']['p99_ms']:.1f}/{r['loop_lag']['max_ms']:.1f} ({r['loop_lag'].get('gc_max_ms', 0):.0f}) | "
            f"{call_cer(r['texts'], script):.3f} | "
            f"{vs_nogate} |"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {"bare": [{k: v for k, v in b.items() if k != "texts"} for b in bares], "rows": rows},
                default=str,
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
