"""Precision and recall of the coach on a labelled corpus of replay files.

    python -m assist.coach.report tests/data/coach [--details]

Every `*.jsonl` whose first line carries an "expect" object is replayed; the findings are compared
with the labels per detector (violations on (kind, segment); disclosures per item done/not-done;
promise amount and date exact; call time, temperament, risks, outcome, dispute, new numbers).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assist.coach.findings import Findings
from assist.coach.replay import ReplayError, ReplayResult, replay_file


@dataclass
class PR:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def add(self, expected: bool, got: bool) -> None:
        if expected and got:
            self.tp += 1
        elif got:
            self.fp += 1
        elif expected:
            self.fn += 1


@dataclass
class Acc:
    right: int = 0
    total: int = 0

    @property
    def rate(self) -> float:
        return self.right / self.total if self.total else 1.0

    def add(self, ok: bool) -> None:
        self.total += 1
        self.right += int(ok)


@dataclass
class Report:
    calls: int = 0
    violations: PR = field(default_factory=PR)
    violations_by_kind: dict[str, PR] = field(default_factory=lambda: defaultdict(PR))
    disclosures: PR = field(default_factory=PR)
    disclosures_by_key: dict[str, PR] = field(default_factory=lambda: defaultdict(PR))
    disclosure_items: Acc = field(default_factory=Acc)
    promise: Acc = field(default_factory=Acc)  # calls labelled with a promise: amount and date exact
    promise_spurious: PR = field(default_factory=PR)  # presence of a promise
    call_time: Acc = field(default_factory=Acc)
    call_time_blocked: PR = field(default_factory=PR)  # off-hours or over the contact budget: allowed is false
    call_time_warning: PR = field(default_factory=PR)
    temperament: Acc = field(default_factory=Acc)
    angry: Acc = field(default_factory=Acc)
    risks: PR = field(default_factory=PR)
    risks_by_kind: dict[str, PR] = field(default_factory=lambda: defaultdict(PR))
    outcome: Acc = field(default_factory=Acc)
    dispute: Acc = field(default_factory=Acc)
    new_numbers: Acc = field(default_factory=Acc)
    errors: dict[str, str] = field(default_factory=dict)
    mismatches: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    # ------------------------------------------------------------------ scoring

    def score(self, res: ReplayResult, expect: dict[str, Any] | None = None) -> None:
        """Compare one call's findings with its labels (`expect`, default: the file's own)."""
        exp = (res.expect if expect is None else expect) or {}
        name = res.path.name
        miss = self.mismatches[name]
        self.calls += 1
        self._violations(exp, res, miss)
        self._disclosures(exp, res.findings, miss)
        self._promise(exp, res.findings, miss)
        self._call_time(exp, res.findings, miss)
        self._temperament(exp, res.findings, miss)
        self._risks(exp, res.findings, miss)
        self._fields(exp, res.findings, miss)
        if not miss:
            del self.mismatches[name]

    def _violations(self, exp: dict[str, Any], res: ReplayResult, miss: list[str]) -> None:
        if "violations" not in exp:
            return
        want = {(v["kind"], int(v["segment"])) for v in exp["violations"]}
        got = {(v.kind, v.segment) for v in res.findings.violations}
        for item in want | got:
            self.violations.add(item in want, item in got)
            self.violations_by_kind[item[0]].add(item in want, item in got)

        def text(s: int) -> str:
            return res.segments[s].text[:60] if 0 <= s < len(res.segments) else ""

        for k, s in sorted(want - got):
            miss.append(f"missed violation {k}@{s}: {text(s)!r}")
        for k, s in sorted(got - want):
            miss.append(f"false violation {k}@{s}: {text(s)!r}")

    def _disclosures(self, exp: dict[str, Any], f: Findings, miss: list[str]) -> None:
        for key, want_done in (exp.get("disclosures") or {}).items():
            st = f.disclosures.get(key)
            got_done = bool(st and st.done)
            self.disclosures.add(bool(want_done), got_done)
            self.disclosures_by_key[key].add(bool(want_done), got_done)
            self.disclosure_items.add(bool(want_done) == got_done)
            if bool(want_done) != got_done:
                miss.append(f"disclosure {key}: expected {want_done}, got {got_done}")

    def _promise(self, exp: dict[str, Any], f: Findings, miss: list[str]) -> None:
        if "promise" not in exp:
            return
        want_p = exp["promise"]
        got_p = f.promise
        self.promise_spurious.add(want_p is not None, got_p is not None)
        if want_p is not None:
            ok = (
                got_p is not None
                and abs(got_p.amount - float(want_p["amount"])) < 0.005
                and got_p.date == want_p["date"]
            )
            self.promise.add(ok)
        else:
            ok = got_p is None
        if not ok:
            got = {"amount": got_p.amount, "date": got_p.date} if got_p else None
            miss.append(f"promise: expected {want_p}, got {got}")

    def _call_time(self, exp: dict[str, Any], f: Findings, miss: list[str]) -> None:
        if "call_time" not in exp:
            return
        ct = exp["call_time"]
        ok = all(getattr(f.call_time, k) == ct[k] for k in ("allowed", "warning") if k in ct)
        self.call_time.add(ok)
        if "allowed" in ct:
            self.call_time_blocked.add(not ct["allowed"], not f.call_time.allowed)
        if "warning" in ct:
            self.call_time_warning.add(bool(ct["warning"]), f.call_time.warning)
        if not ok:
            miss.append(
                f"call_time: expected {ct}, got allowed={f.call_time.allowed} "
                f"warning={f.call_time.warning} ({f.call_time.reason})"
            )

    def _temperament(self, exp: dict[str, Any], f: Findings, miss: list[str]) -> None:
        t = exp.get("temperament")
        if not t:
            return
        if "label" in t:
            self.temperament.add(f.temperament.label == t["label"])
            if f.temperament.label != t["label"]:
                miss.append(f"temperament: expected {t['label']}, got {f.temperament.label}")
        if "angry" in t:
            self.angry.add(f.temperament.angry == t["angry"])
            if f.temperament.angry != t["angry"]:
                miss.append(f"angry: expected {t['angry']}, got {f.temperament.angry}")

    def _risks(self, exp: dict[str, Any], f: Findings, miss: list[str]) -> None:
        if "risks" not in exp:
            return
        want_r = set(exp["risks"])
        got_r = {r.kind for r in f.risks}
        for k in want_r | got_r:
            self.risks.add(k in want_r, k in got_r)
            self.risks_by_kind[k].add(k in want_r, k in got_r)
        if want_r != got_r:
            miss.append(f"risks: expected {sorted(want_r)}, got {sorted(got_r)}")

    def _fields(self, exp: dict[str, Any], f: Findings, miss: list[str]) -> None:
        for key, acc in (
            ("outcome", self.outcome),
            ("dispute", self.dispute),
            ("new_contact_numbers", self.new_numbers),
        ):
            if key not in exp:
                continue
            got_v: Any = getattr(f, key)
            want_v = exp[key]
            ok = sorted(got_v) == sorted(want_v) if isinstance(want_v, list) else got_v == want_v
            acc.add(ok)
            if not ok:
                miss.append(f"{key}: expected {want_v}, got {got_v}")

    # ------------------------------------------------------------------ output

    def table(self) -> str:
        rows = [("detector", "precision", "recall", "accuracy", "n")]

        def pr(name: str, m: PR) -> None:
            rows.append((name, f"{m.precision:.3f}", f"{m.recall:.3f}", "", str(m.tp + m.fn)))

        def acc(name: str, m: Acc) -> None:
            rows.append((name, "", "", f"{m.rate:.3f}", str(m.total)))

        pr("violations (kind, segment)", self.violations)
        for k in sorted(self.violations_by_kind):
            pr(f"  violation: {k}", self.violations_by_kind[k])
        pr("disclosures (done)", self.disclosures)
        for k in sorted(self.disclosures_by_key):
            pr(f"  disclosure: {k}", self.disclosures_by_key[k])
        acc("disclosure items (done/not done)", self.disclosure_items)
        acc("promise amount+date exact", self.promise)
        pr("promise present", self.promise_spurious)
        acc("call time (allowed, warning)", self.call_time)
        pr("call time blocked (not allowed)", self.call_time_blocked)
        pr("call time warning", self.call_time_warning)
        pr("risks", self.risks)
        for k in sorted(self.risks_by_kind):
            pr(f"  risk: {k}", self.risks_by_kind[k])
        acc("temperament label", self.temperament)
        acc("angry", self.angry)
        acc("outcome", self.outcome)
        acc("dispute", self.dispute)
        acc("new contact numbers", self.new_numbers)
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
        lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
        return "\n".join(lines)

    def format(self, details: bool = False) -> str:
        out = [f"coach evaluation on {self.calls} calls", "", self.table()]
        if self.errors:
            out += ["", "errors:"] + [f"  {k}: {v}" for k, v in sorted(self.errors.items())]
        if details and self.mismatches:
            out += ["", "mismatches:"]
            for name in sorted(self.mismatches):
                out.append(f"  {name}")
                out += [f"    - {m}" for m in self.mismatches[name]]
        return "\n".join(out)


def corpus_files(directory: Path | str) -> list[Path]:
    return sorted(p for p in Path(directory).glob("*.jsonl"))


class LabelError(ValueError):
    """A labels file or folder that cannot be read."""


def _expect_of(path: Path) -> dict[str, Any] | None:
    try:
        first = next((line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()), "")
        head = json.loads(first) if first else None
    except (OSError, json.JSONDecodeError) as e:
        raise LabelError(f"{path}: {e}") from None
    exp = head.get("expect") if isinstance(head, dict) else None
    return exp if isinstance(exp, dict) else None


def load_labels(source: Path | str) -> dict[str, dict[str, Any]]:
    """Expected findings per call, keyed by the call file's stem (its name without `.jsonl`).

    `source` is one of:
    * a folder: the `expect` object on the first line of each `*.jsonl` in it (a corpus folder);
    * a `.jsonl` call file: its own `expect` object;
    * a `.json` file holding an object that maps call file names (with or without `.jsonl`) to expect
      objects: `{"zh-CN-01-standard-full-script": {"violations": [], ...}, ...}`.
    """
    src = Path(source)
    if src.is_dir():
        files = corpus_files(src)
        return {f.stem: e for f in files if (e := _expect_of(f)) is not None}
    if src.suffix == ".jsonl":
        e = _expect_of(src)
        return {src.stem: e} if e is not None else {}
    try:
        raw = json.loads(src.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise LabelError(f"{src}: {e}") from None
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise LabelError(f"{src}: expected a JSON object mapping call file names to expect objects")
    return {(k[:-6] if k.endswith(".jsonl") else k): v for k, v in raw.items()}


def score_results(results: list[ReplayResult], labels: dict[str, dict[str, Any]]) -> Report:
    """Score replayed calls against `labels` (see load_labels); calls without a label are skipped."""
    rep = Report()
    for res in results:
        exp = labels.get(res.path.stem)
        if exp is not None:
            rep.score(res, exp)
    return rep


def evaluate(paths: list[Path]) -> tuple[Report, list[ReplayResult]]:
    rep = Report()
    results: list[ReplayResult] = []
    for p in paths:
        try:
            res = replay_file(p)
        except ReplayError as e:
            rep.errors[p.name] = str(e)
            continue
        if res.expect is None:
            continue
        results.append(res)
        rep.score(res)
    return rep, results


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    details = "--details" in args
    args = [a for a in args if a != "--details"]
    if len(args) != 1:
        print("usage: python -m assist.coach.report DIRECTORY [--details]", file=sys.stderr)
        return 2
    files = corpus_files(args[0])
    if not files:
        print(f"no *.jsonl files in {args[0]}", file=sys.stderr)
        return 2
    rep, _ = evaluate(files)
    print(rep.format(details))
    return 1 if rep.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
