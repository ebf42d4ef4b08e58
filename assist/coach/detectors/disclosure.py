"""Disclosure checklist: the things the agent must say (identity, purpose, recording notice, amount
breakdown, deadline, credit and legal consequences; en-US adds the debt-collector statement).

Ticked from the agent's final segments only, with the call time.  An item with `all_of` groups is done
once every group was said (in any segments).  Consequences stated inside a threatening or misleading
sentence do not count.  A reminder goes out once per item when an item with a `due` time is still
missing at that point of the call (opening items early: the recording notice at 15 s), and when the
agent starts closing the call (a wrap-up line or the goodbye) for everything still missing — but not
while the person on the line is a third party (the agent must not disclose the debt to them).
"""

from __future__ import annotations

from assist.coach.detectors.base import CallState, Detector, SegmentView
from assist.coach.findings import DisclosureState
from assist.coach.match import Hit
from assist.coach.playbook import DisclosureItem


def _gap(a: tuple[int, int], b: tuple[int, int]) -> int:
    """Tokens between two token spans (0 when they touch or overlap)."""
    return max(0, b[0] - a[1], a[0] - b[1])


class Disclosure(Detector):
    name = "disclosure"

    def __init__(self) -> None:
        self.groups: dict[str, set[int]] = {}
        self.reminded: set[str] = set()  # items already reminded when they fell due

    def start(self, state: CallState) -> None:
        for item in state.pb.disclosures.items:
            state.findings.disclosures[item.key] = DisclosureState(label=item.label, rule=item.rule)
            self.groups[item.key] = set()

    def checklist(self, state: CallState) -> dict[str, object]:
        return {k: {"done": v.done, "at": v.at, "label": v.label} for k, v in state.findings.disclosures.items()}

    def missing(self, state: CallState, *, due_by: float | None = None) -> list[str]:
        out = []
        for item in state.pb.disclosures.items:
            st = state.findings.disclosures[item.key]
            if st.done:
                continue
            if due_by is not None and (item.due is None or item.due > due_by):
                continue
            out.append(item.key)
        return out

    def final(self, view: SegmentView, state: CallState) -> None:
        if view.speaker != "agent":
            return
        pb = state.pb
        ticked: list[str] = []
        kinds = (
            state.segment_kinds.get(view.seg.segment_id, set())
            if view.seg.segment_id in state.violating_segments
            else set()
        )
        for item in pb.disclosures.items:
            st = state.findings.disclosures[item.key]
            if st.done:
                continue
            if kinds & set(item.skip_if):
                continue
            if self._said(item, view, state):
                st.done, st.at, st.segment_id = True, round(view.seg.start, 2), view.seg.segment_id
                ticked.append(item.key)
        if ticked:
            labels = (
                "、".join(state.findings.disclosures[k].label for k in ticked)
                if pb.is_chinese
                else ", ".join(state.findings.disclosures[k].label for k in ticked)
            )
            if pb.disclosures.ticked_text:
                state.emit(
                    "disclosure",
                    pb.text(pb.disclosures.ticked_text, items=labels),
                    severity="info",
                    audience="agent",
                    segments=[view.seg.segment_id],
                    data={"checklist": self.checklist(state), "ticked": ticked},
                    key=f"disclosure:ticked:{','.join(ticked)}",
                )
        if pb.phrases("disclosure:closing").find(view.tokens) is not None:
            state.closing_seen = True
            self._remind(state, closing=True, segments=[view.seg.segment_id])

    def _said(self, item: DisclosureItem, view: SegmentView, state: CallState) -> bool:
        pb = state.pb
        ps = pb.phrases(f"disclosure:{item.key}")
        if item.needs_date:
            if ps.excepted(view.tokens):
                return False
            dates = [self._span(view, d.start, d.end) for d in view.dates if d.date >= view.today]
            if not dates:
                return False
            spans = [(h.tok_start, h.tok_end) for h in ps.hits(view.tokens)]
            amounts = [self._span(view, a.start, a.end) for a in view.amounts]
            # the date must belong to a payment word (请在15号前还款) or an amount (下周五 一万)
            return any(_gap(d, h) <= 3 for d in dates for h in spans) or any(
                _gap(d, a) <= 6 for d in dates for a in amounts
            )
        if item.patterns and ps.find(view.tokens) is not None:
            return True
        if item.all_of:
            got = self.groups[item.key]
            for i in range(len(item.all_of)):
                if i in got:
                    continue
                hits = pb.phrases(f"disclosure:{item.key}:{i}").hits(view.tokens)
                if item.figures:
                    hits = [h for h in hits if self._has_figure(h, view)]
                if hits:
                    got.add(i)
            return len(got) == len(item.all_of)
        return False

    @staticmethod
    def _span(view: SegmentView, start: int, end: int) -> tuple[int, int]:
        return view.token_of_char(start), view.token_of_char(max(start, end - 1)) + 1

    @staticmethod
    def _has_figure(hit: Hit, view: SegmentView) -> bool:
        """An amount right after the words (本金两万 / principal of $2,400) or right before them
        (twenty-four hundred in principal)."""
        for a in view.amounts:
            a_start = view.token_of_char(a.start)
            a_end = view.token_of_char(max(a.start, a.end - 1)) + 1
            if 0 <= a_start - hit.tok_end <= 5 or 0 <= hit.tok_start - a_end <= 3:
                return True
        return False

    def partial(self, view: SegmentView, state: CallState) -> None:
        if view.speaker == "agent" and state.pb.phrases("disclosure:closing").find(view.tokens) is not None:
            self._remind(state, closing=True, segments=[view.seg.segment_id])

    def tick(self, t: float, state: CallState) -> None:
        self._remind(state, closing=False, due_by=t)

    def _remind(
        self, state: CallState, *, closing: bool, due_by: float | None = None, segments: list[str] | None = None
    ) -> None:
        if state.third_party and not state.right_party:
            return
        if closing:
            missing = self.missing(state)
        else:  # each item once when it falls due (recording notice at 15 s, identity at 20 s…)
            missing = [k for k in self.missing(state, due_by=due_by) if k not in self.reminded]
            self.reminded.update(missing)
        if not missing:
            return
        pb = state.pb
        sep = "、" if pb.is_chinese else ", "
        labels = sep.join(state.findings.disclosures[k].label for k in missing)
        template = pb.disclosures.closing_text if closing else pb.disclosures.reminder_text
        rules = sorted({state.findings.disclosures[k].rule or "" for k in missing} - {""})
        state.emit(
            "disclosure",
            pb.text(template, missing=labels),
            severity="high" if closing else pb.disclosures.severity,
            audience="agent",
            rule=rules[0] if len(rules) == 1 else None,
            segments=segments or [],
            data={"checklist": self.checklist(state), "missing": missing, "closing": closing},
            key=f"disclosure:{'closing' if closing else 'reminder'}:{','.join(missing)}",
        )
