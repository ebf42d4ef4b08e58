"""Recognition-tolerant matching: pinyin homophones, spacing, negation, short-phrase anchoring, English
edit distance."""

from __future__ import annotations

import pytest

from assist.coach.match import Matcher, PatternError


@pytest.fixture(scope="module")
def zh() -> Matcher:
    return Matcher(
        "zh-CN",
        {"third": ["家人", "单位", "领导"], "you": ["你", "你的"]},
        default_gap=6,
        negators=["不", "没", "别"],
        fillers=["会", "去", "就", "我们", "是", "要"],
        synonyms={"您": "你", "她": "他"},
        weak_chars="你我他的了是在有不也就都打这那个",
    )


@pytest.fixture(scope="module")
def en() -> Matcher:
    pats = ["call|tell ~3 your employer|your family", "attempt to collect a debt", "arrest*", "summons"]
    return Matcher(
        "en-US",
        {},
        default_gap=4,
        negators=["not", "never", "won't", "don't"],
        fillers=["will", "going", "to", "we", "be", "i"],
        vocabulary_patterns=pats,
    )


def found(m: Matcher, patterns: list[str], text: str) -> list[str]:
    ps = m.compile(patterns)
    return [h.quote(text) for h in ps.hits(m.tokens(text))]


@pytest.mark.parametrize("text", ["影响征信", "影响正信", "影 响 正 信", "影响  征  信 记录"])
def test_homophones_and_spacing(zh: Matcher, text: str) -> None:
    assert found(zh, ["征信"], text), text


def test_pinyin_tolerates_homophones_in_longer_phrases(zh: Matcher) -> None:
    assert found(zh, ["通讯录"], "发给你通讯路里所有人")
    assert found(zh, ["录音"], "本次通话会录因")


def test_short_phrase_needs_one_distinctive_character(zh: Matcher) -> None:
    # 打折 / 打这 share only the weak 打; 你妈 / 你马上 only the weak 你
    assert not found(zh, ["打折"], "还是打这个号码吗")
    assert not found(zh, ["你妈"], "我帮你马上结清")
    assert found(zh, ["打折"], "给你打折")


def test_gap_and_lexicon(zh: Matcher) -> None:
    assert found(zh, ["告诉|通知 ~3 {you} ~3 {third}"], "你不还我们就通知你的单位")
    assert not found(zh, ["告诉|通知 ~1 {third}"], "通知一下你们的单位")


def test_negation_with_fillers(zh: Matcher) -> None:
    ps = zh.compile(["告诉|通知 ~3 {you} ~3 {third}"])
    assert ps.find(zh.tokens("我们不会告诉您家人")) is None
    assert ps.find(zh.tokens("我们是不会去告诉您的家人的")) is None
    # a negation that belongs to another verb does not cancel the threat
    assert ps.find(zh.tokens("你不还就告诉你家人")) is not None


def test_synonyms(zh: Matcher) -> None:
    assert found(zh, ["他不在"], "她不在家")


def test_english_edit_distance_and_prefix(en: Matcher) -> None:
    assert found(en, ["attempt to collect a debt"], "this is an atempt to colect a debt")
    assert found(en, ["arrest*"], "you will be arrested")
    assert found(en, ["call|tell ~3 your employer|your family"], "we will call your employer")


def test_english_negation(en: Matcher) -> None:
    ps = en.compile(["call|tell ~3 your employer|your family"])
    assert ps.find(en.tokens("We are not going to call your employer.")) is None
    assert ps.find(en.tokens("If you don't pay we will call your employer.")) is not None


def test_names_are_not_corrected(en: Matcher) -> None:
    # "Simmons" is one edit from "summons" but is a capitalised name in mixed-case text
    assert not found(en, ["summons"], "Hi, I'm trying to reach Derek Simmons.")
    assert found(en, ["summons"], "you got a sumons")


def test_bad_patterns_are_named() -> None:
    m = Matcher("zh-CN", {}, default_gap=4, negators=[], fillers=[])
    with pytest.raises(PatternError, match="unknown lexicon entry"):
        m.compile(["{missing} ~ 你"], where="x")
    with pytest.raises(PatternError, match="not pattern syntax"):
        m.compile(["的?"])
    with pytest.raises(PatternError, match="empty slot"):
        m.compile(["征信 ~ "])
