"""Promise to pay: amount and date from the customer's speech, and repayment-plan suggestions.

A customer utterance counts toward a promise when it carries a commitment (我下周五还五千 / I'll pay
$500 on the 15th), or answers the agent's question about when or how much (五千吧 / on Friday), or
accepts the agent's concrete offer with a bare yes (agent: 下周五先还五千可以吗？ customer: 行).
Refusals (这个月一分钱都拿不出来 / I can't pay 500 by Friday), hedges (看情况 / maybe) and past
payments (已经还了 / I already paid) do not, even when they name an amount or a date.

Amount and date may come in different utterances within the playbook's `window` of customer
utterances; "pay it all / 还清" means the total due.  The finding is the **last** commitment to the
next payment: a revision replaces it (先还三千…不对，还五千吧; "actually make it Monday" keeps the
amount and moves the date), and within one utterance the figures after a correction cue win.
Commitments for later instalments (剩下的下个月还清 / the rest on the 15th) are listed in
`promises` but do not replace it.  Dates resolve against the call's date in the debtor's zone.

Prompts: the promise card as soon as a commitment is heard (partial segments too); a read-back
reminder only when the agent's next turn does not read the amount and date back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar

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


_Item = TypeVar("_Item", Amount, DateMention)


def _before(items: list[_Item], until: int | None, view: SegmentView) -> list[_Item]:
    """The items before token `until` (a later-instalment cue), if there are any; else all of them."""
    if until is None:
        return items
    first = [x for x in items if view.token_of_char(x.start) < until]
    return first or items


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


@dataclass
class _Reading:
    """What one customer utterance says about a payment."""

    amount: float | None
    date: date | None
    commits: bool
    confirmed: bool = False


class PromiseToPay(Detector):
    name = "promise"

    def __init__(self) -> None:
        self.part = _Part()
        self.offer: _Part | None = None
        self.asked = False
        self.context: _Part | None = None  # amount/date named in the agent's question (那15号还多少呢)
        self.refusals = 0
        self.hedges = 0
        self.readback_due = False  # a promise was made and the agent has not read it back yet

    # ------------------------------------------------------------------ parsing

    def _amount(
        self, view: SegmentView, state: CallState, commits: list[Hit], after: int = -1, until: int | None = None
    ) -> float | None:
        pb = state.pb
        owed = pb.phrases("promise:owed").hits(view.tokens)
        amounts = []
        for a in view.amounts:
            tok = view.token_of_char(a.start)
            if any(0 <= tok - h.tok_end <= 2 for h in owed) or _approximate(view.text, a.end, pb.promise.approximate):
                continue
            amounts.append(a)
        amounts = _before(amounts, until, view)
        revised = [a for a in amounts if view.token_of_char(a.start) >= after] if after >= 0 else []
        if revised:
            return revised[-1].value  # 不对，还五千吧: the figure after the correction
        i = _closest(amounts, commits, view)
        if i is not None:
            return amounts[i].value
        if pb.phrases("promise:full_amount").find(view.tokens) is not None and state.account is not None:
            return state.account.total_due
        return None

    def _date(
        self, view: SegmentView, state: CallState, commits: list[Hit], after: int = -1, until: int | None = None
    ) -> date | None:
        today = view.today
        negators = state.pb.promise.date_negators
        dates = _before(
            [
                d
                for d in view.dates
                if today <= d.date <= today + timedelta(days=400) and not _ruled_out(view.text, d, negators)
            ],
            until,
            view,
        )
        revised = [d for d in dates if view.token_of_char(d.start) >= after] if after >= 0 else []
        if revised:
            return revised[-1].date
        i = _closest(dates, commits, view)
        return dates[i].date if i is not None else None

    def _declines(self, view: SegmentView, state: CallState) -> bool:
        """A refusal, hedge or past payment: not a commitment even with figures in it."""
        pb = state.pb
        if pb.phrases("promise:refuse").find(view.tokens) is not None:
            self.refusals += 1
            return True
        if pb.phrases("promise:hedge").find(view.tokens) is not None:
            self.hedges += 1
            return True
        return pb.phrases("promise:past").find(view.tokens) is not None

    def _read(
        self, view: SegmentView, state: CallState, offer: _Part | None, context: _Part | None, asked: bool
    ) -> _Reading | None:
        """Amount, date and whether the utterance commits (or accepts an offer); None when it says
        nothing about the next payment."""
        pb = state.pb
        correction = pb.phrases("promise:correction").hits(view.tokens)
        after = correction[-1].tok_end if correction else -1
        starts = [a.start for a in view.amounts] + [d.start for d in view.dates]
        if correction and not any(view.token_of_char(c) >= after for c in starts):
            correction, after = [], -1  # 钱不够 / 还是算了 with no figure after it is no revision
        commits = pb.phrases("promise:commit").hits(view.tokens) + self._leads(view, state) + correction
        further = pb.phrases("promise:further").hits(view.tokens)
        until = further[0].tok_start if further else None  # 先还两千 剩下的月底还清: the rest is later
        amount = self._amount(view, state, commits, after, until)
        when = self._date(view, state, commits, after, until)
        short = self._short(view, state)
        question = view.text.rstrip().endswith(("?", "？", "吗"))
        if not commits and amount is not None and when is not None and not question:
            commits = [Hit("amount+date", 0, 0, 0, 0)]  # "six hundred on the thirtieth": concrete enough
        affirm = pb.phrases("promise:affirm").find(view.tokens) if offer is not None else None
        if affirm is not None and _asks_back(view.text, affirm.end):
            affirm = None  # 这个可以免吗 / "okay?": a question back, not a yes
        # a bare yes, or a reply that opens with one ("Yes. That works. Thank you for being decent about it.")
        if offer is not None and affirm is not None and (short or affirm.tok_start == 0):
            return _Reading(
                amount if amount is not None else offer.amount,
                when if when is not None else offer.date,
                True,
                confirmed=True,
            )
        if offer is not None and short and (amount is None) != (when is None):
            # a counter-offer to the agent's offer (五千太多了 三千吧): the other piece is the offer's
            return _Reading(
                amount if amount is not None else offer.amount, when if when is not None else offer.date, True
            )
        if not commits and not (asked and short and (amount is not None or when is not None)):
            return None
        if asked and short and context is not None:  # the answer to "那15号还多少呢" carries its date
            amount = amount if amount is not None else context.amount
            when = when if when is not None else context.date
        if amount is None and when is None:
            return None
        return _Reading(amount, when, bool(commits))

    # ------------------------------------------------------------------ hooks

    def partial(self, view: SegmentView, state: CallState) -> None:
        """The promise card as soon as a complete commitment is heard (the finding waits for the final)."""
        if view.speaker != "customer" or (state.third_party and not state.right_party):
            return
        pb = state.pb
        if any(pb.phrases(f"promise:{k}").find(view.tokens) is not None for k in ("refuse", "hedge", "past")):
            return
        r = self._read(view, state, None, None, False)
        if r is None or r.amount is None or r.date is None or not r.commits:
            return
        self._card(r.amount, r.date, [view.seg.segment_id], view.text.strip(), False, state)

    def final(self, view: SegmentView, state: CallState) -> None:
        if view.speaker == "agent":
            self._agent(view, state)
            return
        if state.third_party and not state.right_party:
            return
        offer, self.offer = self.offer, None
        context, self.context = self.context, None
        self.part.age += 1
        if self.part.age > state.pb.promise.window:
            self.part = _Part()
        if self._declines(view, state):
            return
        r = self._read(view, state, offer, context, self.asked)
        if r is None:
            return
        self.asked = False
        self._combine(r, view, state)

    def _combine(self, r: _Reading, view: SegmentView, state: CallState) -> None:
        """Add the utterance's pieces to the pending commitment; a complete one becomes the promise.
        A revision with one piece ("actually make it Monday") keeps the other from the current promise."""
        p = self.part
        if p.segs is None:
            p.segs, p.quotes, p.age = [], [], 0
        current = state.findings.promise
        revising = (
            r.commits
            and current is not None
            and p.amount is None
            and p.date is None
            and state.pb.phrases("promise:correction").find(view.tokens) is not None
        )
        if r.amount is not None:
            p.amount = r.amount
        elif revising and current is not None:
            p.amount = current.amount
        if r.date is not None:
            p.date = r.date
        elif revising and current is not None:
            p.date = date.fromisoformat(current.date)
        p.confirmed = p.confirmed or r.confirmed
        p.segs.append(view.seg.segment_id)
        assert p.quotes is not None
        p.quotes.append(view.text.strip())
        if p.amount is not None and p.date is not None:
            self._promise(p, view, state)
            self.part = _Part()
        else:
            self._ask_missing(p, view, state)

    def _ask_missing(self, p: _Part, view: SegmentView, state: CallState) -> None:
        pb = state.pb
        missing = "amount" if p.amount is None else "date"
        tmpl = pb.promise.partial_text
        if not tmpl:
            return
        state.emit(
            "promise",
            pb.text(
                tmpl,
                missing=pb.texts.get(f"promise_missing_{missing}", missing),
                amount=_fmt_amount(p.amount) if p.amount else "",
                date=p.date.isoformat() if p.date else "",
            ),
            severity="info",
            audience="agent",
            segments=[view.seg.segment_id],
            quote=state.quote(view.text),
            data={"amount": p.amount, "date": str(p.date or "") or None, "complete": False},
            key=f"promise:partial:{missing}",
        )

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

    # ------------------------------------------------------------------ agent side

    def _agent(self, view: SegmentView, state: CallState) -> None:
        pb = state.pb
        if state.third_party and not state.right_party:
            self.asked, self.offer, self.context = False, None, None
            return
        self._check_readback(view, state)
        asked = pb.phrases("promise:ask").find(view.tokens) is not None
        self.asked = asked or (self.asked and not view.amounts and not view.dates)
        self.offer = None
        self.context = None
        if asked:
            ctx_amount = [a.value for a in view.amounts]
            ctx_dates = [d.date for d in view.dates if d.date >= view.today]
            if ctx_amount or ctx_dates:
                self.context = _Part(
                    amount=ctx_amount[0] if ctx_amount else None, date=ctx_dates[0] if ctx_dates else None
                )
        commits = pb.phrases("promise:commit").hits(view.tokens) + self._leads(view, state)
        offer_marker = pb.phrases("promise:offer").find(view.tokens) is not None or view.text.rstrip().endswith(
            ("?", "？")
        )
        concrete = bool(view.amounts) and any(d.date >= view.today for d in view.dates)
        if not (offer_marker and commits) and not concrete:
            return
        current = state.findings.promise
        amount: float | None
        when: date | None
        if current is not None and self._names(view, current.amount, current.date):
            # a read-back of the promise (maybe with later instalments): a "yes" keeps it
            amount, when = current.amount, date.fromisoformat(current.date)
        else:
            amount = self._amount(view, state, commits)
            when = self._date(view, state, commits)
        if amount is not None or when is not None:
            self.offer = _Part(amount=amount, date=when, segs=[view.seg.segment_id], quotes=[view.text.strip()])

    @staticmethod
    def _names(view: SegmentView, amount: float, when: str) -> bool:
        """The segment says both this amount and this date."""
        return any(abs(a.value - amount) < 0.005 for a in view.amounts) and any(
            d.date.isoformat() == when for d in view.dates
        )

    def _check_readback(self, view: SegmentView, state: CallState) -> None:
        """The agent's first turn after a promise: read back (amount and date said) or remind once."""
        f = state.findings
        if not self.readback_due or f.promise is None:
            return
        self.readback_due = False
        if self._names(view, f.promise.amount, f.promise.date):
            f.promise.confirmed_by_agent = True
            for x in f.promises:
                if x.amount == f.promise.amount and x.date == f.promise.date:
                    x.confirmed_by_agent = True
            return
        pb = state.pb
        if pb.promise.readback_text:
            state.emit(
                "promise",
                pb.text(
                    pb.promise.readback_text,
                    amount=_fmt_amount(f.promise.amount),
                    date=f.promise.date,
                    currency=pb.currency,
                ),
                severity="info",
                audience="agent",
                segments=list(f.promise.segment_ids),
                quote=f.promise.quote,
                data={"amount": f.promise.amount, "date": f.promise.date, "readback": True, "complete": False},
                key=f"promise:readback:{f.promise.amount}:{f.promise.date}",
            )

    # ------------------------------------------------------------------ the finding

    def _promise(self, p: _Part, view: SegmentView, state: CallState) -> None:
        assert p.amount is not None and p.date is not None
        finding = PromiseFinding(
            amount=round(p.amount, 2),
            date=p.date.isoformat(),
            quote=" / ".join(p.quotes or []),
            segment_ids=list(p.segs or []),
            at=view.seg.end,
            confirmed_by_agent=p.confirmed,
        )
        f = state.findings
        further = state.pb.phrases("promise:further").find(view.tokens) is not None
        if f.promise is None or not further:
            f.promise = finding  # the last commitment to the next payment
            self.readback_due = not p.confirmed
        if not any(x.amount == finding.amount and x.date == finding.date for x in f.promises):
            f.promises.append(finding)
        self._card(p.amount, p.date, list(p.segs or []), finding.quote, p.confirmed, state)

    def _card(self, amount: float, when: date, segs: list[str], quote: str, confirmed: bool, state: CallState) -> None:
        pb = state.pb
        template = pb.promise.confirmed_text if confirmed and pb.promise.confirmed_text else pb.promise.text
        state.emit(
            "promise",
            pb.text(template, amount=_fmt_amount(amount), date=when.isoformat(), currency=pb.currency),
            severity="info",
            audience="agent",
            segments=segs,
            quote=quote,
            data={"amount": round(amount, 2), "date": when.isoformat(), "complete": True, "confirmed": confirmed},
            key=f"promise:{round(amount, 2)}:{when.isoformat()}",
        )


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
        opts = payment_plans(
            state.account,
            view.today,
            counts=cfg.instalments,
            first_payment_days=cfg.first_payment_days,
            min_instalment=cfg.min_instalment,
            interval=cfg.interval,
        )
        if not opts:
            return
        sep = "；" if pb.is_chinese else "; "
        lines = sep.join(
            pb.text(
                cfg.option_text,
                count=o.count,
                each=_fmt_amount(o.amount_each),
                first=o.first_date.isoformat(),
                total=_fmt_amount(o.total),
            )
            for o in opts
        )
        p = state.emit(
            "plan",
            pb.text(cfg.text, options=lines, total_due=_fmt_amount(state.account.total_due)),
            severity="info",
            audience="agent",
            segments=[view.seg.segment_id],
            quote=state.quote(view.text),
            data={"options": [o.model_dump(mode="json") for o in opts]},
            key="plan",
        )
        if p is not None:
            state.findings.plan_offered = True


_CLAUSE_END = re.compile(r"[，。！？；：,.!?;:]")
_CLAUSE_END_OR_SPACE = re.compile(r"[，。！？；：,.!?;:\s]")  # recognised Chinese puts spaces between phrases


def _approximate(text: str, end: int, markers: list[str]) -> bool:
    """The amount ending at `end` is followed by an approximating word (两千出头, 一千多, 'two hundred or so')."""
    rest = text[end : end + 12].lstrip().lower()
    return any(rest.startswith(m) for m in markers)


def _ruled_out(text: str, d: DateMention, negators: list[str]) -> bool:
    """A negator next to the date in its clause: 今天真的没有 / 今天别再打了 / 不是明天 / 'not today'."""
    if not negators:
        return False
    if re.search(r"[\u4e00-\u9fff]", text):
        right = _CLAUSE_END_OR_SPACE.split(text[d.end : d.end + 6])[0]
        left = _CLAUSE_END_OR_SPACE.split(text[max(0, d.start - 3) : d.start])[-1]
        return any(n in right for n in negators) or left.endswith(("不是", "不", "别"))
    left = _CLAUSE_END.split(text[max(0, d.start - 16) : d.start])[-1].lower().split()[-2:]
    right = _CLAUSE_END.split(text[d.end : d.end + 16])[0].lower().split()[:1]
    return any(w in negators for w in (*left, *right))


def _asks_back(text: str, end: int) -> bool:
    """The affirming word's clause goes on as a question (这个可以免吗, "okay?")."""
    rest = text[end : end + 4]
    return rest.startswith(("?", "？")) or "吗" in _CLAUSE_END_OR_SPACE.split(rest)[0]
