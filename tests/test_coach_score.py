"""`assist replay` over many calls in one process, and `--score LABELS` tables that a test can reproduce."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assist.cli import main as cli_main
from assist.coach.replay import replay_file
from assist.coach.report import LabelError, load_labels, score_results

CORPUS = Path(__file__).parent / "data" / "coach"
TWO = [CORPUS / "zh-CN-01-standard-full-script.jsonl", CORPUS / "en-US-06-coworker-disclosure.jsonl"]


def test_many_files_one_json_line_each(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["replay", *map(str, TWO), "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(x)["file"] for x in lines] == [p.name for p in TWO]
    assert all(set(json.loads(x)) == {"file", "prompts", "findings"} for x in lines)


def test_folder_is_expanded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for p in TWO:
        (tmp_path / p.name).write_bytes(p.read_bytes())
    (tmp_path / "notes.txt").write_text("not a call")
    assert cli_main(["replay", str(tmp_path), "--json"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_labels_from_folder_file_and_json_map(tmp_path: Path) -> None:
    folder = load_labels(CORPUS)
    assert "zh-CN-01-standard-full-script" in folder and "violations" in folder["zh-CN-01-standard-full-script"]
    one = load_labels(TWO[0])
    assert set(one) == {TWO[0].stem}
    m = tmp_path / "labels.json"
    m.write_text(json.dumps({TWO[0].name: folder[TWO[0].stem], TWO[1].stem: folder[TWO[1].stem]}))
    assert load_labels(m) == {p.stem: folder[p.stem] for p in TWO}
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(LabelError):
        load_labels(bad)


def test_score_table_is_exact(tmp_path: Path) -> None:
    """Hand-made labels against two calls give known precision and recall."""
    results = [replay_file(p) for p in TWO]
    labels = {p.stem: json.loads(p.read_text(encoding="utf-8").splitlines()[0])["expect"] for p in TWO}
    # pretend the labeller missed one of en-US-06's two disclosures and expected a threat in zh-CN-01
    labels[TWO[1].stem]["violations"] = labels[TWO[1].stem]["violations"][:1]
    labels[TWO[0].stem]["violations"] = [{"kind": "threat", "segment": 2}]
    labels[TWO[0].stem]["call_time"] = {"allowed": False, "warning": False}
    rep = score_results(results, labels)
    assert (rep.violations.tp, rep.violations.fp, rep.violations.fn) == (1, 1, 1)
    assert rep.violations_by_kind["threat"].recall == 0.0
    assert (rep.call_time_blocked.tp, rep.call_time_blocked.fn) == (0, 1)
    assert rep.promise.rate == 1.0 and rep.temperament.rate == 1.0
    table = rep.table()
    assert "| violations (kind, segment)             | 0.500     | 0.500  |" in table


def test_score_cli_reproduces_the_corpus_report(capsys: pytest.CaptureFixture[str]) -> None:
    from assist.coach.report import corpus_files, evaluate

    assert cli_main(["replay", str(CORPUS), "--score", str(CORPUS)]) == 0
    out = capsys.readouterr().out
    rep, _ = evaluate(corpus_files(CORPUS))
    assert out.strip() == rep.format(details=False).strip()
    for row in (
        "violations (kind, segment)",
        "disclosures (done)",
        "promise amount+date exact",
        "temperament label",
        "risks",
        "call time blocked (not allowed)",
    ):
        assert f"| {row}" in out


def test_score_with_json_prints_table_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["replay", str(TWO[0]), "--json", "--score", str(TWO[0])]) == 0
    cap = capsys.readouterr()
    assert json.loads(cap.out)["findings"]["call_id"] and "coach evaluation on 1 calls" in cap.err


def test_bad_file_is_reported_and_others_still_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    assert cli_main(["replay", str(bad), str(TWO[0]), "--json"]) == 2
    cap = capsys.readouterr()
    assert "bad.jsonl" in cap.err and len(cap.out.splitlines()) == 1


def test_replay_without_time_zone_and_with_phone_number(tmp_path: Path) -> None:
    """The labelling guide: no account.timezone; account.phone (digits, maybe a JSON number) is evidence."""
    head: dict[str, Any] = {
        "call": {
            "language": "en-US",
            "started_at": "2026-12-02T22:45:00-05:00",
            "account": {
                "id": "A",
                "name": "Carlos Rivera",
                "principal": 900,
                "interest": 70,
                "penalty": 30,
                "overdue_days": 25,
                "currency": "USD",
                "phone": 13035550147,
            },
        },
        "expect": {"call_time": {"allowed": True, "warning": True}, "promise": {"amount": 200.0, "date": "2026-12-11"}},
    }
    segs = [
        {"start": 0.5, "end": 3.0, "speaker": "agent", "text": "Hi Carlos, this is Mike with Meridian."},
        {"start": 3.5, "end": 6.0, "speaker": "customer", "text": "I can pay two hundred dollars next Friday."},
    ]
    p = tmp_path / "call.jsonl"
    p.write_text("\n".join(json.dumps(x) for x in [head, *segs]) + "\n")
    rep = score_results([replay_file(p)], load_labels(p))
    assert rep.call_time.rate == 1.0 and rep.promise.rate == 1.0, rep.format(details=True)
    account = head["call"]["account"]
    assert isinstance(account, dict)
    account.pop("phone")
    p.write_text("\n".join(json.dumps(x) for x in [head, *segs]) + "\n")
    res = replay_file(p)
    assert not res.findings.call_time.allowed  # 22:45 Eastern is past 21:00 in the East
