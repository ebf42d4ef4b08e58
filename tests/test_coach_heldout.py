"""The held-out corpus (tests/data/coach/heldout/): 64 calls written from the labelling guide alone, by
someone who never saw the playbooks or detectors.  Its score is reported, never tuned on: these floors are
what the coach reached when the corpus was frozen, so a change that makes the coach worse on calls it has
never seen fails here.  Raise a floor only when a change made for other reasons lifts the score."""

from __future__ import annotations

from pathlib import Path

import pytest

from assist.coach.report import Report, corpus_files, evaluate

HELDOUT = Path(__file__).parent / "data" / "coach" / "heldout"


@pytest.fixture(scope="module")
def report() -> Report:
    files = corpus_files(HELDOUT)
    rep, results = evaluate(files)
    print()
    print(rep.table())
    assert not rep.errors, rep.errors
    assert len(results) == len(files) == 64
    return rep


def test_violations_floor(report: Report) -> None:
    v = report.violations
    assert v.precision >= 0.94 and v.recall >= 0.90, (v.precision, v.recall)
    assert report.violations_by_kind["misleading"].precision >= 0.90
    assert report.violations_by_kind["third_party_disclosure"].recall >= 0.93


def test_disclosures_floor(report: Report) -> None:
    d = report.disclosures
    assert d.precision >= 0.98 and d.recall >= 0.93, (d.precision, d.recall)


def test_promise_floor(report: Report) -> None:
    assert report.promise.rate >= 0.92, report.promise.rate


def test_call_time_floor(report: Report) -> None:
    b = report.call_time_blocked
    assert (b.precision, b.recall) == (1.0, 1.0)
    assert report.call_time.rate == 1.0


def test_temperament_and_risks_floor(report: Report) -> None:
    assert report.temperament.rate >= 0.85, report.temperament.rate
    assert report.risks.precision >= 0.95 and report.risks.recall >= 1.0, (report.risks.precision, report.risks.recall)
