"""Coach speed: time per segment (partials and finals) through CallCoach, on one core.

    /work/venv/bin/python bench/coach.py [--rounds 20] [--corpus tests/data/coach]

Both playbooks are loaded (and compiled) first.  Every corpus call is replayed `rounds` times the way
`assist replay` feeds it (a partial at mid-utterance, then the final, `tick` before each); each
`on_segment` call is timed.  The first round (cold caches: pinyin, English word correction) is
reported separately from the rest.  Prints a markdown table; the goal is p99 < 5 ms per segment.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assist.accounts import parse_account
from assist.coach.engine import CallCoach, CallContext
from assist.coach.playbook import load_playbook
from assist.coach.replay import _partial, read_replay
from assist.events import TranscriptSegment


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))
    return xs[k]


def run(files: list[Path], rounds: int) -> dict[str, dict[str, list[float]]]:
    calls = []
    for f in files:
        call, _, segs = read_replay(f)
        calls.append((f.stem, call, segs))
    times: dict[str, dict[str, list[float]]] = {}
    for r in range(rounds):
        phase = "cold" if r == 0 else "warm"
        for name, call, segs in calls:
            lang = str(call.get("language") or "zh-CN")
            pb = load_playbook(lang)
            acc = parse_account(call["account"]) if isinstance(call.get("account"), dict) else None
            started = datetime.fromisoformat(str(call["started_at"]).replace("Z", "+00:00"))
            coach = CallCoach(CallContext(f"{name}-{r}", pb.language, started, account=acc), pb)
            coach.start()
            events = []
            for s in segs:
                text, words, tp = _partial(s, pb.is_chinese)
                common = {
                    "call_id": name,
                    "segment_id": f"{name}-{s.n}",
                    "index": s.n,
                    "speaker": s.speaker,
                    "start": s.start,
                    "language": pb.language,
                    "loudness_db": s.loudness_db,
                }
                events.append((tp, 0, TranscriptSegment(final=False, end=tp, text=text, words=words, **common)))
                events.append(
                    (s.end, 1, TranscriptSegment(final=True, end=s.end, text=s.text, words=s.words, **common))
                )
            events.sort(key=lambda e: (e[0], e[1]))
            bucket = times.setdefault(
                f"{pb.language} {phase}", {"segment": [], "final": [], "partial": [], "tick": [], "wall": []}
            )
            for t, kind, seg in events:
                t0 = time.thread_time()
                coach.tick(t)
                t1 = time.thread_time()
                w1 = time.perf_counter()
                coach.on_segment(seg)
                w2 = time.perf_counter()
                t2 = time.thread_time()
                ms = (t2 - t1) * 1000
                bucket["segment"].append(ms)
                bucket["wall"].append((w2 - w1) * 1000)
                bucket["final" if kind else "partial"].append(ms)
                bucket["tick"].append((t1 - t0) * 1000)
            coach.end()
            coach.findings()
    return times


LONG = {
    "zh-CN": "我们不会告诉您家人但是如果您一直不还款的话我们会依法起诉请您在本月三十号之前还款谢谢配合",
    "en-US": "we will not tell your family but if you do not pay we may take legal action please pay by the "
    "thirtieth thank you ",
}


def long_segments(n: int = 60) -> list[tuple[str, int, float, float]]:
    """Worst case: 30-second monologues (about 500 Chinese characters / 250 English words) as finals."""
    rows = []
    for lang, unit in LONG.items():
        pb = load_playbook(lang)
        coach = CallCoach(CallContext("long", lang, datetime.fromisoformat("2026-11-25T10:00:00+08:00")), pb)
        coach.start()
        text = unit * (12 if lang == "zh-CN" else 10)
        ms = []
        for i in range(n):
            seg = TranscriptSegment(
                call_id="long",
                segment_id=f"l{i}",
                index=i,
                speaker="agent" if i % 2 else "customer",
                final=True,
                start=i * 30.0,
                end=i * 30.0 + 29,
                text=text,
                language=pb.language,
            )
            t = time.thread_time()
            coach.on_segment(seg)
            ms.append((time.thread_time() - t) * 1000)
        rows.append((lang, len(text), statistics.median(ms), pct(ms, 99)))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--corpus", default=str(Path(__file__).resolve().parent.parent / "tests" / "data" / "coach"))
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    t0 = time.perf_counter()
    for lang in ("zh-CN", "en-US"):
        load_playbook(lang)
    load_ms = (time.perf_counter() - t0) * 1000
    files = sorted(Path(args.corpus).glob("*.jsonl"))
    if not files:
        print(f"no *.jsonl in {args.corpus}", file=sys.stderr)
        return 2
    wall0 = time.perf_counter()
    times = run(files, args.rounds)
    wall = time.perf_counter() - wall0
    print(
        f"coach benchmark: {len(files)} calls x {args.rounds} rounds, one core, Python "
        f"{platform.python_version()} on {platform.machine()}; both playbooks loaded in {load_ms:.0f} ms"
    )
    print()
    print("CPU time of the calling thread per on_segment call (wall-clock p99 in its own column: it also")
    print("counts time the process was not scheduled, which depends on the machine's load).")
    print()
    print(
        "| language | caches | segments | p50 ms | p90 ms | p99 ms | max ms | final p99 ms | tick p99 ms | "
        "wall p99 ms | segments/s |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    all_seg: list[float] = []
    for key in sorted(times):
        b = times[key]
        seg = b["segment"]
        all_seg += seg if key.endswith("warm") else []
        lang, phase = key.split()
        print(
            f"| {lang} | {phase} | {len(seg)} | {statistics.median(seg):.3f} | {pct(seg, 90):.3f} | "
            f"{pct(seg, 99):.3f} | {max(seg):.3f} | {pct(b['final'], 99):.3f} | {pct(b['tick'], 99):.3f} | "
            f"{pct(b['wall'], 99):.3f} | {1000 / statistics.fmean(seg):,.0f} |"
        )
    if all_seg:
        print(
            f"| all | warm | {len(all_seg)} | {statistics.median(all_seg):.3f} | {pct(all_seg, 90):.3f} | "
            f"{pct(all_seg, 99):.3f} | {max(all_seg):.3f} | | | | {1000 / statistics.fmean(all_seg):,.0f} |"
        )
    print()
    print("Worst case, 30-second monologue finals (not in the corpus):")
    print()
    print("| language | characters | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    for lang, chars, p50, p99 in long_segments():
        print(f"| {lang} | {chars} | {p50:.2f} | {p99:.2f} |")
    print()
    verdict = "PASS" if all_seg and pct(all_seg, 99) < 5.0 else "FAIL"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"goal p99 < 5 ms CPU per segment (warm): {verdict}; total wall time {wall:.1f} s; "
        f"1-minute load average {load:.2f} on {os.cpu_count()} cores"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
