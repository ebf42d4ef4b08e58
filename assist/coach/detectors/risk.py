"""Risk escalation: wilful default (refusal, hostility, "never paying", avoiding contact), high-risk
accounts (amount / overdue thresholds from the playbook) and hardship (illness, disaster, job or
business loss).  Each goes to supervisors with the suggested action (legal track, hardship programme);
customer speech only, once per kind per call."""

from __future__ import annotations

from assist.coach.detectors.base import CallState, Detector, SegmentView
from assist.coach.findings import RiskFinding
from assist.events import Audience, Severity


def _fmt(v: float) -> str:
    return f"{v:,.2f}".rstrip("0").rstrip(".")


class Risk(Detector):
    name = "risk"

    def _raise(
        self,
        state: CallState,
        kind: str,
        detail: str,
        *,
        rule: str,
        action: str,
        text: str,
        severity: Severity,
        audience: Audience,
        view: SegmentView | None = None,
        quote: str = "",
        data: dict[str, object] | None = None,
    ) -> None:
        if any(r.kind == kind for r in state.findings.risks):
            return
        state.findings.risks.append(
            RiskFinding(
                kind=kind,
                detail=detail,
                rule=rule,
                action=action,
                at=view.seg.start if view else 0.0,
                segment_id=view.seg.segment_id if view else None,
            )
        )
        state.emit(
            "risk",
            state.pb.text(text, detail=detail, action=action, quote=quote),
            severity=severity,
            audience=audience,
            rule=rule,
            segments=[view.seg.segment_id] if view else [],
            quote=quote,
            data={"risk": kind, "detail": detail, "action": action, **(data or {})},
            key=f"risk:{kind}",
        )

    def start(self, state: CallState) -> None:
        acc = state.account
        hr = state.pb.risk.high_risk
        if acc is None:
            return
        reasons = []
        if hr.min_total_due is not None and acc.total_due >= hr.min_total_due:
            reasons.append(("total_due", _fmt(acc.total_due)))
        if hr.min_overdue_days is not None and acc.overdue_days >= hr.min_overdue_days:
            reasons.append(("overdue_days", str(acc.overdue_days)))
        if reasons:
            detail = state.pb.text(
                hr.text,
                total_due=_fmt(acc.total_due),
                overdue_days=acc.overdue_days,
                stage=acc.stage or "",
                action=hr.action,
            )
            self._raise(
                state,
                "high_risk",
                detail,
                rule=hr.rule,
                action=hr.action,
                text="{detail}",
                severity=hr.severity,
                audience=hr.audience,
                data={"reasons": dict(reasons)},
            )

    @staticmethod
    def _disputing(view: SegmentView, state: CallState) -> bool:
        if not any(f.id == "dispute" for f in state.pb.flags):
            return False
        return state.pb.phrases("flag:dispute").find(view.tokens) is not None

    def final(self, view: SegmentView, state: CallState) -> None:
        if view.speaker != "customer" or (state.third_party and not state.right_party):
            return
        pb = state.pb
        wd = pb.risk.wilful_default
        hit = pb.phrases("risk:wilful_default").find(view.tokens)
        if hit is not None and self._disputing(view, state):
            hit = None  # "I won't pay for something I didn't borrow" is a dispute, not wilful default
        if hit is not None:
            q = state.quote(view.text, hit)
            self._raise(
                state,
                "wilful_default",
                q,
                rule=wd.rule,
                action=wd.action,
                text=wd.text,
                severity=wd.severity,
                audience=wd.audience,
                view=view,
                quote=q,
            )
        hs = pb.risk.hardship
        for cat_id, cat in hs.categories.items():
            h = pb.phrases(f"risk:hardship:{cat_id}").find(view.tokens)
            if h is not None:
                q = state.quote(view.text, h)
                state.extra.setdefault("hardship", cat.label)
                self._raise(
                    state,
                    "hardship",
                    f"{cat.label}: {q}",
                    rule=hs.rule,
                    action=hs.action,
                    text=hs.text,
                    severity=hs.severity,
                    audience=hs.audience,
                    view=view,
                    quote=q,
                    data={"category": cat_id, "label": cat.label},
                )
                break
