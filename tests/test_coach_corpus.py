"""The labelled corpus (tests/data/coach/*.jsonl) replayed through the coach, against the quality bars:

* violations on (kind, segment): recall >= 0.95, precision >= 0.90
* disclosures per item done / not done: precision and recall >= 0.95
* promise amount and date exact on >= 90% of the calls labelled with a promise

The per-detector report is printed (run with -s to see it; also `python -m assist.coach.report
tests/data/coach --details`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assist.coach.report import Report, corpus_files, evaluate

CORPUS = Path(__file__).parent / "data" / "coach"


@pytest.fixture(scope="module")
def report() -> Report:
    files = corpus_files(CORPUS)
    assert files, f"no corpus files in {CORPUS}"
    rep, results = evaluate(files)
    print()
    print(rep.format(details=True))
    assert not rep.errors, rep.errors
    assert len(results) == len(files), "every corpus file carries an expect object"
    return rep


def test_corpus_is_there(report: Report) -> None:
    assert report.calls >= 40


def test_violations_bar(report: Report) -> None:
    v = report.violations
    assert v.tp + v.fn > 0
    assert v.recall >= 0.95, f"violation recall {v.recall:.3f}"
    assert v.precision >= 0.90, f"violation precision {v.precision:.3f}"


def test_disclosures_bar(report: Report) -> None:
    d = report.disclosures
    assert d.tp + d.fn > 0
    assert d.recall >= 0.95, f"disclosure recall {d.recall:.3f}"
    assert d.precision >= 0.95, f"disclosure precision {d.precision:.3f}"


def test_promise_bar(report: Report) -> None:
    p = report.promise
    assert p.total > 0
    assert p.rate >= 0.90, f"promise amount+date exact on {p.rate:.3f} of {p.total} calls"
