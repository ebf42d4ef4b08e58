"""Customer-side flags and facts: who is on the line (right party / third party), disputes, callback
requests, attorney / cease / workplace notices (en-US), new contact numbers and the economic situation.

Flags come from the playbook's `flags` list; the ids `wrong_party`, `contact_person` (said by the agent),
`third_party_exempt`, `right_party` and `dispute` also change the call state (third-party mode, dispute finding).
Customer-side triggers create tasks and notes, never reprimands.
"""

from __future__ import annotations

import re

from assist.coach.detectors.base import CallState, Detector, SegmentView
from assist.coach.numbers import digit_runs


def _digits(s: str | None) -> str:
    return re.sub(r"\D", "", s or "")


class CustomerSignals(Detector):
    name = "signals"

    def final(self, view: SegmentView, state: CallState) -> None:
        pb = state.pb
        f = state.findings
        wrong_here = False
        for flag in pb.flags:
            if flag.speaker != view.speaker:
                continue
            hit = pb.phrases(f"flag:{flag.id}").find(view.tokens)
            if hit is None or (flag.id == "right_party" and wrong_here):
                continue
            wrong_here = wrong_here or flag.id == "wrong_party"
            q = state.quote(view.text, hit)
            if flag.id == "wrong_party":
                if not state.right_party:
                    state.third_party = True
            elif flag.id == "contact_person":
                # the agent treats the person as someone else's contact: their "yes, that's me" was about their own
                # name, not the debtor's (the debtor coming to the phone later sets right_party again)
                state.third_party, state.right_party = True, False
            elif flag.id == "third_party_exempt":
                state.third_party_exempt = True
            elif flag.id == "right_party":
                state.right_party = True
                state.third_party = False
            elif flag.id == "dispute":
                if not f.dispute:
                    f.dispute, f.dispute_detail = True, q
            if flag.id not in f.flags:
                f.flags.append(flag.id)
            if flag.text:
                state.emit(
                    "flag",
                    pb.text(flag.text, quote=q),
                    severity=flag.severity,
                    audience=flag.audience,
                    rule=flag.rule,
                    segments=[view.seg.segment_id],
                    quote=q,
                    data={"flag": flag.id, "match": hit.quote(view.text)},
                    key=f"flag:{flag.id}",
                )
        if view.speaker == "customer" and not state.right_party and not wrong_here and self._names_self(view, state):
            state.right_party, state.third_party = True, False
        if view.speaker == "customer":
            self._numbers(view, state)
            self._economic(view, state)

    @staticmethod
    def _names_self(view: SegmentView, state: CallState) -> bool:
        """The speaker says they are the account holder by name ("Hello, this is Daniel.", 我就是彭磊); "I'm
        Daniel's wife" / 我是彭磊的老婆 is someone else."""
        acc = state.account
        intros = state.pb.third_party.self_intro
        if acc is None or not acc.name or not intros:
            return False
        if state.pb.is_chinese:
            text = re.sub(r"\s+", "", view.text)
            names = {acc.name.replace(" ", "")} | ({acc.name[1:]} if len(acc.name) >= 3 else set())
            return any(re.search(re.escape(i + n) + r"(?!的)", text) is not None for i in intros for n in names if n)
        text = view.text.lower()
        parts = [acc.name.lower()] + [p for p in acc.name.lower().split() if len(p) > 2]
        return any(
            re.search(r"\b" + re.escape(i) + r"\s+" + re.escape(n) + r"\b(?!['’]s)", text) is not None
            for i in intros
            for n in parts
        )

    def _numbers(self, view: SegmentView, state: CallState) -> None:
        """Phone numbers the customer gives (mobile, landline; spoken or written digits).

        Skipped: the number being called, numbers introduced by `not_phone` words (report, account,
        confirmation numbers) and written digit groups that are not shaped like a phone number."""
        pb = state.pb
        runs = digit_runs(view.text, min_len=7)
        if not runs:
            return
        ctx = pb.phrases("new_number").hits(view.tokens)
        neg = pb.phrases("not_phone").hits(view.tokens) if pb.not_phone else []
        own = _digits(state.account.phone if state.account else None)
        for r in runs:
            d = r.digits
            if "X" in d:
                continue
            before_ctx = max((h.end for h in ctx if h.end <= r.start), default=-1)
            before_neg = max((h.end for h in neg if h.end <= r.start), default=-1)
            near_neg = any(h.end <= r.start and r.start - h.end <= 16 for h in neg)
            if before_neg > before_ctx or near_neg:
                continue
            has_ctx = before_ctx >= 0
            raw = view.text[r.start : r.end]
            groups = [len(g) for g in re.split(r"[^0-9]+", raw) if g]
            written = sum(groups) == len(d)
            if pb.is_chinese:
                mobile = len(d) == 11 and d[0] == "1" and d[1] in "3456789"
                landline = d[0] == "0" and 10 <= len(d) <= 12
                ok = mobile or landline or (has_ctx and 7 <= len(d) <= 12)
            else:
                if len(d) == 11 and d[0] == "1":
                    d = d[1:]
                    if written and groups and groups[0] == 1:
                        groups = groups[1:]
                    elif written and groups:
                        groups[0] -= 1
                shaped = not written or groups in ([10], [3, 3, 4], [3, 7], [6, 4])
                ok = (len(d) == 10 and shaped and d[0] in "23456789") or (has_ctx and 7 <= len(d) <= 11)
            if not ok or (own and (own.endswith(d) or d.endswith(own))):
                continue
            if d not in state.findings.new_contact_numbers:
                state.findings.new_contact_numbers.append(d)
                state.emit(
                    "contact",
                    pb.text(pb.texts.get("new_number", "{number}"), number=d),
                    severity="info",
                    audience="agent",
                    segments=[view.seg.segment_id],
                    data={"new_contact_number": d},
                    key=f"contact:{d}",
                )

    def _economic(self, view: SegmentView, state: CallState) -> None:
        if "economic" in state.extra:
            return
        for cid, cat in state.pb.economic.items():
            if state.pb.phrases(f"economic:{cid}").find(view.tokens) is not None:
                state.extra["economic"] = cat.label
                return
