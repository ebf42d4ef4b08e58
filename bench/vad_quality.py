"""Voice-activity gating: what it does to the transcript and to the decoding CPU, over many varied calls.

    python bench/vad_quality.py --calls 16 --modes off,endpoint,energy

Each call is a different stereo test call (12 alternating turns drawn from the Korean sentence bank
in tests/support/speech.py, random pauses of 0.9-3.4 s, line hiss of a random level).  Every call is
decoded by `AsrEngine` (the server's recognition code: 100 ms feeding grid, recycled recognisers) once
per mode, the modes interleaved call by call so that the host's speed drifts equally over all of
them.  Decoding is deterministic, so feeding as fast as possible gives the same transcript as a live
call; the CPU column is the decode threads' CPU time per second of call (both channels).

Reported per mode: CER against the script (characters, spaces removed), its paired change against
`off` with a 95 % interval over the calls, and CPU per call-second relative to `off`.  The Korean test
model recognises espeak-ng's Korean poorly (CER ≈0.9), which is why a single call says little and
the paired mean over many calls is what to read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assist.stream.recognition import AsrEngine
from bench.asr import wer
from bench.common import prepare_model
from tests.support.engine import decode_call, read_stereo
from tests.support.speech import make_call, varied_turns


def cer(ref: str, hyp: str) -> float:
    return wer(list(ref), list(hyp))


def parse_mode(spec: str) -> tuple[str, dict[str, float]]:
    """`energy` or `energy:pre_roll=0.5:hangover=0.8` (EnergyGate options)."""
    name, *opts = spec.split(":")
    return name, {k: float(v) for k, v in (o.split("=") for o in opts)}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="assist-vadq-"))
    model_dir = prepare_model(work)
    engines: dict[str, AsrEngine] = {}
    for spec in args.modes.split(","):
        vad, opts = parse_mode(spec)
        engines[spec] = AsrEngine(model_dir, workers=1, vad=vad, max_streams=4, gate_options=opts)
        await engines[spec].start()
    rng = np.random.default_rng(args.seed)
    rows: list[dict[str, Any]] = []
    for k in range(args.calls + 1):  # call 0 warms every engine's recognisers and is not counted
        wav = work / f"call{k}.wav"
        noise = float(rng.uniform(2, 40))
        timeline = make_call(wav, varied_turns(args.seed + k), seed=args.seed + k, gap=0.9, gap_jitter=2.5, noise=noise)
        script = {sp: "".join(t[3].replace(" ", "") for t in timeline if t[0] == sp) for sp in ("customer", "agent")}
        rate, audio = read_stereo(wav)
        seconds = len(audio) / rate
        row: dict[str, Any] = {"call": k, "noise": noise, "seconds": seconds}
        for spec, engine in engines.items():
            out = await decode_call(engine, f"c{k}-{spec}", wav)
            text = {sp: out.text(sp) for sp in script}
            row[spec] = {
                "cer": float(np.mean([cer(script[sp], text[sp]) for sp in script])),
                "cpu": out.decode_cpu / seconds,
                "text": text,
            }
        if k:
            rows.append(row)
        print(
            f"# call {k} ({seconds:.0f} s, hiss {noise:.0f}): "
            + " ".join(f"{s} cer {row[s]['cer']:.3f} cpu {row[s]['cpu']:.4f}" for s in engines),
            file=sys.stderr,
        )
    for engine in engines.values():
        await engine.stop()
    return {"rows": rows, "modes": list(engines)}


def report(res: dict[str, Any]) -> None:
    rows, modes = res["rows"], res["modes"]
    base = modes[0]
    total_s = sum(r["seconds"] for r in rows)
    print(f"\n{len(rows)} varied calls, {total_s / 60:.1f} min of stereo audio; reference mode `{base}`\n")
    print(
        f"| mode | CER vs script | change vs {base} (95 % CI), points | CER vs {base}'s transcript "
        f"| decode CPU-s per call-s | vs {base} | calls per core (decode only) |"
    )
    print("|---|---|---|---|---|---|---|")
    for m in modes:
        c = np.array([r[m]["cer"] for r in rows])
        d = (c - np.array([r[base]["cer"] for r in rows])) * 100
        half = 1.96 * d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
        cpu = sum(r[m]["cpu"] * r["seconds"] for r in rows) / total_s
        cpu0 = sum(r[base]["cpu"] * r["seconds"] for r in rows) / total_s
        vs = np.mean([cer(r[base]["text"][sp], r[m]["text"][sp]) for r in rows for sp in ("customer", "agent")])
        print(
            f"| {m} | {c.mean():.3f} | {d.mean():+.2f} ({d.mean() - half:+.2f} .. {d.mean() + half:+.2f}) | "
            f"{vs:.3f} | {cpu:.4f} | {cpu / cpu0:.2f}x | {1 / cpu:.1f} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=16)
    ap.add_argument(
        "--modes",
        default="off,endpoint,energy",
        help="comma-separated; the first is the reference; options as energy:pre_roll=0.5",
    )
    ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    res = asyncio.run(main_async(args))
    report(res)
    if args.json:
        args.json.write_text(json.dumps(res, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
