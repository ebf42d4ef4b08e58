"""Payment channel and amount: money only through the lender's designated channels, never more than owed.

A violation (kind "payment_channel") when the agent asks for payment into a personal account, a
WeChat/Alipay transfer to a person, a QR code or anywhere else that is not on the playbook's list of
designated channels, or demands more than the account's total due (beyond the playbook tolerance).
"""

from __future__ import annotations

from assist.coach.detectors.base import CallState, Detector, SegmentView
from assist.coach.detectors.compliance import record_violation, run_specs


class PaymentChannel(Detector):
    name = "payment"

    def partial(self, view: SegmentView, state: CallState) -> None:
        if view.speaker == "agent":
            run_specs(state.pb.payment.violations, view, state)

    def final(self, view: SegmentView, state: CallState) -> None:
        if view.speaker != "agent":
            return
        run_specs(state.pb.payment.violations, view, state)
        self._overdemand(view, state)

    def _overdemand(self, view: SegmentView, state: CallState) -> None:
        """An amount above the total due: stated as what is owed → `statement_kind` (misleading);
        asked for → payment_channel."""
        acc = state.account
        if acc is None or acc.total_due <= 0 or not view.amounts:
            return
        spec = state.pb.payment.overdemand
        limit = acc.total_due * (1 + spec.tolerance)
        over = [a for a in view.amounts if a.value > limit]
        if not over:
            return
        statements = state.pb.phrases("payment:statement").hits(view.tokens) if spec.statement else []
        demands = state.pb.phrases("payment:demand").hits(view.tokens)
        money = {"total_due": f"{acc.total_due:,.2f}".rstrip("0").rstrip(".")}
        for amt in over:
            tok = view.token_of_char(amt.start)
            money["amount"] = f"{amt.value:,.2f}".rstrip("0").rstrip(".")
            for hits, kind, rule, text in (
                (statements, spec.statement_kind, spec.statement_rule or spec.rule, spec.statement_text or spec.text),
                (demands, "payment_channel", spec.rule, spec.text),
            ):
                near = [h for h in hits if h.tok_end <= tok + 1 and tok - h.tok_end <= spec.window]
                if near:
                    hit = near[-1]
                    hit.end = max(hit.end, amt.end)
                    record_violation(
                        state,
                        view,
                        kind=kind,
                        check=f"overdemand:{kind}",
                        rule=rule,
                        severity=spec.severity,
                        text=state.pb.text(text, **money),
                        hit=hit,
                    )
                    return
