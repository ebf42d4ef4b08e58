"""Focused tests for the causes found on unseen calls (issue 13): negation and refusal scope, third-party
favours, promise revisions and acceptances, the call's temperament, wilful default, relative dates."""

from __future__ import annotations

from datetime import date

import pytest

from assist.coach.numbers import find_dates
from tests.test_coach_detectors import EN_ACC, ZH_ACC, Call

# ---------------------------------------------------------------- promise: the last commitment


def promise(c: Call) -> tuple[float, str] | None:
    p = c.coach.findings().promise
    return (p.amount, p.date) if p else None


def test_self_correction_replaces_the_amount_zh() -> None:
    c = Call("zh-CN", ZH_ACC)  # Wednesday 2026-11-25
    c.agent("您这笔什么时候能处理")
    c.customer("我这周五先还两千 哦不对 两千太少了 还四千吧")
    assert promise(c) == (4000, "2026-11-27")


def test_self_correction_across_turns_zh() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.customer("月底我先还三千")
    c.agent("好的 月底三千")
    c.customer("等一下 还是改成下个月5号还六千吧")
    assert promise(c) == (6000, "2026-12-05")


def test_self_correction_of_the_day_en() -> None:
    c = Call("en-US", EN_ACC)  # Wednesday 2026-11-25
    c.customer("I can send three hundred on Friday.")
    c.customer("Actually, make it Monday, that's when I get paid.")
    assert promise(c) == (300, "2026-11-30")


def test_agent_asks_for_more_and_customer_agrees_zh() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.customer("那我下周一还一千")
    c.agent("一千有点少 下周一能不能还到三千")
    c.customer("行 那就三千")
    assert promise(c) == (3000, "2026-11-30")


@pytest.mark.parametrize("reply", ["行", "好吧", "可以", "嗯 行吧"])
def test_bare_acceptance_of_an_offer_zh(reply: str) -> None:
    c = Call("zh-CN", ZH_ACC)
    c.agent("要不这样 您12月10号之前先还八千 可以吗")
    c.customer(reply)
    assert promise(c) == (8000, "2026-12-10")


@pytest.mark.parametrize("reply", ["okay", "Fine.", "yes", "Yeah okay"])
def test_bare_acceptance_of_an_offer_en(reply: str) -> None:
    c = Call("en-US", EN_ACC)
    c.agent("How about four hundred by December tenth?")
    c.customer(reply)
    assert promise(c) == (400, "2026-12-10")


@pytest.mark.parametrize(
    "text",
    [
        "这个月一分钱都拿不出来",
        "下周五之前五千我肯定拿不出来",
        "月底还八千 我做不到",
    ],
)
def test_refusal_naming_an_amount_is_not_a_promise_zh(text: str) -> None:
    c = Call("zh-CN", ZH_ACC)
    c.agent("您月底能先还八千吗")
    c.customer(text)
    assert promise(c) is None


@pytest.mark.parametrize(
    "text",
    [
        "I can't pay five hundred by Friday.",
        "There's no way I'm paying $800 this month.",
        "I won't have two hundred by the 15th.",
    ],
)
def test_refusal_naming_an_amount_is_not_a_promise_en(text: str) -> None:
    c = Call("en-US", EN_ACC)
    c.customer(text)
    assert promise(c) is None


def test_two_piece_promise_across_several_turns_zh() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.customer("我能先还两千五")
    c.agent("好的 两千五")
    c.agent("那您哪天能还上")
    c.customer("嗯 我想想")
    c.customer("下周三吧")
    assert promise(c) == (2500, "2026-12-02")


def test_two_piece_promise_en() -> None:
    c = Call("en-US", EN_ACC)
    c.agent("What can you pay?")
    c.customer("I can do about three fifty.")
    c.agent("And when can you make that payment?")
    c.customer("The first of next month.")
    assert promise(c) == (350, "2026-12-01")


def test_later_instalments_do_not_replace_the_next_payment() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.customer("我这周五先还五千")
    c.customer("剩下的下个月15号前还清")
    assert promise(c) == (5000, "2026-11-27")


def test_promise_card_from_a_partial_segment() -> None:
    c = Call("zh-CN", ZH_ACC)
    out = c.customer("我下周五还五千", final=False, start=0.0, end=1.5, seg_id="p1")
    assert any(p.kind == "promise" for p in out)


def test_no_readback_prompt_when_the_agent_already_read_it_back() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.customer("我下周五还五千")
    c.agent("好的 跟您确认一下 下周五 也就是12月4号 还款五千元")
    texts = [p for p in c.prompts if p.kind == "promise" and p.data.get("complete")]
    assert len(texts) == 1
    p = c.coach.findings().promise
    assert p is not None and p.confirmed_by_agent and (p.amount, p.date) == (5000, "2026-12-04")


# ---------------------------------------------------------------- relative dates (issue 14)

FRI = date(2026, 11, 20)


@pytest.mark.parametrize(
    ("text", "today", "want"),
    [
        ("跟您确认一下 下周五还五千", FRI, date(2026, 11, 27)),
        ("跟你确认一下下周五", date(2026, 11, 25), date(2026, 12, 4)),
        ("我再核对一下下下周五", FRI, date(2026, 12, 4)),  # 一下 + 下周五 (the verb's 下 is not a second 下)
        ("确认一下下个月15号", FRI, date(2026, 12, 15)),
        ("这周五", FRI, FRI),
        ("这周五", date(2026, 11, 21), date(2026, 11, 27)),  # said on a Saturday: not yesterday
        ("下周五", FRI, date(2026, 11, 27)),
        ("下下周五", FRI, date(2026, 12, 4)),
        ("月底", date(2026, 11, 30), date(2026, 11, 30)),
        ("下个月底", date(2026, 11, 30), date(2026, 12, 31)),
        ("15号", date(2026, 11, 30), date(2026, 12, 15)),
        ("15号", date(2026, 12, 31), date(2027, 1, 15)),
        ("15号", date(2026, 12, 15), date(2026, 12, 15)),
    ],
)
def test_zh_relative_dates(text: str, today: date, want: date) -> None:
    assert [d.date for d in find_dates(text, "zh-CN", today)][:1] == [want]


def test_readback_with_yixia_is_not_a_week_late() -> None:
    # the fixed phrase is 一下 + 下周五; without the second 下 it is this coming Friday
    assert [d.date for d in find_dates("确认一下周五", "zh-CN", FRI)] == [FRI]


@pytest.mark.parametrize(
    ("text", "today", "want"),
    [
        ("next Friday", FRI, date(2026, 11, 27)),  # said on a Friday: the Friday of next week
        ("this Friday", FRI, FRI),
        ("on Friday", date(2026, 11, 25), date(2026, 11, 27)),
        ("next Friday", date(2026, 11, 22), date(2026, 11, 27)),  # Sunday: weeks start on Monday
        ("the 15th", date(2026, 11, 30), date(2026, 12, 15)),
        ("the 15th", date(2026, 12, 31), date(2027, 1, 15)),
        ("end of the month", date(2026, 11, 30), date(2026, 11, 30)),
    ],
)
def test_en_relative_dates(text: str, today: date, want: date) -> None:
    assert [d.date for d in find_dates(text, "en-US", today)][:1] == [want]


# ---------------------------------------------------------------- negation, refusal and reassurance


@pytest.mark.parametrize(
    "text",
    [
        "您放心 欠款是民事纠纷 没有人会因为这个来抓您",
        "我们绝对不会去您单位找您 这点您放心",
        "这个我做不了主 没法保证给您免利息",
        "减免的事我这边答应不了 您可以在APP上提交申请",
        "不存在什么黑名单 这个您别听别人乱说",
        "我们没有权力冻结您的账户",
        "坐牢是不可能的 您别担心",
        "不会影响您孩子上学的 您放心",
        "我们不可能派人上门 您别紧张",
    ],
)
def test_negated_or_declined_is_not_a_violation_zh(text: str) -> None:
    c = Call("zh-CN", ZH_ACC)
    c.customer("你们是不是要来抓我 会不会坐牢")
    c.agent(text)
    assert c.violations() == []


@pytest.mark.parametrize(
    "text",
    [
        "We would never involve the police in something like this.",
        "Nobody is going to arrest you over a credit card balance.",
        "No one will come to your house, I promise.",
        "I can't waive the interest, that's not something I'm able to promise.",
        "You won't go to jail for this, it's a civil matter.",
        "There is no blacklist, that's not how it works.",
        "I'm not able to take off the late fees, only the review team can decide that.",
        "We will never contact your employer about this.",
    ],
)
def test_negated_or_declined_is_not_a_violation_en(text: str) -> None:
    c = Call("en-US", EN_ACC)
    c.customer("Are you going to have me arrested?")
    c.agent(text)
    assert c.violations() == []


@pytest.mark.parametrize(
    ("lang", "text", "kind"),
    [
        ("zh-CN", "你再不还 我们明天就派人上门把你带走", "threat"),
        ("zh-CN", "我们已经给您免了全部利息 剩下的本金还了就行", "misleading"),
        ("zh-CN", "你要是不还 就要坐牢", "misleading"),
        ("en-US", "If you don't pay today, you will be arrested.", "misleading"),
        ("en-US", "We're going to call your employer and tell them.", "threat"),
    ],
)
def test_real_violations_still_count(lang: str, text: str, kind: str) -> None:
    c = Call(lang, ZH_ACC if lang == "zh-CN" else EN_ACC)
    c.agent(text)
    assert [k for k, _ in c.violations()] == [kind]


def test_a_threat_is_not_also_misleading() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.agent("明天我们就叫警察上门把你抓走 你就等着坐牢吧")
    kinds = [k for k, _ in c.violations()]
    assert "threat" in kinds and "misleading" not in kinds


# ---------------------------------------------------------------- third parties


@pytest.mark.parametrize(
    ("who", "text"),
    [
        ("我是他妈妈", "阿姨 麻烦您帮个忙 劝劝他把欠我们的钱还上"),
        ("我是他同事 他出去了", "那能不能请您帮个忙 转告他一声 他那笔贷款得尽快处理"),
        ("我是他邻居 他不在家", "大姐 麻烦您帮忙跟他说一声 让他赶紧把钱还了"),
        ("我是他老婆", "那您能不能先帮他垫上 五千块就行"),
    ],
)
def test_favour_to_a_third_party_is_a_disclosure_zh(who: str, text: str) -> None:
    c = Call("zh-CN", ZH_ACC)
    c.agent("您好 请问是张伟先生吗")
    c.customer(who)
    c.agent(text)
    assert [k for k, _ in c.violations()] == ["third_party_disclosure"]


@pytest.mark.parametrize(
    ("who", "text"),
    [
        ("No, this is his mother.", "Could you do me a favor and remind him he needs to take care of this balance?"),
        ("I'm his coworker, he stepped out.", "Would you mind letting him know his payment is overdue?"),
        ("This is his neighbor, he isn't home.", "Maybe you could help him out and cover the bill for him?"),
    ],
)
def test_favour_to_a_third_party_is_a_disclosure_en(who: str, text: str) -> None:
    c = Call("en-US", EN_ACC)
    c.agent("Hi, may I speak with James Carter?")
    c.customer(who)
    c.agent(text)
    assert [k for k, _ in c.violations()] == ["third_party_disclosure"]


@pytest.mark.parametrize(
    ("lang", "who", "text"),
    [
        ("zh-CN", "我是他妈妈", "好的 麻烦您转告他回个电话 我们这边是安信消费金融 电话4008123456"),
        ("en-US", "I'm his coworker.", "Could you ask him to call Mike back at 1-800-555-0134? Thanks."),
    ],
)
def test_callback_request_to_a_third_party_is_fine(lang: str, who: str, text: str) -> None:
    c = Call(lang, ZH_ACC if lang == "zh-CN" else EN_ACC)
    c.customer(who)
    c.agent(text)
    assert c.violations() == []


# ---------------------------------------------------------------- wilful default


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("zh-CN", "这个月我是真的还不了 工资还没发"),
        ("zh-CN", "现在一分钱都拿不出来 下个月再看"),
        ("zh-CN", "这个月不还了 实在没钱 下个月一定还"),
        ("en-US", "I just can't pay this month, money is really tight."),
        ("en-US", "I'm not paying anything this month, I don't have it."),
        ("zh-CN", "我不还了 这个月实在没钱"),
        ("zh-CN", "这段时间我没打算还 手头太紧"),
        ("en-US", "I won't pay anything until I get my next check."),
    ],
)
def test_cannot_pay_this_month_is_not_wilful_default(lang: str, text: str) -> None:
    c = Call(lang, ZH_ACC if lang == "zh-CN" else EN_ACC)
    c.customer(text)
    assert [r.kind for r in c.coach.findings().risks] == []


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("zh-CN", "我就是不还 你们爱找谁找谁"),
        ("zh-CN", "一分钱都不会还的 有本事去起诉我"),
        ("en-US", "I'm never paying this, go ahead and sue me."),
        ("en-US", "I will never pay, sue me."),
        ("en-US", "I'm never paying you people."),
        ("zh-CN", "不还了 你们随便吧"),
    ],
)
def test_refusal_is_wilful_default(lang: str, text: str) -> None:
    c = Call(lang, ZH_ACC if lang == "zh-CN" else EN_ACC)
    c.customer(text)
    assert [r.kind for r in c.coach.findings().risks] == ["wilful_default"]


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        # refusing a part of the debt (fees, interest, the lump sum) is a fee dispute or a plan request
        ("zh-CN", "滞纳金我不还 本金我认"),
        ("zh-CN", "违约金我是不会还的 这个不合理"),
        ("zh-CN", "利息我不想还 太高了"),
        ("en-US", "I'm not paying the late fees, but I'll pay what I borrowed."),
        ("en-US", "I'm not going to pay it all at once."),
        ("en-US", "I'm not gonna pay two thousand today, I can do five hundred."),
        # someone else's words, or denying having said it
        ("zh-CN", "我老公说不还了 但我会还的"),
        ("en-US", "My lawyer told me not to pay you."),
        ("en-US", "I never said I won't pay."),
        # a refusal of something other than paying
        ("en-US", "I refuse to be talked to like that."),
    ],
)
def test_partial_quoted_or_denied_refusals_are_not_wilful_default(lang: str, text: str) -> None:
    c = Call(lang, ZH_ACC if lang == "zh-CN" else EN_ACC)
    c.customer(text)
    assert [r.kind for r in c.coach.findings().risks] == []


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("zh-CN", "我说了不还就是不还"),
        ("en-US", "I refuse to pay a single cent."),
        ("en-US", "I'm not paying a dime, not today not ever."),
    ],
)
def test_own_refusals_stay_wilful_default(lang: str, text: str) -> None:
    c = Call(lang, ZH_ACC if lang == "zh-CN" else EN_ACC)
    c.customer(text)
    assert [r.kind for r in c.coach.findings().risks] == ["wilful_default"]


# ---------------------------------------------------------------- temperament over the call


def test_call_label_does_not_decay_to_neutral() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.customer("对不起 真的很抱歉 我不是故意不还的")
    c.agent("没关系 我们一起看看")
    c.customer("我很怕家里人知道 求求你别告诉我老婆")
    c.agent("您放心 只跟您本人沟通")
    for _ in range(8):
        c.customer("好的")
        c.agent("嗯 那我们确认一下")
    f = c.coach.findings()
    assert f.temperament.label == "sensitive"
    assert f.temperament.changes and f.temperament.changes[0]["label"] == "sensitive"


def test_summary_reports_the_call_label() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.customer("对不起 真的很抱歉 我不是故意不还的")
    c.customer("我很怕家里人知道 求求你别告诉我老婆")
    for _ in range(8):
        c.customer("好的")
    c.coach.end()
    summary = [p for p in c.prompts + c.coach.end() if p.kind == "summary"]
    assert summary == [] or summary[0].data["findings"]["temperament"]["label"] == "sensitive"
    assert c.coach.findings().public()["temperament"]["label"] == "sensitive"  # type: ignore[index]


def test_call_label_keeps_the_held_type_when_evidence_is_mixed() -> None:
    from assist.coach.detectors.temperament import Temperament

    c = Call("zh-CN", ZH_ACC)
    t = next(d for d in c.coach.detectors if isinstance(d, Temperament))
    # sensitive for most of the call, some dominant and procrastinating remarks later: no type has the
    # share the whole-call rule wants, but the live label showed sensitive for 5 utterances
    t.totals = {"dominant": 1.5, "sensitive": 2.0, "procrastinating": 1.5}
    t.held = {"sensitive": 5, "dominant": 1}
    assert t.overall(c.coach.state)[0] == "sensitive"
    t.held = {"sensitive": 1}  # a label shown once is not enough
    assert t.overall(c.coach.state)[0] == "neutral"


# ---------------------------------------------------------------- disclosure timing (issue 14)


def test_opening_items_reminded_in_the_opening_en() -> None:
    c = Call("en-US", EN_ACC)
    c.agent("Hi, this is Dana with Meridian Recovery Services.", start=1, end=4)
    assert [p.data["missing"] for p in c.coach.tick(16) if p.kind == "disclosure"] == [["recording_notice"]]


@pytest.mark.parametrize(
    ("lang", "wrap_up"),
    [
        ("zh-CN", "好的 那您还有什么问题吗"),
        ("en-US", "Okay, is there anything else I can help you with today?"),
    ],
)
def test_closing_items_reminded_before_the_goodbye(lang: str, wrap_up: str) -> None:
    c = Call(lang, ZH_ACC if lang == "zh-CN" else EN_ACC)
    out = [p for p in c.agent(wrap_up) if p.kind == "disclosure"]
    assert out and out[0].data["closing"] and "deadline" in out[0].data["missing"]


@pytest.mark.parametrize(
    ("lang", "who", "text"),
    [
        ("zh-CN", "我是他哥", "那你帮他把欠款还了吧"),
        ("zh-CN", "我跟他一个单位的", "麻烦您让他赶紧还钱"),
        ("zh-CN", "我是他楼下邻居", "他欠我们钱一直没还"),
        ("en-US", "I work with him.", "Can you tell him his account is past due?"),
        ("en-US", "I live next door, he's out.", "Would you mind helping him pay what he owes?"),
        ("zh-CN", "他是我儿子 有什么事跟我说", "他的贷款逾期了 您能帮他还一下吗"),
        ("zh-CN", "我是张伟的妈妈", "张伟欠我们的钱已经逾期了"),
        ("en-US", "He's my son, what's this about?", "He has a past due balance with us."),
        ("en-US", "I'm a friend of his.", "Can you remind him about the overdue payment?"),
    ],
)
def test_who_is_on_the_line_relative_colleague_neighbour(lang: str, who: str, text: str) -> None:
    c = Call(lang, ZH_ACC if lang == "zh-CN" else EN_ACC)
    c.customer(who)
    c.agent(text)
    assert [k for k, _ in c.violations()] == ["third_party_disclosure"]


def test_accepted_offer_card_does_not_ask_for_a_read_back() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.agent("您下周五先还五千 可以吗")
    c.customer("可以")
    cards = [p for p in c.prompts if p.kind == "promise" and p.data.get("complete")]
    assert len(cards) == 1 and cards[0].data["confirmed"] and "复述" not in cards[0].text
    c.agent("好的 请通过官方APP还款")
    assert not [p for p in c.prompts if p.data.get("readback")]


def test_readback_reminder_when_the_agent_moves_on() -> None:
    c = Call("en-US", EN_ACC)
    c.customer("I'll pay two hundred dollars on December tenth.")
    c.agent("Okay. Is there anything else going on with the account?")
    assert [p for p in c.prompts if p.data.get("readback")]


@pytest.mark.parametrize(
    ("lang", "offer", "reply", "want"),
    [
        ("zh-CN", "您下周五先还五千 可以吗", "五千太多了 三千吧", (3000, "2026-12-04")),
        (
            "en-US",
            "Could you do five hundred on December tenth?",
            "That's too much, how about three hundred?",
            (300, "2026-12-10"),
        ),
    ],
)
def test_counter_offer_keeps_the_offer_date(lang: str, offer: str, reply: str, want: tuple[float, str]) -> None:
    c = Call(lang, ZH_ACC if lang == "zh-CN" else EN_ACC)
    c.agent(offer)
    c.customer(reply)
    assert promise(c) == want


@pytest.mark.parametrize(
    "text",
    [
        "I can't do five hundred by Friday.",
        "I don't have five hundred for Friday.",
        "Two hundred by the 15th isn't possible for me.",
    ],
)
def test_refusal_of_an_offer_en(text: str) -> None:
    c = Call("en-US", EN_ACC)
    c.agent("Can you pay five hundred by Friday?")
    c.customer(text)
    assert promise(c) is None


@pytest.mark.parametrize(
    ("lang", "text", "kind"),
    [
        # a negated condition does not negate the consequence (no punctuation, as recognisers write it)
        ("en-US", "if you won't pay we will have you arrested", "threat"),
        ("en-US", "unless you pay today you will be arrested", "misleading"),
        ("zh-CN", "要是没办法还 我们就派人上门把你带走", "threat"),
        ("zh-CN", "你如果不还 法院马上冻结你的财产", "misleading"),
    ],
)
def test_negated_condition_keeps_the_violation(lang: str, text: str, kind: str) -> None:
    c = Call(lang, ZH_ACC if lang == "zh-CN" else EN_ACC)
    c.agent(text)
    assert kind in [k for k, _ in c.violations()]


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("zh-CN", "您别害怕 欠款是民事纠纷 不涉及刑事责任"),
        ("zh-CN", "黑名单这种说法是不存在的"),
        ("zh-CN", "这不构成犯罪 您放心"),
        ("en-US", "You're not in any legal trouble and no one is going to arrest you."),
        ("en-US", "This won't affect your children or your job in any way."),
    ],
)
def test_more_reassurance(lang: str, text: str) -> None:
    c = Call(lang, ZH_ACC if lang == "zh-CN" else EN_ACC)
    c.agent(text)
    assert c.violations() == []


@pytest.mark.parametrize("text", ["下周五还五千 我钱不够", "下周五还五千 还是算了吧"])
def test_taking_it_back_is_no_promise(text: str) -> None:
    c = Call("zh-CN", ZH_ACC)
    c.customer(text)
    assert promise(c) is None


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("zh-CN", "免息这个我没有权限 给您承诺不了"),
        ("zh-CN", "利息全免？这个我真决定不了"),
        ("zh-CN", "您说的打折我们这边是批不了的"),
        ("en-US", "Waiving the interest isn't something I can do."),
        ("en-US", "Stopping the calls isn't up to me, I'm sorry."),
    ],
)
def test_declined_waiver(lang: str, text: str) -> None:
    c = Call(lang, ZH_ACC if lang == "zh-CN" else EN_ACC)
    c.customer("能不能把利息免了" if lang == "zh-CN" else "Can you waive the interest?")
    c.agent(text)
    assert c.violations() == []


@pytest.mark.parametrize(
    ("lang", "text", "want"),
    [
        ("zh-CN", "我都快被你们烦死了", []),
        ("zh-CN", "累死了 刚下班", []),
        ("zh-CN", "我在医院上班 现在忙", []),
        ("zh-CN", "我爸上个月死了", ["hardship"]),
        ("en-US", "I work at the hospital, I'm on shift.", []),
        ("en-US", "I'm in the hospital right now.", ["hardship"]),
    ],
)
def test_hardship_is_not_a_figure_of_speech(lang: str, text: str, want: list[str]) -> None:
    c = Call(lang, ZH_ACC if lang == "zh-CN" else EN_ACC)
    c.customer(text)
    assert [r.kind for r in c.coach.findings().risks] == want


@pytest.mark.parametrize(
    ("lang", "text", "clean"),
    [
        ("zh-CN", "黑名单？没有这回事 您放心", True),
        ("zh-CN", "抓人 不会这样的 您别担心", True),
        ("zh-CN", "你知道会上黑名单吗？不还就是这样", False),
        ("en-US", "Arrest? That's not going to happen.", True),
        ("en-US", "A criminal record? No, that's not how it works.", True),
        ("en-US", "You know you could be arrested? That's true.", False),
    ],
)
def test_echoed_fear_then_denied(lang: str, text: str, clean: bool) -> None:
    c = Call(lang, ZH_ACC if lang == "zh-CN" else EN_ACC)
    c.agent(text)
    assert (c.violations() == []) == clean


@pytest.mark.parametrize(
    ("lang", "segs"),
    [
        (
            "zh-CN",
            [
                ("agent", "喂 张伟吗 我是安信消费金融的 他的借款逾期四十多天了 今天必须处理"),
                ("customer", "我不是张伟 我是他妈妈"),
            ],
        ),
        (
            "en-US",
            [
                ("agent", "Hi, this is Meridian Recovery calling for James Carter about his past due balance."),
                ("customer", "This is his mother, he's not home."),
            ],
        ),
    ],
)
def test_disclosure_before_the_third_party_said_who_they_are(lang: str, segs: list[tuple[str, str]]) -> None:
    c = Call(lang, ZH_ACC if lang == "zh-CN" else EN_ACC)
    for speaker, text in segs:
        c.seg(speaker, text)
    assert c.violations() == [("third_party_disclosure", 0)]


def test_debtor_who_confirmed_then_hands_over_is_not_looked_back_on() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.agent("请问是张伟先生吗")
    c.customer("对 是我")
    c.agent("张先生 您的借款已经逾期四十五天了")
    c.customer("我老婆跟你说 我是他老婆")
    assert c.violations() == []


@pytest.mark.parametrize(
    ("lang", "text", "want"),
    [
        ("zh-CN", "我下周五先还两千 剩下的月底还清", (2000, "2026-12-04")),
        ("en-US", "I can pay two hundred on Friday and the rest on the 15th.", (200, "2026-11-27")),
    ],
)
def test_next_payment_and_the_rest_in_one_breath(lang: str, text: str, want: tuple[float, str]) -> None:
    c = Call(lang, ZH_ACC if lang == "zh-CN" else EN_ACC)
    c.customer(text)
    assert promise(c) == want


@pytest.mark.parametrize(
    ("lang", "segs", "want"),
    [
        ("zh-CN", [("agent", "那就是下周五还五千 对吧"), ("customer", "不对 是下下周五")], (5000, "2026-12-11")),
        (
            "en-US",
            [("agent", "So that's three hundred on the 10th, correct?"), ("customer", "No, the 12th.")],
            (300, "2026-12-12"),
        ),
        (
            "zh-CN",
            [("customer", "我明天还三千"), ("agent", "好的"), ("customer", "哦 明天不行 后天吧")],
            (3000, "2026-11-27"),
        ),
    ],
)
def test_customer_corrects_the_read_back(lang: str, segs: list[tuple[str, str]], want: tuple[float, str]) -> None:
    c = Call(lang, ZH_ACC if lang == "zh-CN" else EN_ACC)
    for speaker, text in segs:
        c.seg(speaker, text)
    assert promise(c) == want


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("zh-CN", "没有人能救你 我们明天就上门"),
        ("zh-CN", "没办法 我们只能派人上门"),
        ("en-US", "we're not going to wait any longer we will send someone to your house"),
        ("en-US", "nobody can help you now we are calling your employer today"),
    ],
)
def test_negation_does_not_reach_a_new_clause(lang: str, text: str) -> None:
    c = Call(lang, ZH_ACC if lang == "zh-CN" else EN_ACC)
    c.agent(text)
    assert [k for k, _ in c.violations()] == ["threat"]


# ---------------------------------------------------------------- who is on the line (second development set)


def test_the_agents_own_words_say_the_person_is_a_contact_zh() -> None:
    """「是我」 answered a question about the contact's own name: the agent then treats her as the debtor's
    contact, so what follows about the debt is a disclosure; the company's name (小鹿借款) is not."""
    acc = {**ZH_ACC, "name": "吴刚"}
    c = Call("zh-CN", acc)
    c.agent("喂 您好 是王秀兰女士吗")
    c.customer("是我 你谁啊")
    c.agent("我这边是小鹿借款的 吴刚留的联系人是您 您认识吴刚吧")
    c.customer("认识啊 我们对门的邻居")
    c.agent("那麻烦您给他带个话 他在我们这欠的钱逾期快一个月了")
    assert [(v.kind, v.segment) for v in c.coach.findings().violations] == [("third_party_disclosure", 4)]


def test_the_debtor_taking_the_phone_by_name_is_the_right_party_en() -> None:
    acc = {**EN_ACC, "name": "Daniel Okafor"}
    c = Call("en-US", acc)
    c.agent("Hi, may I speak with Daniel Okafor?")
    c.customer("This is his mother. What's this about?")
    c.customer("Hello, this is Daniel.")
    c.agent("Daniel, your account is past due, the balance is three thousand dollars.")
    c.customer("I can do four hundred on Friday.")
    assert [v.kind for v in c.coach.findings().violations if v.kind == "third_party_disclosure"] == []
    assert promise(c) is not None and promise(c)[0] == 400  # type: ignore[index]


def test_someone_naming_the_debtor_as_a_relative_is_not_the_debtor_en() -> None:
    acc = {**EN_ACC, "name": "Daniel Okafor"}
    c = Call("en-US", acc)
    c.customer("I'm Daniel's roommate, he's out.")
    c.agent("Okay, he owes money on his card, tell him to pay it.")
    assert [v.kind for v in c.coach.findings().violations] == ["third_party_disclosure"]


# ---------------------------------------------------------------- numbers and acceptances


def test_a_clock_time_in_chinese_numerals_is_not_an_amount() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.agent("那明天上午十点左右给您回电 可以吗")
    c.customer("嗯 到时候再说吧")
    assert promise(c) is None


def test_a_reply_that_opens_with_yes_accepts_the_offer_en() -> None:
    c = Call("en-US", EN_ACC)
    c.agent("Okay, so that's three hundred dollars on Friday, November twenty-seventh?")
    c.customer("Yes. That works. Thank you for being decent about it, really.")
    assert promise(c) == (300, "2026-11-27")


# ---------------------------------------------------------------- third development set


def test_an_approximate_amount_is_not_a_promise_zh() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.customer("这周六我先还两千出头吧")
    assert promise(c) is None


def test_a_date_the_customer_rules_out_is_not_the_payment_day_zh() -> None:
    c = Call("zh-CN", ZH_ACC)  # Wednesday 2026-11-25
    c.customer("那我明天早上转三千行不行 今天真的没有")
    assert promise(c) == (3000, "2026-11-26")


def test_a_question_back_is_not_a_yes_zh() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.agent("你今天先还三千 剩下的利息和违约金我给你申请看看 可以吗")
    c.customer("真的吗 这个可以免吗")
    assert promise(c) is None


def test_a_later_promise_outweighs_an_earlier_refusal_en() -> None:
    c = Call("en-US", EN_ACC)
    c.customer("I'm never paying you people. Not one cent goes through a collection agency.")
    c.customer("I'll pay the bank directly, five hundred on Friday, straight to them.")
    f = c.coach.findings()
    assert [r.kind for r in f.risks] == [] and f.outcome == "promise_to_pay"


def test_a_refusal_after_a_promise_keeps_the_risk_en() -> None:
    c = Call("en-US", EN_ACC)
    c.customer("I can send two hundred on Friday.")
    c.customer("Actually forget it, I'm never paying this, sue me.")
    assert "wilful_default" in [r.kind for r in c.coach.findings().risks]


def test_a_homophone_anchored_by_the_slot_before_it_is_heard_zh() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.agent("你今天先还三千 剩下的利息我全部给你面了")  # 面了 = 免了 misheard
    assert [v.kind for v in c.coach.findings().violations] == ["misleading"]


def test_asking_for_payment_to_the_agents_own_wallet_zh() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.agent("你也别走APP了 直接转我支付包 我帮你操作")
    assert [v.kind for v in c.coach.findings().violations] == ["payment_channel"]


def test_threatening_to_call_the_references_en() -> None:
    c = Call("en-US", EN_ACC)
    c.agent("Keep it up and we'll reach out to every reference on your application.")
    assert [v.kind for v in c.coach.findings().violations] == ["threat"]
