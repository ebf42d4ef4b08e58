"""Account model and loaders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assist.accounts import AccountError, load_accounts, parse_account, stage_for


def test_derived_fields_and_aliases() -> None:
    a = parse_account(
        {
            "account_id": 42,
            "principal": 10000,
            "interest": 1500,
            "penalty": 500,
            "overdue_days": 45,
            "history": [{"at": "2026-11-25T10:00:00", "connected": True, "channel": "机器人"}],
            "timezone": "Asia/Shanghai",
            "branch": "深圳",
        }
    )
    assert a.id == "42" and a.total_due == 12000 and a.stage == "M2"
    assert a.contacts[0].channel == "robot" and a.contacts[0].at.utcoffset() is not None
    assert a.model_extra == {"branch": "深圳"}  # unknown fields are kept


@pytest.mark.parametrize(("days", "stage"), [(1, "M1"), (30, "M1"), (31, "M2"), (90, "M3"), (91, "M4"), (181, "M6+")])
def test_stage(days: int, stage: str) -> None:
    assert stage_for(days) == stage


def test_bad_record_names_field() -> None:
    with pytest.raises(AccountError, match="principal"):
        parse_account({"id": "x", "principal": "lots"})
    with pytest.raises(AccountError, match="time zone"):
        parse_account({"id": "x", "timezone": "Mars/Olympus"})


def test_load_csv(tmp_path: Path) -> None:
    p = tmp_path / "a.csv"
    p.write_text(
        "id,name,principal,interest,penalty,overdue_days,due_date,previous_promises\n"
        'A1,张伟,20000,1200,300,45,2026-10-06,"[{""date"": ""2026-11-01"", ""amount"": 2000, '
        '""kept"": false}]"\n'
        "A2,李娜,5000,,,10,,\n",
        encoding="utf-8",
    )
    accs = load_accounts(p)
    assert [a.id for a in accs] == ["A1", "A2"]
    assert accs[0].total_due == 21500 and accs[0].broken_promises == 1
    assert accs[1].total_due == 5000


def test_load_csv_errors_name_row(tmp_path: Path) -> None:
    p = tmp_path / "a.csv"
    p.write_text("id,principal\nA1,100\nA2,abc\n", encoding="utf-8")
    with pytest.raises(AccountError, match="row 3"):
        load_accounts(p)
    q = tmp_path / "b.csv"
    q.write_text("name,principal\nx,1\n", encoding="utf-8")
    with pytest.raises(AccountError, match="'id' column"):
        load_accounts(q)


def test_load_json_shapes(tmp_path: Path) -> None:
    recs = [{"id": "A1", "principal": 1}, {"id": "A2", "principal": 2}]
    for name, body in (
        ("l.json", json.dumps(recs)),
        ("o.json", json.dumps({"accounts": recs})),
        ("l.jsonl", "\n".join(json.dumps(r) for r in recs)),
    ):
        p = tmp_path / name
        p.write_text(body, encoding="utf-8")
        assert [a.id for a in load_accounts(p)] == ["A1", "A2"]


def test_load_unsupported_and_missing(tmp_path: Path) -> None:
    p = tmp_path / "a.xlsx"
    p.write_text("x", encoding="utf-8")
    with pytest.raises(AccountError, match="unsupported"):
        load_accounts(p)
    with pytest.raises(AccountError, match="no such file"):
        load_accounts(tmp_path / "none.csv")
