"""Each detector through the CallCoach engine, with hand-made segments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from assist.accounts import Account, parse_account
from assist.coach.detectors.sensitive import mask_segment
from assist.coach.engine import CallCoach, CallContext
from assist.coach.playbook import load_playbook
from assist.events import Prompt, TranscriptSegment, Word

ZH_START = "2026-11-25T10:00:00+08:00"  # Wednesday morning in Shanghai
EN_START = "2026-11-25T10:00:00-05:00"

ZH_ACC = {
    "id": "CN-1",
    "name": "张伟",
    "principal": 20000,
    "interest": 1200,
    "penalty": 300,
    "overdue_days": 45,
    "due_date": "2026-10-11",
    "currency": "CNY",
    "timezone": "Asia/Shanghai",
}
EN_ACC = {
    "id": "US-1",
    "name": "James Carter",
    "principal": 2400,
    "interest": 180,
    "penalty": 70,
    "overdue_days": 46,
    "currency": "USD",
    "timezone": "America/New_York",
}


class Call:
    """Feeds segments one after another (2 s apart unless given) and collects prompts."""

    def __init__(
        self, lang: str, account: dict[str, Any] | None = None, started: str | None = None, **ctx: Any
    ) -> None:
        self.lang = lang
        self.pb = load_playbook(lang)
        acc: Account | None = parse_account(account) if account else None
        start = datetime.fromisoformat(started or (ZH_START if lang.startswith("zh") else EN_START))
        self.coach = CallCoach(CallContext("call-1", lang, start, account=acc, **ctx), self.pb)
        self.prompts: list[Prompt] = self.coach.start()
        self.t = 0.0
        self.n = 0
        self.counts = {"agent": 0, "customer": 0}

    def seg(
        self,
        speaker: str,
        text: str,
        *,
        start: float | None = None,
        end: float | None = None,
        final: bool = True,
        loudness: float | None = None,
        words: list[Word] | None = None,
        seg_id: str | None = None,
    ) -> list[Prompt]:
        s = self.t if start is None else start
        e = (s + 2.0) if end is None else end
        sid = seg_id or f"s{self.n}"
        if final:
            self.n += 1
        seg = TranscriptSegment(
            call_id="call-1",
            segment_id=sid,
            index=self.counts[speaker],
            speaker=speaker,
            final=final,
            start=s,
            end=e,
            text=text,
            loudness_db=loudness,
            words=words or [],
            language=self.pb.language,
        )
        if final:
            self.counts[speaker] += 1
            self.t = e + 0.5
        out = self.coach.on_segment(seg)
        self.prompts += out
        return out

    def agent(self, text: str, **kw: Any) -> list[Prompt]:
        return self.seg("agent", text, **kw)

    def customer(self, text: str, **kw: Any) -> list[Prompt]:
        return self.seg("customer", text, **kw)

    def kinds(self) -> list[str]:
        return [p.kind for p in self.prompts]

    def violations(self) -> list[tuple[str, int]]:
        return [(v.kind, v.segment) for v in self.coach.findings().violations]


# ---------------------------------------------------------------- account card


def test_account_card_at_start_and_when_asked() -> None:
    c = Call("zh-CN", ZH_ACC)
    card = [p for p in c.prompts if p.kind == "account_card"]
    assert len(card) == 1
    d = card[0].data
    assert d["total_due"] == 21500 and d["principal"] == 20000 and d["stage"] == "M2" and d["overdue_days"] == 45
    assert "21,500" in card[0].text and card[0].audience == "agent"
    c.customer("我怎么欠了这么多 违约金为什么这么高")
    assert [p.data["reason"] for p in c.prompts if p.kind == "account_card"] == ["start", "asked"]
    c.customer("到底欠多少钱")  # within the card interval: not repeated
    assert c.kinds().count("account_card") == 2


def test_no_account_no_card() -> None:
    c = Call("zh-CN")
    assert "account_card" not in c.kinds()


# ---------------------------------------------------------------- call time


def test_call_time_alert_at_start() -> None:
    c = Call("zh-CN", ZH_ACC, started="2026-11-25T22:30:00+08:00")
    p = next(p for p in c.prompts if p.kind == "call_time")
    assert p.severity == "critical" and p.audience == "both" and p.rule == "CN-TIME-01"
    f = c.coach.findings().call_time
    assert not f.allowed and not f.warning


def test_inbound_calls_are_not_time_checked() -> None:
    c = Call("zh-CN", ZH_ACC, started="2026-11-25T22:30:00+08:00", direction="inbound")
    assert c.coach.findings().call_time.allowed


# ---------------------------------------------------------------- disclosures


def test_disclosures_ticked_from_agent_only_with_time() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.customer("我是安信消费金融的客服 本次通话会录音")  # the customer's words never count
    assert not c.coach.findings().disclosures["identity"].done
    c.agent("您好 我是安信消费金融的客服 工号 3021 本次通话会录音", start=5, end=9)
    f = c.coach.findings().disclosures
    assert f["identity"].done and f["identity"].at == 5 and f["recording_notice"].done
    c.agent("您的借款本金两万 利息一千二 违约金三百 一共两万一千五", start=12, end=18)
    c.agent("逾期记录会报送征信 请您在本月30号之前还款", start=20, end=25)
    f = c.coach.findings().disclosures
    assert f["amount_breakdown"].done and f["credit_consequence"].done and f["deadline"].done
    assert not f["legal_consequence"].done


def test_total_alone_is_not_a_breakdown() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.agent("您这笔本金加利息加违约金一共是两万一千五")
    assert not c.coach.findings().disclosures["amount_breakdown"].done


def test_reminder_when_due_and_at_closing() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.agent("您好 我是安信消费金融的客服", start=1, end=4)
    assert not [p for p in c.coach.tick(10) if p.kind == "disclosure"]
    # the recording notice is due in the opening (playbook: 15 s), not at the one-minute mark
    due = [p for p in c.coach.tick(16) if p.kind == "disclosure"]
    assert due and due[0].data["missing"] == ["recording_notice"]
    assert not [p for p in c.coach.tick(17) if p.kind == "disclosure"]  # not repeated
    closing = [p for p in c.agent("好的 那先这样 再见", start=100, end=102) if p.kind == "disclosure"]
    assert closing and closing[0].data["closing"] and "deadline" in closing[0].data["missing"]


def test_no_disclosure_reminders_to_a_third_party() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.customer("他不在 我是他老婆")
    assert not [p for p in c.coach.tick(200) if p.kind == "disclosure"]


def test_exaggerated_consequence_does_not_tick_credit() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.agent("你再不还 征信就一辈子完了")
    assert c.violations() == [("misleading", 0)]
    assert not c.coach.findings().disclosures["credit_consequence"].done


def test_en_mini_miranda_must_be_complete() -> None:
    c = Call("en-US", EN_ACC)
    c.agent("This is Sarah from Meridian Recovery Services, we are trying to collect a debt.")
    assert not c.coach.findings().disclosures["debt_collector_statement"].done
    c.agent("This is an attempt to collect a debt, and any information obtained will be used for that purpose.")
    assert c.coach.findings().disclosures["debt_collector_statement"].done


# ---------------------------------------------------------------- compliance


def test_threat_alerts_agent_and_supervisor() -> None:
    c = Call("zh-CN", ZH_ACC)
    out = c.agent("你再不还 我们就通知你单位领导 让你同事都知道")
    p = next(p for p in out if p.kind == "compliance")
    assert p.severity == "critical" and p.audience == "both" and p.rule == "CN-ABUSE-01"
    assert "互联网金融逾期债务催收自律公约" in (p.source or "") and p.evidence.segment_ids == ["s0"]
    assert "通知你单位" in p.evidence.quote
    assert c.violations() == [("threat", 0)]


@pytest.mark.parametrize(
    "text",
    [
        "您放心 我们不会联系您的单位和家人 只跟您本人沟通",
        "如果继续逾期 我们将依法起诉 逾期记录也会报送征信",
        "减免我这边没办法给您承诺 以审核为准",
        "请通过官方APP还款 不要转给任何个人账户",
    ],
)
def test_lawful_agent_speech_is_not_a_violation(text: str) -> None:
    c = Call("zh-CN", ZH_ACC)
    c.agent(text)
    assert c.violations() == []


@pytest.mark.parametrize(
    "text",
    [
        "I'm not an attorney and I can't give legal advice.",
        "We do not discuss your account with your employer or your family.",
        "The creditor may decide to file a lawsuit, as permitted by law.",
        "Nobody is going to arrest you over a credit card debt.",
        "Please never send money through Venmo or Zelle to anyone claiming to be us.",
        "I can't promise a settlement; any discount has to be approved by the creditor.",
        "Hi, I'm trying to reach Derek Simmons.",
    ],
)
def test_lawful_agent_speech_is_not_a_violation_en(text: str) -> None:
    c = Call("en-US", EN_ACC)
    c.agent(text)
    assert c.violations() == []


def test_customer_quoting_a_threat_is_not_a_violation() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.customer("上次你们那个人说要告诉我家人 还说要去我单位闹")
    c.customer("你们这些骗子 他妈的")
    assert c.violations() == []


@pytest.mark.parametrize(
    ("lang", "text", "kind"),
    [
        ("zh-CN", "你这个老赖 要不要脸", "abuse"),
        ("zh-CN", "我们是法院的 你的传票已经下来了", "misleading"),
        ("zh-CN", "你今天还一万 剩下的利息我全部给你免掉", "misleading"),
        ("zh-CN", "明天我们就派人上门把你带走", "threat"),
        ("zh-CN", "你这是恶意逃债 要负刑事责任的", "misleading"),
        ("en-US", "You're a deadbeat and a loser.", "abuse"),
        ("en-US", "If this isn't resolved you will be arrested.", "misleading"),
        ("en-US", "We're going to have you arrested.", "threat"),
        ("en-US", "I'll wipe out all the interest and the fees today.", "misleading"),
        ("en-US", "Pay today or I'll call your employer and tell your boss.", "threat"),
    ],
)
def test_violation_kinds(lang: str, text: str, kind: str) -> None:
    c = Call(lang, ZH_ACC if lang.startswith("zh") else EN_ACC)
    c.agent(text)
    assert c.violations() == [(kind, 0)]


def test_partial_alerts_fast_and_final_is_not_repeated() -> None:
    c = Call("zh-CN", ZH_ACC)
    early = c.agent("你再不还我就告诉你家人", final=False, seg_id="x", start=0, end=1)
    assert [p.kind for p in early] == ["compliance"]
    assert c.violations() == []  # findings come from finals
    late = c.agent("你再不还我就告诉你家人 让他们都知道", seg_id="x", start=0, end=2)
    assert [p for p in late if p.kind == "compliance"] == []
    assert c.violations() == [("threat", 0)]


def test_repeated_violation_prompts_once_per_interval_but_is_recorded() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.agent("你就是个老赖", start=0, end=2)
    c.agent("老赖就是你这种人", start=10, end=12)
    assert [p.kind for p in c.prompts].count("compliance") == 1
    assert c.violations() == [("abuse", 0), ("abuse", 1)]
    c.agent("你这个老赖", start=100, end=102)
    assert [p.kind for p in c.prompts].count("compliance") == 2


def test_homophone_errors_still_count() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.agent("我把你欠钱的事 发给你通讯路里所有人")
    c.agent("加我威信 转到我个人支付包")
    assert [k for k, _ in c.violations()] == ["threat", "payment_channel"]


# ---------------------------------------------------------------- third parties


def test_debt_disclosed_to_a_relative() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.agent("喂 张伟在吗")
    c.customer("他上班去了 我是他老婆 有什么事")
    c.agent("我是安信消费金融的 麻烦您让他给我们回个电话")
    assert c.violations() == []
    c.agent("他在我们这借了两万 已经逾期了")
    assert c.violations() == [("third_party_disclosure", 3)]
    assert c.coach.findings().outcome == "wrong_party"


def test_spouse_counts_as_the_consumer_in_the_us() -> None:
    c = Call("en-US", EN_ACC)
    c.customer("He's not home, this is his wife.")
    c.agent("He owes twenty six fifty on his card and it's past due.")
    assert c.violations() == []
    c2 = Call("en-US", EN_ACC)
    c2.customer("This is his desk, I'm his coworker.")
    c2.agent("Tell him he owes twenty six fifty on his card and it's past due.")
    assert c2.violations() == [("third_party_disclosure", 1)]


def test_confirmed_right_party_ends_third_party_mode() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.customer("你找谁 打错了吧")
    c.customer("哦 张伟啊 我就是")
    c.agent("您的借款已经逾期四十五天了")
    assert c.violations() == []


# ---------------------------------------------------------------- payment


def test_personal_channel_and_amounts() -> None:
    c = Call("zh-CN", ZH_ACC)
    out = c.agent("你直接转到我个人微信上 我帮你处理")
    assert next(p for p in out if p.kind == "payment_channel").rule == "CN-CHAN-01"
    c.agent("你现在一共欠三万二")  # more than the 21,500 due, stated as the balance
    c.agent("另外还要交八百块加急处理费")
    assert c.violations() == [("payment_channel", 0), ("misleading", 1), ("payment_channel", 2)]


def test_amount_within_total_is_fine() -> None:
    c = Call("en-US", EN_ACC)
    c.agent("Your balance is twenty six fifty. You can pay online at our website or by phone.")
    assert c.violations() == []


# ---------------------------------------------------------------- temperament


def _words(text: str, start: float, end: float) -> list[Word]:
    parts = text.split()
    step = (end - start) / len(parts)
    return [Word(word=w, start=start + i * step, end=start + (i + 1) * step) for i, w in enumerate(parts)]


def test_temperament_from_loudness_rate_and_interruptions() -> None:
    c = Call("en-US", EN_ACC)
    # calm baseline in the first 30 s
    c.agent("Hi, this is Sarah from Meridian Recovery Services.", start=0, end=3)
    c.customer("Yes, this is James, how can I help you today.", start=3.5, end=6.5, loudness=-30)
    c.agent("I'm calling about your account which is past due at the moment.", start=7, end=11)
    c.customer("Okay, I see, go on then please.", start=11.5, end=14, loudness=-31)
    # then loud, fast and over the agent, three times
    for k in range(3):
        a0 = 40 + k * 12
        c.agent("Let me explain how the balance was calculated for you", start=a0, end=a0 + 5)
        text = "no you listen I am not interested in any of your nonsense explanations at all"
        c.customer(text, start=a0 + 3, end=a0 + 6, loudness=-20, words=_words(text, a0 + 3, a0 + 6))
    t = c.coach.findings().temperament
    assert t.label == "dominant" and t.angry
    temp = [p for p in c.prompts if p.kind == "temperament"]
    assert any(p.data.get("label") == "dominant" for p in temp)
    assert any("two options" in p.text or "pay in full" in p.text for p in temp)  # playbook guidance


def test_one_remark_does_not_flip_the_live_label() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.customer("过几天再说吧")
    assert not [p for p in c.prompts if p.kind == "temperament"]
    c.customer("嗯 等我发了工资 到时候再说")
    assert [p.data["label"] for p in c.prompts if p.kind == "temperament"] == ["procrastinating"]
    assert c.coach.findings().temperament.label == "procrastinating"


def test_sensitive_customer() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.customer("对不起 求求你们千万别告诉我家里人")
    c.customer("征信会不会受影响 我真的很担心")
    assert c.coach.findings().temperament.label == "sensitive"


# ---------------------------------------------------------------- risk


def test_high_risk_from_the_account() -> None:
    c = Call("zh-CN", {**ZH_ACC, "principal": 60000, "overdue_days": 30})
    r = [p for p in c.prompts if p.kind == "risk"]
    assert r and r[0].data["risk"] == "high_risk" and r[0].audience == "supervisor"
    assert [x.kind for x in c.coach.findings().risks] == ["high_risk"]


def test_wilful_default_and_hardship() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.customer("我就是不还 有本事你去起诉我")
    p = next(p for p in c.prompts if p.kind == "risk")
    assert p.audience == "both" and "法律" in p.data["action"]
    c2 = Call("zh-CN", ZH_ACC)
    c2.customer("我不是不想还 我上个月被裁员了 家里还有人住院")
    f = c2.coach.findings()
    assert [r.kind for r in f.risks] == ["hardship"] and f.outcome == "hardship"
    assert "plan" in c2.kinds()  # hardship brings the plan options


def test_refusal_grounded_in_a_dispute_is_not_wilful_default() -> None:
    c = Call("en-US", EN_ACC)
    c.customer("I'm not paying a dime for something I didn't borrow.")
    f = c.coach.findings()
    assert f.risks == [] and f.dispute and f.outcome == "dispute"


# ---------------------------------------------------------------- promise


def test_promise_across_turns_zh() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.agent("您看什么时候能还")
    c.customer("下周五吧")
    c.agent("那先还多少呢")
    c.customer("先还五千")
    p = c.coach.findings().promise
    assert p is not None and (p.amount, p.date) == (5000, "2026-12-04")
    assert "promise" in c.kinds()


def test_promise_by_accepting_an_offer_en() -> None:
    c = Call("en-US", EN_ACC)
    c.agent("Could you do two hundred on the 15th?")
    c.customer("Yeah, that works.")
    p = c.coach.findings().promise
    assert p is not None and (p.amount, p.date, p.confirmed_by_agent) == (200, "2026-12-15", True)


@pytest.mark.parametrize(
    "text",
    [
        "月底看看能还多少吧",
        "十月二十号我已经还过五千了",
        "下周五我也还不了五千",
        "可能下周五还五千吧",
    ],
)
def test_not_promises_zh(text: str) -> None:
    c = Call("zh-CN", ZH_ACC)
    c.customer(text)
    assert c.coach.findings().promise is None


def test_full_balance_means_total_due() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.customer("我月底前全部还清")
    p = c.coach.findings().promise
    assert p is not None and (p.amount, p.date) == (21500, "2026-11-30")


def test_later_instalment_does_not_replace_the_promise() -> None:
    c = Call("en-US", EN_ACC)
    c.customer("I'll pay $500 next Friday.")
    c.customer("And I'll pay the rest, $2,150, on the 15th.")
    f = c.coach.findings()
    assert f.promise is not None and f.promise.amount == 500 and len(f.promises) == 2


# ---------------------------------------------------------------- signals


def test_new_numbers_and_not_phone_numbers() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.customer("以后打我新号 幺五九 二六八三 零四七一")
    c.customer("我的身份证后四位是 3 5 1 X")
    c.agent("我们的热线是4008 123 456")
    assert c.coach.findings().new_contact_numbers == ["15926830471"]
    e = Call("en-US", EN_ACC)
    e.customer("The report number is 2026-044817.")
    e.customer("Use my cell from now on, it's 617-555-0199.")
    assert e.coach.findings().new_contact_numbers == ["6175550199"]


def test_callback_and_economic_situation() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.customer("我在开会 你下午四点以后再打吧")
    c.customer("最近手头紧")
    f = c.coach.findings()
    assert f.outcome == "callback" and f.economic_situation == "资金紧张"


# ---------------------------------------------------------------- sensitive data


def test_mask_segment_text_and_words() -> None:
    seg = TranscriptSegment(
        call_id="c",
        segment_id="s",
        index=0,
        speaker="customer",
        final=True,
        start=0,
        end=5,
        text="我的卡号是6222 0202 1234 5678 手机13812345678",
        language="zh-CN",
        words=[Word(word=w, start=0, end=1) for w in ["我的卡号是", "6222", "0202", "1234", "5678", "手机13812345678"]],
    )
    m = mask_segment(seg)
    assert m.text == "我的卡号是************5678 手机13812345678"
    assert [w.word for w in m.words][1:5] == ["****"] * 4 and m.words[5].word == "手机13812345678"
    assert seg.text.startswith("我的卡号是6222")  # the input is not changed


@pytest.mark.parametrize(
    ("lang", "text", "masked"),
    [
        ("zh-CN", "身份证号11010519491231002X", "身份证号**************002X"),
        ("zh-CN", "卡号六二二二零二零二一二三四五六七八", "卡号************5678"),
        ("en-US", "my SSN is 123-45-6789", "my SSN is *****6789"),
        ("en-US", "card four one one one one one one one one one one one one one one two", "card ************1112"),
    ],
)
def test_masking_written_and_spoken(lang: str, text: str, masked: str) -> None:
    seg = TranscriptSegment(
        call_id="c", segment_id="s", index=0, speaker="customer", final=True, start=0, end=1, text=text, language=lang
    )
    assert mask_segment(seg).text == masked


def test_nothing_to_mask_returns_same_segment() -> None:
    seg = TranscriptSegment(
        call_id="c", segment_id="s", index=0, speaker="agent", final=True, start=0, end=1, text="您好", language="zh-CN"
    )
    assert mask_segment(seg) is seg


def test_redaction_prompt_when_agent_reads_full_number() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.customer("我卡号是6222020212345678")
    assert "redaction" not in c.kinds()
    out = c.agent("您的卡号是6222020212345678对吗")
    p = next(p for p in out if p.kind == "redaction")
    assert p.rule == "CN-PI-01" and "6222020212345678" not in p.evidence.quote
    assert c.coach.findings().redactions == 2


# ---------------------------------------------------------------- end of call


def test_end_summary_for_supervisors() -> None:
    c = Call("zh-CN", ZH_ACC)
    c.customer("我下周五还五千")
    out = c.coach.end()
    assert [p.kind for p in out] == ["summary"] and out[0].audience == "supervisor"
    assert out[0].data["findings"]["outcome"] == "promise_to_pay"
    assert c.coach.end() == []


def test_repeats_are_spaced_by_call_time_when_segments_arrive_late() -> None:
    """A recognition backlog: the ticker has run to 200 s of wall time while the segments of 10 s and 80 s
    (two threats, more than the repeat interval apart in the call) arrive only now, one right after the other.
    Both are shown; a repeat within the interval of the call is still held back."""
    c = Call("zh-CN", ZH_ACC)
    c.coach.tick(200.0)
    interval = c.pb.settings.repeat_interval
    first = c.agent("你再不还我们就派人上门找你", start=8.0, end=10.0)
    second = c.agent("你再不还我们就派人上门找你", start=8.0 + interval + 10, end=10.0 + interval + 10)
    again = c.agent("你再不还我们就派人上门找你", start=12.0 + interval + 10, end=14.0 + interval + 10)
    alerts = [sorted(str(p.rule) for p in ps if p.kind == "compliance") for ps in (first, second, again)]
    assert alerts[0] and alerts[1] == alerts[0] and alerts[2] == []
