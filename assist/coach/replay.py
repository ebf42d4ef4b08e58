"""Replay a timed transcript (JSON Lines) through the coach, without audio.

File format (docs/coach.md): the first line is ``{"call": {"language", "started_at", "account", …}}``
(other top-level keys such as "expect" are ignored), then one segment per line
``{"start": s, "end": s, "speaker": "agent"|"customer", "text": "…"}`` with optional "words" and
"loudness_db".  Each segment is fed first as a partial (the words so far, at mid-utterance) and then
as a final at its end time; `tick` runs before every event.

`replay_file(path)` returns a ReplayResult; `run_replay(paths, as_json, score)` replays files and
folders in one process and prints them, or scores them against labels (the `assist replay`
sub-command), and returns the exit status.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from assist.accounts import Account, AccountError, ContactAttempt, ContactHistory, parse_account
from assist.coach.dialing import candidate_zones
from assist.coach.engine import CallCoach, CallContext
from assist.coach.findings import Findings
from assist.coach.playbook import load_playbook
from assist.events import Prompt, TranscriptSegment, Word


class ReplayError(ValueError):
    """The replay file is invalid; the message names the line."""


@dataclass
class SegmentLine:
    n: int  # 0-based among segment lines
    start: float
    end: float
    speaker: str
    text: str
    words: list[Word] = field(default_factory=list)
    loudness_db: float | None = None


@dataclass
class ReplayResult:
    path: Path
    language: str
    call: dict[str, Any]
    expect: dict[str, Any] | None
    prompts: list[Prompt]
    findings: Findings
    segments: list[SegmentLine]

    def to_json(self) -> dict[str, Any]:
        return {
            "prompts": [_prompt_json(p) for p in self.prompts],
            "findings": self.findings.public(),
        }


def _prompt_json(p: Prompt) -> dict[str, Any]:
    d = p.model_dump(mode="json")
    d.pop("type", None)
    return d


def _parse_time(v: Any, where: str) -> datetime:
    if not isinstance(v, str):
        raise ReplayError(f"{where}: started_at must be an ISO-8601 string with a UTC offset")
    try:
        dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise ReplayError(f"{where}: started_at {v!r} is not ISO-8601") from None
    if dt.tzinfo is None:
        raise ReplayError(f"{where}: started_at {v!r} has no UTC offset")
    return dt


def _segment(raw: Any, n: int, lineno: int, path: Path) -> SegmentLine:
    where = f"{path} line {lineno}"
    if not isinstance(raw, dict):
        raise ReplayError(f"{where}: a segment must be a JSON object")
    missing = [k for k in ("start", "end", "speaker", "text") if k not in raw]
    if missing:
        raise ReplayError(f"{where}: segment lacks {', '.join(missing)}")
    try:
        start, end = float(raw["start"]), float(raw["end"])
    except (TypeError, ValueError):
        raise ReplayError(f"{where}: start/end must be numbers (seconds)") from None
    if end < start:
        raise ReplayError(f"{where}: end {end} is before start {start}")
    speaker = raw["speaker"]
    if speaker not in ("agent", "customer"):
        raise ReplayError(f"{where}: speaker must be 'agent' or 'customer', got {speaker!r}")
    if not isinstance(raw["text"], str):
        raise ReplayError(f"{where}: text must be a string")
    words: list[Word] = []
    for w in raw.get("words") or []:
        try:
            if isinstance(w, dict):
                words.append(Word.model_validate(w))
            elif isinstance(w, list | tuple) and len(w) >= 3:
                words.append(Word(word=str(w[0]), start=float(w[1]), end=float(w[2])))
            else:
                raise ValueError("expected {word,start,end} or [word, start, end]")
        except (ValidationError, ValueError, TypeError) as e:
            raise ReplayError(f"{where}: bad word timing {w!r}: {e}") from None
    loud = raw.get("loudness_db")
    if loud is not None and not isinstance(loud, int | float):
        raise ReplayError(f"{where}: loudness_db must be a number")
    return SegmentLine(n, start, end, speaker, raw["text"], words, float(loud) if loud is not None else None)


def read_replay(path: Path | str) -> tuple[dict[str, Any], dict[str, Any] | None, list[SegmentLine]]:
    p = Path(path)
    if not p.is_file():
        raise ReplayError(f"{p}: no such file")
    lines = [(i + 1, line) for i, line in enumerate(p.read_text(encoding="utf-8").splitlines()) if line.strip()]
    if not lines:
        raise ReplayError(f"{p}: empty file")
    parsed: list[tuple[int, Any]] = []
    for lineno, line in lines:
        try:
            parsed.append((lineno, json.loads(line)))
        except json.JSONDecodeError as e:
            raise ReplayError(f"{p} line {lineno}: not valid JSON: {e.msg}") from None
    head_no, head = parsed[0]
    if not isinstance(head, dict) or not isinstance(head.get("call"), dict):
        raise ReplayError(f'{p} line {head_no}: the first line must be {{"call": {{...}}}}')
    expect = head.get("expect") if isinstance(head.get("expect"), dict) else None
    segs = [_segment(raw, n, lineno, p) for n, (lineno, raw) in enumerate(parsed[1:])]
    return head["call"], expect, segs


def _partial(s: SegmentLine, chinese: bool) -> tuple[str, list[Word], float]:
    """The words heard by mid-utterance."""
    mid = s.start + (s.end - s.start) / 2
    if s.words:
        ws = [w for w in s.words if w.end <= mid] or s.words[:1]
        text = ("" if chinese else " ").join(w.word for w in ws)
        return text, ws, mid
    if chinese:
        return s.text[: max(1, len(s.text) // 2)], [], mid
    parts = s.text.split()
    return " ".join(parts[: max(1, len(parts) // 2)]), [], mid


def _history(call: dict[str, Any], account: Account | None, default_tz: str) -> ContactHistory | None:
    raw = call.get("history")
    if isinstance(raw, list):
        return ContactHistory(
            account_id=account.id if account else None, attempts=[ContactAttempt.model_validate(a) for a in raw]
        )
    if account is not None:
        return ContactHistory.from_account(account, default_tz)
    return None


def replay_file(path: Path | str) -> ReplayResult:
    """Run one replay file through a CallCoach and collect prompts and findings."""
    p = Path(path)
    call, expect, segs = read_replay(p)
    language = str(call.get("language") or "zh-CN")
    pb = load_playbook(language)
    started = _parse_time(call.get("started_at"), f"{p} line 1")
    account: Account | None = None
    if isinstance(call.get("account"), dict):
        try:
            account = parse_account(call["account"], f"{p} line 1 account")
        except AccountError as e:
            raise ReplayError(str(e)) from None
    call_id = str(call.get("call_id") or call.get("id") or p.stem)
    try:
        history = _history(call, account, candidate_zones(account, pb)[0])
    except ValidationError as e:
        raise ReplayError(f"{p} line 1 history: {e.errors()[0]['msg']}") from None
    ctx = CallContext(
        call_id=call_id,
        language=pb.language,
        started_at=started,
        account=account,
        history=history,
        agent_id=call.get("agent_id"),
        direction=call.get("direction"),
    )
    coach = CallCoach(ctx, pb)
    prompts = coach.start()
    events: list[tuple[float, int, int, TranscriptSegment]] = []
    per_speaker: dict[str, int] = {"agent": 0, "customer": 0}
    seg_ids: dict[str, int] = {}
    for s in segs:
        idx = per_speaker[s.speaker]
        per_speaker[s.speaker] += 1
        sid = f"{call_id}-{s.n}"
        seg_ids[sid] = s.n
        text, words, t_partial = _partial(s, pb.is_chinese)
        common = {
            "call_id": call_id,
            "segment_id": sid,
            "index": idx,
            "speaker": s.speaker,
            "start": s.start,
            "language": pb.language,
            "loudness_db": s.loudness_db,
        }
        events.append(
            (t_partial, 0, s.n, TranscriptSegment(final=False, end=t_partial, text=text, words=words, **common))
        )
        events.append((s.end, 1, s.n, TranscriptSegment(final=True, end=s.end, text=s.text, words=s.words, **common)))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    for t, _, _, seg in events:
        prompts += coach.tick(t)
        prompts += coach.on_segment(seg)
    if segs:
        prompts += coach.tick(max(s.end for s in segs))
    prompts += coach.end()
    findings = coach.findings()
    for v in findings.violations:
        v.segment = seg_ids.get(v.segment_id, v.segment)
    return ReplayResult(p, pb.language, call, expect, prompts, findings, segs)


def _fmt_time(t: float) -> str:
    return f"{int(t // 60):02d}:{t % 60:04.1f}"


def format_text(res: ReplayResult) -> str:
    out: list[str] = [f"# {res.path.name} ({res.language})"]
    start = None
    for p in res.prompts:
        if start is None:
            start = p.created_at
        t = (p.created_at - start).total_seconds() if start else 0.0
        rule = f" [{p.rule}]" if p.rule else ""
        out.append(f"{_fmt_time(t)} {p.severity:<8} {p.audience:<10} {p.kind}{rule}: {p.text}")
    f = res.findings
    out.append("")
    out.append("## findings")
    done = [k for k, v in f.disclosures.items() if v.done]
    missing = [k for k, v in f.disclosures.items() if not v.done]
    out.append(f"disclosures done: {', '.join(done) or '-'}; missing: {', '.join(missing) or '-'}")
    for v in f.violations:
        out.append(f"violation: {v.kind} at segment {v.segment} [{v.rule}] {v.quote}")
    out.append(f"call_time: allowed={f.call_time.allowed} warning={f.call_time.warning} {f.call_time.reason}")
    temp = f.temperament
    out.append(f"temperament: {temp.label} ({temp.confidence:.2f}) angry={temp.angry}")
    for r in f.risks:
        out.append(f"risk: {r.kind}: {r.detail}")
    out.append(f"promise: {f.promise.amount:g} on {f.promise.date}" if f.promise else "promise: -")
    out.append(
        f"outcome: {f.outcome}; willingness: {f.willingness}; dispute: {f.dispute}; "
        f"economic: {f.economic_situation or '-'}; new numbers: {', '.join(f.new_contact_numbers) or '-'}"
    )
    return "\n".join(out)


def replay_paths(paths: list[Path]) -> list[Path]:
    """Files as given, folders as their `*.jsonl` files (sorted); each file once."""
    out: list[Path] = []
    for p in paths:
        found = sorted(p.glob("*.jsonl")) if p.is_dir() else [p]
        out += [f for f in found if f not in out]
    return out


def _print_result(res: ReplayResult, as_json: bool, many: bool) -> None:
    if as_json:
        d = res.to_json()
        if many:
            d = {"file": res.path.name, **d}
        print(json.dumps(d, ensure_ascii=False), flush=True)
    else:
        print(format_text(res) + ("\n" if many else ""))


def run_replay(path: Path | list[Path], as_json: bool, score: Path | None = None) -> int:
    """Replay files and folders in one process (playbooks load once).

    Prints one text report, or one JSON line per call with --json (with a "file" key when more than
    one call is replayed).  With `score` (labels: see assist.coach.report.load_labels) the
    precision/recall table is printed instead of the per-call text (after the JSON lines, on stderr,
    with --json).  Returns 0 on success, 2 when a file is invalid (the others are still replayed).
    """
    files = replay_paths([path] if isinstance(path, Path) else list(path))
    if not files:
        print("assist replay: no *.jsonl files found", file=sys.stderr)
        return 2
    many = len(files) > 1
    status = 0
    results: list[ReplayResult] = []
    for f in files:
        try:
            res = replay_file(f)
        except ReplayError as e:
            print(f"assist replay: {e}", file=sys.stderr)
            status = 2
            continue
        results.append(res)
        if score is None or as_json:
            _print_result(res, as_json, many)
    if score is not None:
        from assist.coach.report import LabelError, load_labels, score_results

        try:
            labels = load_labels(score)
        except LabelError as e:
            print(f"assist replay: {e}", file=sys.stderr)
            return 2
        rep = score_results(results, labels)
        print(rep.format(details=False), file=sys.stderr if as_json else sys.stdout)
    return status


if __name__ == "__main__":  # python -m assist.coach.replay FILE|DIR ... [--json] [--score LABELS]
    from assist.cli import main as _cli_main

    raise SystemExit(_cli_main(["replay", *sys.argv[1:]]))
