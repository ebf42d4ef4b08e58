"""ASSIST_PLAYBOOK_DIR: a directory of extra playbooks, searched before the packaged ones; and the Korean
test playbook (tests/data/playbooks/ko-KR.yaml) that bench/e2e_latency.py loads through it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from assist.coach.engine import CallCoach, CallContext
from assist.coach.playbook import load_playbook, use_playbook_dir
from assist.events import Speaker, TranscriptSegment
from assist.service.app import create_app
from assist.settings import Settings

KO_DIR = Path(__file__).parent / "data" / "playbooks"


@pytest.fixture(autouse=True)
def _packaged_only_afterwards() -> Iterator[None]:
    yield
    use_playbook_dir(None)  # the setting is process-wide: later tests see the packaged playbooks only


def test_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSIST_PLAYBOOK_DIR", str(KO_DIR))
    assert Settings().playbook_dir == KO_DIR
    monkeypatch.setenv("ASSIST_PLAYBOOK_DIR", "")
    assert Settings().playbook_dir is None


def test_create_app_makes_load_playbook_search_the_directory_first(tmp_path: Path) -> None:
    create_app(Settings(data_dir=tmp_path, playbook_dir=KO_DIR, vosk_model=None))
    assert load_playbook("ko-KR").language == "ko-KR"
    assert load_playbook("en-US").language == "en-US"  # not in the directory: the packaged one
    assert load_playbook("zh").language == "zh-CN"


def test_without_the_setting_an_unknown_language_falls_back(tmp_path: Path) -> None:
    create_app(Settings(data_dir=tmp_path, playbook_dir=None, vosk_model=None))
    assert load_playbook("ko-KR").language == "zh-CN"
    # an explicit directory still wins, with or without the setting
    assert load_playbook("ko-KR", directory=KO_DIR).language == "ko-KR"


def _segment(speaker: Speaker, final: bool, text: str) -> TranscriptSegment:
    return TranscriptSegment(
        call_id="c",
        segment_id=f"c:{speaker}:0",
        index=0,
        speaker=speaker,
        final=final,
        start=1.0,
        end=2.0,
        text=text,
        language="ko-KR",
    )


def test_korean_words_match_on_partials_for_the_agent_and_on_finals_for_the_customer() -> None:
    pb = load_playbook("ko-KR", directory=KO_DIR)
    coach = CallCoach(CallContext(call_id="c", language="ko-KR", started_at=datetime.now(UTC)), pb)
    coach.start()
    text = "니 엄마 록 악의"  # what the test model made of espeak saying "고객님 엄마 문제가 있어요"
    hit = coach.on_segment(_segment("agent", False, text))
    assert [(p.kind, p.rule) for p in hit] == [("compliance", "KO-TEST-FAMILY")]
    assert coach.on_segment(_segment("customer", False, text)) == []  # flags judge finals only
    flag = coach.on_segment(_segment("customer", True, text))
    assert [(p.kind, p.rule) for p in flag] == [("flag", "KO-TEST-FAMILY-MENTION")]
