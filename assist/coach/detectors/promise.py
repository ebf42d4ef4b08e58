"""Promise to pay: amount and date from the customer's speech, and repayment-plan suggestions.

A customer utterance counts toward a promise when it carries a commitment (我下周五还五千 / I'll pay
$500 on the 15th), or answers the agent's question about when or how much (五千吧 / on Friday), or
accepts the agent's concrete offer (agent: 下周五先还五千可以吗？ customer: 可以).  Refusals
(还不了 / can't pay), hedges (看情况 / maybe) and past payments (已经还了 / I already paid) do not.
Amount and date may come in different utterances within the playbook's `window`; "pay it all / 还清"
means the total due.  Dates resolve against the call's date in the debtor's time zone.  The first
concrete commitment is the finding; later ones are listed too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from assist.coach.detectors.base import CallState, Detector, SegmentView
from assist.coach.findings import PromiseFinding
from assist.coach.match import Hit
from assist.coach.numbers import Amount, DateMention
from assist.coach.plan import payment_plans


@dataclass
class _Part:
    amount: float | None = None
    date: date | None = None
    segs: list[str] | None = None
    quotes: list[str] | None = None
    age: int = 0
    confirmed: bool = False


def _fmt_amount(v: float) -> str:
    return f"{v:,.2f}".rstrip("0").rstrip(".")


def _closest(items: Sequence[Amount | DateMention], hits: list[Hit], view: SegmentView) -> int | None:
    """Index of the item closest (in tokens) to a commitment phrase; the first item without phrases."""
    if not items:
        return None
    if not hits:
        return 0
    best, best_d = 0, 10**9
    for i, it in enumerate(items):
        tok = view.token_of_char(it.start)
        d = min(min(abs(tok - h.tok_end), abs(h.tok_start - tok)) for h in hits)
        if d < best_d:
            best, best_d = i, d
    return best


class PromiseToPay(Detector):
    name = "promise"

    def __init__(self) -> None:
        self.part = _Part()
        self.offer: _Part | None = None
        self.asked = False
        self.context: _Part | None = None  # amount/date named in the agent's question (那15号还多少呢)
        self.refusals = 0
        self.hedges = 0

    # ------------------------------------------------------------------ parsing

    def _amount(self, view: SegmentView, state: CallState, commits: list[Hit]) -> float | None:
        pb = state.pb
        owed = pb.phrases("promise:owed").hits(view.tokens)
        amounts = []
        for a in view.amounts:
            tok = view.token_of_char(a.start)
            if any(0 <= tok - h.tok_end <= 2 for h in owed):
                continue
            amounts.append(a)
        i = _closest(amounts, commits, view)
        if i is not None:
            return amounts[i].value
        if pb.phrases("promise:full_amount").find(view.tokens) is not None and state.account is not None:
            return state.account.total_due
        return None

    def _date(self, view: SegmentView, state: CallState, commits: list[Hit]) -> date | None:
        today = view.today
        dates = [d for d in view.dates if today <= d.date <= today + timedelta(days=400)]
        i = _closest(dates, commits, view)
        return dates[i].date if i is not None else None

    # ------------------------------------------------------------------ hooks

    def final(self, view: SegmentView, state: CallState) -> None:
        if view.speaker == "agent":
            self._agent(view, state)
            return
        if state.third_party and not state.right_party:
            return
        pb = state.pb
        asked, self.asked = self.asked, False
        offer, self.offer = self.offer, None
        context, self.context = self.context, None
        self.part.age += 1
        if self.part.age > pb.promise.window:
            self.part = _Part()
        if pb.phrases("promise:refuse").find(view.tokens) is not None:
            self.refusals += 1
            return
        if pb.phrases("promise:hedge").find(view.tokens) is not None:
            self.hedges += 1
            return
        if pb.phrases("promise:past").find(view.tokens) is not None:
            return
        commits = pb.phrases("promise:commit").hits(view.tokens) + self._leads(view, state)
        amount = self._amount(view, state, commits)
        when = self._date(view, state, commits)
        short = self._short(view, state)
        question = view.text.rstrip().endswith(("?", "？", "吗"))
        if not commits and amount is not None and when is not None and not question:
            commits = [Hit("amount+date", 0, 0, 0, 0)]  # "six hundred on the thirtieth": concrete enough
        confirmed = False
        if offer is not None and short and pb.phrases("promise:affirm").find(view.tokens) is not None:
            amount = amount if amount is not None else offer.amount
            when = when if when is not None else offer.date
            confirmed = True
        elif not commits and not (asked and short and (amount is not None or when is not None)):
            return
        elif asked and short and context is not None:  # the answer to "那15号还多少呢" carries its date
            amount = amount if amount is not None else context.amount
            when = when if when is not None else context.date
        if amount is None and when is None:
            return
        p = self.part
        if p.segs is None:
            p.segs, p.quotes = [], []
            p.age = 0
        if amount is not None:
            p.amount = amount
        if when is not None:
            p.date = when
        p.confirmed = p.confirmed or confirmed
        p.segs.append(view.seg.segment_id)
        assert p.quotes is not None
        p.quotes.append(view.text.strip())
        if p.amount is not None and p.date is not None:
            self._promise(p, view, state)
            self.part = _Part()
        else:
            missing = "amount" if p.amount is None else "date"
            tmpl = pb.promise.partial_text
            if tmpl:
                state.emit("promise", pb.text(tmpl, missing=pb.texts.get(f"promise_missing_{missing}", missing),
                                              amount=_fmt_amount(p.amount) if p.amount else "",
                                              date=p.date.isoformat() if p.date else ""),
                           severity="info", audience="agent", segments=[view.seg.segment_id],
                           quote=state.quote(view.text), data={"amount": p.amount, "date": str(p.date or "") or None,
                                                               "complete": False},
                           key=f"promise:partial:{missing}")

    @staticmethod
    def _leads(view: SegmentView, state: CallState) -> list[Hit]:
        """还一万 / pay 500: a payment verb directly before an amount."""
        if not view.amounts:
            return []
        hits = state.pb.phrases("promise:amount_lead").hits(view.tokens)
        out = []
        for h in hits:
            for a in view.amounts:
                if 0 <= view.token_of_char(a.start) - h.tok_end <= 1:
                    out.append(h)
                    break
        return out

    def _short(self, view: SegmentView, state: CallState) -> bool:
        limit = state.pb.promise.short_reply
        if state.pb.is_chinese:
            return len(view.text.replace(" ", "")) <= limit
        return len(view.text.split()) * 4 <= limit * 2

    def _agent(self, view: SegmentView, state: CallState) -> None:
        pb = state.pb
        self.asked = pb.phrases("promise:ask").find(view.tokens) is not None
        self.offer = None
        self.context = None
        if self.asked:
            ctx_amount = [a.value for a in view.amounts]
            ctx_dates = [d.date for d in view.dates if d.date >= view.today]
            if ctx_amount or ctx_dates:
                self.context = _Part(amount=ctx_amount[0] if ctx_amount else None,
                                     date=ctx_dates[0] if ctx_dates else None)
        if state.third_party and not state.right_party:
            return
        commits = pb.phrases("promise:commit").hits(view.tokens) + self._leads(view, state)
        offer_marker = pb.phrases("promise:offer").find(view.tokens) is not None or \
            view.text.rstrip().endswith(("?", "？"))
        concrete = bool(view.amounts) and any(d.date >= view.today for d in view.dates)
        if not (offer_marker and commits) and not concrete:
            return
        amount = self._amount(view, state, commits)
        when = self._date(view, state, commits)
        if amount is not None or when is not None:
            self.offer = _Part(amount=amount, date=when, segs=[view.seg.segment_id], quotes=[view.text.strip()])

    def _promise(self, p: _Part, view: SegmentView, state: CallState) -> None:
        assert p.amount is not None and p.date is not None
        finding = PromiseFinding(amount=round(p.amount, 2), date=p.date.isoformat(), quote=" / ".join(p.quotes or []),
                                 segment_ids=list(p.segs or []), at=view.seg.end, confirmed_by_agent=p.confirmed)
        f = state.findings
        if f.promise is None:
            f.promise = finding
        if not any(x.amount == finding.amount and x.date == finding.date for x in f.promises):
            f.promises.append(finding)
        state.emit("promise", state.pb.text(state.pb.promise.text, amount=_fmt_amount(p.amount),
                                            date=p.date.isoformat(), currency=state.pb.currency),
                   severity="info", audience="agent", segments=list(p.segs or []), quote=finding.quote,
                   data={"amount": finding.amount, "date": finding.date, "complete": True,
                         "confirmed": p.confirmed}, key=f"promise:{finding.amount}:{finding.date}")


class PlanHelper(Detector):
    """Shows full-payment and instalment options when the customer asks for instalments or hardship
    comes up."""

    name = "plans"

    def final(self, view: SegmentView, state: CallState) -> None:
        if view.speaker != "customer" or state.account is None or (state.third_party and not state.right_party):
            return
        pb = state.pb
        asked = pb.phrases("plans:request").find(view.tokens) is not None
        hardship = any(r.kind == "hardship" for r in state.findings.risks)
        if not asked and not (hardship and not state.findings.plan_offered):
            return
        cfg = pb.plans
        opts = payment_plans(state.account, view.today, counts=cfg.instalments,
                             first_payment_days=cfg.first_payment_days, min_instalment=cfg.min_instalment,
                             interval=cfg.interval)
        if not opts:
            return
        sep = "；" if pb.is_chinese else "; "
        lines = sep.join(pb.text(cfg.option_text, count=o.count, each=_fmt_amount(o.amount_each),
                                 first=o.first_date.isoformat(), total=_fmt_amount(o.total)) for o in opts)
        p = state.emit("plan", pb.text(cfg.text, options=lines, total_due=_fmt_amount(state.account.total_due)),
                       severity="info", audience="agent", segments=[view.seg.segment_id],
                       quote=state.quote(view.text), data={"options": [o.model_dump(mode="json") for o in opts]},
                       key="plan")
        if p is not None:
            state.findings.plan_offered = True
