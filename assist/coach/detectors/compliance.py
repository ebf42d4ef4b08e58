"""Prohibited agent speech: threats, abuse, misleading claims, debt disclosed to a third party.

Runs on the agent channel only (a customer quoting a threat they received is not a violation), on
partial segments for speed (checks whose playbook entry allows it) and on finals for the record.
Each hit prompts the agent and alerts supervisors (audience "both") with the quote and the rule;
the findings keep one violation per (kind, segment).

Third-party disclosure: once the person on the line has said they are not the debtor (wrong number,
"I'm his mother"…) and until they confirm they are, any debt term about the debtor in the agent's
speech is a disclosure to a third party, and so is what the agent said about the debt before the
person said who they are (it was said to them too).
"""

from __future__ import annotations

from assist.coach.detectors.base import CallState, Detector, SegmentView
from assist.coach.findings import Violation
from assist.coach.match import Hit
from assist.coach.playbook import ViolationSpec
from assist.events import Severity


def record_violation(
    state: CallState,
    view: SegmentView,
    *,
    kind: str,
    check: str,
    rule: str,
    severity: Severity,
    text: str,
    hit: Hit | None,
) -> None:
    """Alert (de-duplicated) and, for a final segment, add the finding once per (kind, segment)."""
    seg_id = view.seg.segment_id
    state.segment_kinds.setdefault(seg_id, set()).add(kind)
    quote = state.quote(view.text, hit)
    matched = hit.quote(view.text) if hit else ""
    r = state.pb.rule(rule)
    prompt_kind = "payment_channel" if kind == "payment_channel" else "compliance"
    state.emit(
        prompt_kind,
        state.pb.text(text, quote=quote, match=matched, rule=rule, title=r.title if r else rule),
        severity=severity,
        audience="both",
        rule=rule,
        segments=[seg_id],
        quote=quote,
        data={"violation": kind, "check": check, "speaker": view.speaker, "match": matched},
        key=f"violation:{check}",
        once=f"violation:{check}:{seg_id}",
    )
    if view.final and view.index is not None:
        state.violating_segments.add(seg_id)
        if not any(v.kind == kind and v.segment_id == seg_id for v in state.findings.violations):
            state.findings.violations.append(
                Violation(
                    kind=kind,
                    segment=view.index,
                    segment_id=seg_id,
                    quote=quote,
                    rule=rule,
                    source=r.source if r else None,
                    severity=severity,
                    check=check,
                    at=view.seg.start,
                )
            )


def run_specs(specs: list[ViolationSpec], view: SegmentView, state: CallState) -> None:
    """Run violation checks; a check with `yield_to` runs after the others and is skipped when the
    segment already has a violation of one of those kinds (one kind per statement)."""
    partial_ok = state.pb.settings.partial_checks
    ordered = [s for s in specs if not s.yield_to] + [s for s in specs if s.yield_to]
    for spec in ordered:
        if not view.final and not (spec.partial and partial_ok):
            continue
        if spec.yield_to and state.segment_kinds.get(view.seg.segment_id, set()) & set(spec.yield_to):
            continue
        hit = state.pb.phrases(f"violation:{spec.id}").find(view.tokens)
        if hit is not None:
            record_violation(
                state,
                view,
                kind=spec.kind,
                check=spec.id,
                rule=spec.rule,
                severity=spec.severity,
                text=spec.text,
                hit=hit,
            )


class Compliance(Detector):
    name = "compliance"

    def __init__(self) -> None:
        self.third_party_seen = False

    def _run(self, view: SegmentView, state: CallState) -> None:
        if view.speaker != "agent":
            return
        run_specs(state.pb.violations, view, state)
        if self._to_third_party(state) and (view.final or state.pb.settings.partial_checks):
            self._third_party_check(view, state)

    @staticmethod
    def _to_third_party(state: CallState) -> bool:
        return state.third_party and not state.third_party_exempt and not state.right_party

    def _third_party_check(self, view: SegmentView, state: CallState) -> None:
        tp = state.pb.third_party
        hits = state.pb.phrases("third_party:debt_terms").hits(view.tokens)
        if hits and tp.own_name:
            names = state.pb.phrases("third_party:own_name").hits(view.tokens)
            hits = [h for h in hits if not any(n.tok_start <= h.tok_start and h.tok_end <= n.tok_end for n in names)]
        hit = hits[0] if hits else None
        if hit is not None and tp.debtor_refs and not self._about_debtor(view, state):
            hit = None  # a proverb (欠钱还钱天经地义) is not a disclosure about the debtor
        if hit is not None:
            record_violation(
                state,
                view,
                kind="third_party_disclosure",
                check="third_party",
                rule=tp.rule,
                severity=tp.severity,
                text=tp.text,
                hit=hit,
            )

    def _looking_back(self, state: CallState) -> None:
        """The person on the line has just said they are not the debtor: whatever the agent said
        about the debt before that was said to them too."""
        if self.third_party_seen or not self._to_third_party(state):
            return
        self.third_party_seen = True
        for earlier in state.finals[:-1]:
            if earlier.speaker == "agent":
                self._third_party_check(earlier, state)

    @staticmethod
    def _about_debtor(view: SegmentView, state: CallState) -> bool:
        if state.pb.phrases("third_party:debtor_refs").find(view.tokens) is not None:
            return True
        acc = state.account
        if acc is not None and acc.name:
            text = view.text.lower()
            parts = [acc.name.lower()] + [p for p in acc.name.lower().split() if len(p) > 2]
            return any(p in text for p in parts)
        return False

    def partial(self, view: SegmentView, state: CallState) -> None:
        self._run(view, state)

    def final(self, view: SegmentView, state: CallState) -> None:
        if view.speaker == "customer":
            self._looking_back(state)
        self._run(view, state)
