"""Account card: the numbers the agent needs, at call start and again when the customer asks how much,
why, or disputes a fee.  Prompt kind "account_card", the card itself in `Prompt.data`."""

from __future__ import annotations

from typing import Any

from assist.coach.detectors.base import CallState, Detector, SegmentView


def _money(v: float) -> str:
    return f"{v:,.2f}".rstrip("0").rstrip(".")


def card_data(state: CallState) -> dict[str, Any]:
    acc = state.account
    if acc is None:
        return {}
    pb = state.pb
    contacts = sorted(acc.contacts, key=lambda c: c.at)
    last = contacts[-1] if contacts else None
    return {
        "account_id": acc.id,
        "name": acc.name,
        "currency": acc.currency or pb.currency,
        "principal": acc.principal,
        "interest": acc.interest,
        "penalty": acc.penalty,
        "total_due": acc.total_due,
        "overdue_days": acc.overdue_days,
        "stage": acc.stage,
        "stage_name": pb.account_card.stage_names.get(acc.stage or "", acc.stage or ""),
        "due_date": acc.due_date.isoformat() if acc.due_date else None,
        "previous_promises": [p.model_dump(mode="json") for p in acc.previous_promises],
        "broken_promises": acc.broken_promises,
        "contacts": len(acc.contacts),
        "connected_contacts": sum(1 for c in acc.contacts if c.connected),
        "last_contact": last.model_dump(mode="json") if last else None,
    }


class AccountCard(Detector):
    name = "account_card"

    def _show(self, state: CallState, *, reason: str, segments: list[str] | None = None, quote: str = "") -> None:
        acc = state.account
        if acc is None:
            return
        data = card_data(state)
        data["reason"] = reason
        text = state.pb.text(
            state.pb.account_card.text,
            name=acc.name,
            principal=_money(acc.principal),
            interest=_money(acc.interest),
            penalty=_money(acc.penalty),
            total_due=_money(acc.total_due),
            overdue_days=acc.overdue_days,
            stage=acc.stage or "",
            currency=data["currency"],
            due_date=data["due_date"] or "-",
            broken_promises=acc.broken_promises,
            contacts=data["contacts"],
        )
        state.emit(
            "account_card",
            text,
            severity="info",
            audience="agent",
            segments=segments,
            quote=quote,
            data=data,
            key=f"account_card:{reason}",
            interval=0 if reason == "start" else state.pb.settings.card_repeat_interval,
        )

    def start(self, state: CallState) -> None:
        self._show(state, reason="start")

    def _asked(self, view: SegmentView, state: CallState) -> None:
        if view.speaker != "customer" or state.third_party:
            return
        hit = state.pb.phrases("card:triggers").find(view.tokens)
        if hit is not None:
            self._show(state, reason="asked", segments=[view.seg.segment_id], quote=state.quote(view.text, hit))

    def partial(self, view: SegmentView, state: CallState) -> None:
        self._asked(view, state)

    def final(self, view: SegmentView, state: CallState) -> None:
        self._asked(view, state)
