"""Precision and recall of the coach on a labelled corpus of replay files.

    python -m assist.coach.report tests/data/coach [--details]

Every `*.jsonl` whose first line carries an "expect" object is replayed; the findings are compared
with the labels per detector (violations on (kind, segment); disclosures per item done/not-done;
promise amount and date exact; call time, temperament, risks, outcome, dispute, new numbers).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

    def score(self, res: ReplayResult) -> None:
        exp = res.expect or {}
        f = res.findings
        name = res.path.name
        miss = self.mismatches[name]
        self.calls += 1
        if "violations" in exp:
            want = {(v["kind"], int(v["segment"])) for v in exp["violations"]}
            got = {(v.kind, v.segment) for v in f.violations}
            for item in want | got:
                self.violations.add(item in want, item in got)
                self.violations_by_kind[item[0]].add(item in want, item in got)
            for k, s in sorted(want - got):
                miss.append(f"missed violation {k}@{s}: {res.segments[s].text[:60]!r}")
            for k, s in sorted(got - want):
                miss.append(f"false violation {k}@{s}: {res.segments[s].text[:60]!r}")
        for key, want_done in (exp.get("disclosures") or {}).items():
            st = f.disclosures.get(key)
            got_done = bool(st and st.done)
            self.disclosures.add(bool(want_done), got_done)
            self.disclosures_by_key[key].add(bool(want_done), got_done)
            self.disclosure_items.add(bool(want_done) == got_done)
            if bool(want_done) != got_done:
                miss.append(f"disclosure {key}: expected {want_done}, got {got_done}")
        if "promise" in exp:
            want_p = exp["promise"]
            got_p = f.promise
            self.promise_spurious.add(want_p is not None, got_p is not None)
            if want_p is not None:
                ok = got_p is not None and abs(got_p.amount - float(want_p["amount"])) < 0.005 \
                    and got_p.date == want_p["date"]
                self.promise.add(ok)
            else:
                ok = got_p is None
            if not ok:
                miss.append(f"promise: expected {want_p}, got "
                            f"{ {'amount': got_p.amount, 'date': got_p.date} if got_p else None}")
        if "call_time" in exp:
            ct = exp["call_time"]
            ok = all(getattr(f.call_time, k) == ct[k] for k in ("allowed", "warning") if k in ct)
            self.call_time.add(ok)
            if not ok:
                miss.append(f"call_time: expected {ct}, got allowed={f.call_time.allowed} "
                            f"warning={f.call_time.warning} ({f.call_time.reason})")
        if exp.get("temperament"):
            t = exp["temperament"]
            if "label" in t:
                self.temperament.add(f.temperament.label == t["label"])
                if f.temperament.label != t["label"]:
                    miss.append(f"temperament: expected {t['label']}, got {f.temperament.label}")
            if "angry" in t:
                self.angry.add(f.temperament.angry == t["angry"])
                if f.temperament.angry != t["angry"]:
                    miss.append(f"angry: expected {t['angry']}, got {f.temperament.angry}")
        if "risks" in exp:
            want_r = set(exp["risks"])
            got_r = {r.kind for r in f.risks}
            for k in want_r | got_r:
                self.risks.add(k in want_r, k in got_r)
                self.risks_by_kind[k].add(k in want_r, k in got_r)
            if want_r != got_r:
                miss.append(f"risks: expected {sorted(want_r)}, got {sorted(got_r)}")
        for key, acc in (("outcome", self.outcome), ("dispute", self.dispute),
                         ("new_contact_numbers", self.new_numbers)):
            if key in exp:
                got_v: Any = getattr(f, key)
                want_v = exp[key]
                ok = sorted(got_v) == sorted(want_v) if isinstance(want_v, list) else got_v == want_v
                acc.add(ok)
                if not ok:
                    miss.append(f"{key}: expected {want_v}, got {got_v}")
        if not miss:
            del self.mismatches[name]

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
