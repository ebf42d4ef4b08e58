"""Playbooks: shipped files are valid and sourced, a broken file says where it is broken, fallbacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from assist.coach.playbook import PLAYBOOK_DIR, PlaybookError, load_playbook, read_playbook


@pytest.mark.parametrize("lang", ["zh-CN", "en-US"])
def test_shipped_playbooks_are_valid_and_every_rule_has_a_source(lang: str) -> None:
    pb = read_playbook(PLAYBOOK_DIR / f"{lang}.yaml")
    assert pb.language == lang
    assert pb.rules and all(r.source.strip() for r in pb.rules.values())
    keys = {i.key for i in pb.disclosures.items}
    assert {
        "identity",
        "purpose",
        "recording_notice",
        "amount_breakdown",
        "deadline",
        "credit_consequence",
        "legal_consequence",
    } <= keys
    assert ("debt_collector_statement" in keys) == (lang == "en-US")


def test_sources_name_the_regulations() -> None:
    zh = " ".join(r.source for r in load_playbook("zh-CN").rules.values())
    for doc in ("互联网金融逾期债务催收自律公约", "商业银行信用卡业务监督管理办法", "国家标准", "个人信息保护法"):
        assert doc in zh
    en = " ".join(r.source for r in load_playbook("en-US").rules.values())
    assert "12 CFR 1006.14(b)(2)(i)(A)" in en and "1006.6(b)(1)(i)" in en and "1692e(11)" in en


def test_language_aliases_and_cache() -> None:
    assert load_playbook("zh").language == "zh-CN"
    assert load_playbook("cmn-Hans-CN").language == "zh-CN"
    assert load_playbook("en-GB").language == "en-US"
    assert load_playbook("en-US") is load_playbook("en")


def test_unknown_language_falls_back_to_default(capsys: pytest.CaptureFixture[str]) -> None:
    pb = load_playbook("fr-FR")
    assert pb.language == "zh-CN"
    seen = capsys.readouterr()
    assert "playbook_fallback" in seen.out + seen.err and "fr-FR" in seen.out + seen.err


def _copy(tmp_path: Path, mutate) -> Path:  # type: ignore[no-untyped-def]
    data = yaml.safe_load((PLAYBOOK_DIR / "zh-CN.yaml").read_text(encoding="utf-8"))
    mutate(data)
    p = tmp_path / "zh-CN.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return p


def test_rule_without_source_is_rejected(tmp_path: Path) -> None:
    p = _copy(tmp_path, lambda d: d["rules"]["CN-ABUSE-01"].update(source=" "))
    with pytest.raises(PlaybookError, match=r"rules\.CN-ABUSE-01\.source"):
        read_playbook(p)


def test_unknown_rule_reference_is_rejected(tmp_path: Path) -> None:
    p = _copy(tmp_path, lambda d: d["violations"][0].update(rule="CN-NOPE-99"))
    with pytest.raises(PlaybookError, match="CN-NOPE-99"):
        read_playbook(p)


def test_bad_pattern_is_named(tmp_path: Path) -> None:
    p = _copy(tmp_path, lambda d: d["violations"][0]["patterns"].append("{no_such_list} ~ 你"))
    with pytest.raises(PlaybookError, match="no_such_list"):
        read_playbook(p)


def test_unknown_key_is_rejected(tmp_path: Path) -> None:
    p = _copy(tmp_path, lambda d: d["settings"].update(repeat_intervall=5))
    with pytest.raises(PlaybookError, match="repeat_intervall"):
        read_playbook(p)


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.yaml"
    bad.write_text("language: [", encoding="utf-8")
    with pytest.raises(PlaybookError, match="not valid YAML"):
        read_playbook(bad)
    with pytest.raises(PlaybookError, match="does not exist"):
        read_playbook(tmp_path / "missing.yaml")


def test_a_call_centre_changes_wording_and_thresholds_without_code(tmp_path: Path) -> None:
    def edit(d: dict[str, Any]) -> None:
        d["frequency"]["max_connected_per_day"] = 2
        d["disclosures"]["reminder_text"] = "别忘了：{missing}"

    p = _copy(tmp_path, edit)
    pb = load_playbook("zh-CN", directory=tmp_path)
    assert pb.frequency.max_connected_per_day == 2
    assert pb.text(pb.disclosures.reminder_text, missing="录音告知") == "别忘了：录音告知"
    assert p.parent == tmp_path


def test_text_leaves_unknown_fields() -> None:
    pb = load_playbook("zh-CN")
    assert pb.text("{a} {b}", a="1") == "1 {b}"
