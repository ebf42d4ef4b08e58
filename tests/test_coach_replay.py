"""`assist replay`: a timed transcript through the coach, printed as text or as the documented JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assist.coach.replay import ReplayError, replay_file, run_replay

CALL = {
    "call": {
        "language": "zh-CN",
        "started_at": "2026-11-25T10:00:00+08:00",
        "account": {
            "id": "A1",
            "name": "张伟",
            "principal": 20000,
            "interest": 1200,
            "penalty": 300,
            "total_due": 21500,
            "overdue_days": 45,
            "stage": "M2",
            "due_date": "2026-10-11",
            "currency": "CNY",
        },
    },
    "expect": {"ignored": True},
}
SEGS = [
    {"start": 0.5, "end": 5.0, "speaker": "agent", "text": "张先生您好 我是安信消费金融的客服 本次通话会录音"},
    {"start": 5.5, "end": 7.0, "speaker": "customer", "text": "嗯 你说"},
    {"start": 7.5, "end": 12.0, "speaker": "agent", "text": "你再不还 我就打电话给你们领导"},
    {
        "start": 12.5,
        "end": 15.0,
        "speaker": "customer",
        "text": "我下周五先还五千",
        "loudness_db": -28.0,
        "words": [
            {"word": "我", "start": 12.5, "end": 12.8},
            {"word": "下周五", "start": 12.8, "end": 13.6},
            {"word": "先还", "start": 13.6, "end": 14.2},
            {"word": "五千", "start": 14.2, "end": 15.0},
        ],
    },
]


def write(tmp_path: Path, lines: list[object], name: str = "call.jsonl") -> Path:
    p = tmp_path / name
    p.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8")
    return p


def test_replay_result(tmp_path: Path) -> None:
    res = replay_file(write(tmp_path, [CALL, *SEGS]))
    f = res.findings
    assert [(v.kind, v.segment) for v in f.violations] == [("threat", 2)]
    assert f.disclosures["identity"].done and f.disclosures["identity"].at == 0.5
    assert f.promise is not None and (f.promise.amount, f.promise.date) == (5000, "2026-12-04")
    kinds = [p.kind for p in res.prompts]
    assert kinds[0] in ("call_time", "account_card") and "compliance" in kinds and kinds[-1] == "summary"
    # prompts carry call-relative timestamps after the start
    assert all(p.created_at >= res.prompts[0].created_at for p in res.prompts)


def test_json_output_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_replay(write(tmp_path, [CALL, *SEGS]), as_json=True) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"prompts", "findings"}
    p = out["prompts"][0]
    for key in ("prompt_id", "kind", "severity", "audience", "text", "evidence", "rule", "source", "created_at"):
        assert key in p
    f = out["findings"]
    assert set(f["disclosures"]) == {
        "identity",
        "purpose",
        "recording_notice",
        "amount_breakdown",
        "deadline",
        "credit_consequence",
        "legal_consequence",
    }
    assert f["disclosures"]["identity"] == {"done": True, "at": 0.5}
    assert f["disclosures"]["deadline"] == {"done": False, "at": None}
    v = f["violations"][0]
    assert (v["kind"], v["segment"], v["rule"]) == ("threat", 2, "CN-ABUSE-01") and "领导" in v["quote"]
    assert f["call_time"]["allowed"] is True and f["call_time"]["warning"] is False and f["call_time"]["reason"]
    assert set(f["temperament"]) >= {"label", "confidence", "angry"}
    assert f["risks"] == []
    assert f["promise"]["amount"] == 5000 and f["promise"]["date"] == "2026-12-04"
    assert f["outcome"] == "promise_to_pay" and f["dispute"] is False
    assert f["new_contact_numbers"] == [] and "economic_situation" in f and f["willingness"] == "high"


def test_en_json_has_debt_collector_statement(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    call = {
        "call": {
            "language": "en-US",
            "started_at": "2026-11-25T15:00:00Z",
            "account": {"id": "U1", "principal": 1000, "timezone": "America/Chicago"},
        }
    }
    seg = {
        "start": 0,
        "end": 4,
        "speaker": "agent",
        "text": "This is an attempt to collect a debt and any information obtained will be used for that purpose.",
    }
    assert run_replay(write(tmp_path, [call, seg]), as_json=True) == 0
    f = json.loads(capsys.readouterr().out)["findings"]
    assert f["disclosures"]["debt_collector_statement"]["done"] is True
    assert f["call_time"]["allowed"] is True  # 09:00 in Chicago


def test_text_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_replay(write(tmp_path, [CALL, *SEGS]), as_json=False) == 0
    out = capsys.readouterr().out
    assert "violation: threat at segment 2" in out and "promise: 5000 on 2026-12-04" in out


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([{"nocall": {}}], "first line must be"),
        ([CALL, {"start": 1, "end": 0, "speaker": "agent", "text": "x"}], "line 2: end 0.0 is before start"),
        ([CALL, {"start": 0, "end": 1, "speaker": "robot", "text": "x"}], "speaker must be"),
        ([CALL, {"start": 0, "end": 1, "speaker": "agent"}], "segment lacks text"),
        ([{"call": {"language": "zh-CN", "started_at": "2026-11-25T10:00:00"}}], "no UTC offset"),
        (
            [
                {
                    "call": {
                        "language": "zh-CN",
                        "started_at": "2026-11-25T10:00:00+08:00",
                        "account": {"id": "A", "principal": "many"},
                    }
                }
            ],
            "principal",
        ),
    ],
)
def test_bad_input_is_named(tmp_path: Path, lines: list[object], message: str) -> None:
    with pytest.raises(ReplayError, match=message):
        replay_file(write(tmp_path, lines))


def test_bad_json_line_and_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text(json.dumps(CALL) + "\n{not json\n", encoding="utf-8")
    assert run_replay(p, as_json=True) == 2
    assert "line 2: not valid JSON" in capsys.readouterr().err
