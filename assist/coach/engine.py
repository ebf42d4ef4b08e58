"""CallCoach: runs one call's segments through the detectors and returns prompts.

Sans-I/O and synchronous: the caller feeds `on_segment` (partials and finals, any speaker), calls
`tick(call_time)` now and then for time-based reminders, and `end()` at hang-up; every method returns
the new prompts.  `findings()` gives the end-of-call conclusions at any time.

    coach = CallCoach(CallContext(call_id, "zh-CN", started_at, account=acc), load_playbook("zh-CN"))
    prompts = coach.start()
    prompts += coach.on_segment(seg)          # seg: events.TranscriptSegment
    prompts += coach.tick(42.0)
    prompts += coach.end(); summary = coach.findings()
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from assist import logs
from assist.coach.detectors import CallContext, CallState, Detector, SegmentView, default_detectors
from assist.coach.detectors.sensitive import find_sensitive, mask_segment
from assist.coach.dialing import candidate_zones
from assist.coach.findings import Findings
from assist.coach.playbook import Playbook, load_playbook
from assist.events import Prompt, TranscriptSegment

__all__ = ["CallCoach", "CallContext", "load_playbook"]

log = logs.get(__name__)


class CallCoach:
    def __init__(self, ctx: CallContext, playbook: Playbook, detectors: list[Detector] | None = None) -> None:
        self.ctx = ctx
        self.pb = playbook
        self.detectors = detectors if detectors is not None else default_detectors()
        findings = Findings(
            call_id=ctx.call_id, language=playbook.language, account_id=ctx.account.id if ctx.account else None
        )
        self.state = CallState(ctx=ctx, pb=playbook, findings=findings)
        acc = ctx.account
        # relative dates resolve in the debtor's zone: the account's, else the first candidate zone
        # (the phone's area code, else the playbook's first unknown-zone entry)
        zone = candidate_zones(acc, playbook)[0]
        self.state.tz = ZoneInfo(zone)
        if acc is not None:
            acc.localize(zone)
        self._final_index: dict[str, int] = {}
        self._started = False
        self._ended = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> list[Prompt]:
        """Account card and call-time/frequency check."""
        if self._started:
            return []
        self._started = True
        for d in self.detectors:
            d.start(self.state)
        return self.state.take()

    def on_segment(self, seg: TranscriptSegment) -> list[Prompt]:
        """Judge one partial or final segment; returns the prompts it caused."""
        if not self._started:
            self.start()
        st = self.state
        st.now = max(st.now, seg.end)
        st.judged_at = seg.end
        view = self._view(seg)
        if seg.final:
            st.finals.append(view)
            st.last_final[seg.speaker] = view
            st.findings.segments = len(st.finals)
            st.findings.duration = max(st.findings.duration, seg.end)
            for d in self.detectors:
                d.final(view, st)
        else:
            for d in self.detectors:
                d.partial(view, st)
        return st.take()

    def tick(self, call_time: float) -> list[Prompt]:
        """Time-based checks (disclosure reminders) at `call_time` seconds into the call."""
        st = self.state
        st.now = max(st.now, call_time)
        st.judged_at = st.now
        for d in self.detectors:
            d.tick(st.now, st)
        return st.take()

    def end(self) -> list[Prompt]:
        """Hang-up: end-of-call prompts (a summary for supervisors)."""
        if self._ended:
            return []
        self._ended = True
        st = self.state
        st.judged_at = st.now
        for d in self.detectors:
            d.end(st)
        f = self.findings()
        summary = self.pb.outcomes.summary_text
        if summary:
            missing = [st.findings.disclosures[k].label for k, v in st.findings.disclosures.items() if not v.done]
            sep = "、" if self.pb.is_chinese else ", "
            st.emit(
                "summary",
                self.pb.text(
                    summary,
                    outcome=self.pb.outcomes.labels.get(f.outcome, f.outcome),
                    violations=len(f.violations),
                    missing=sep.join(missing) or "-",
                    promise=(f"{f.promise.amount:g} @ {f.promise.date}" if f.promise else "-"),
                ),
                severity="info",
                audience="supervisor",
                data={"findings": f.public()},
                key="summary",
            )
        return st.take()

    # ------------------------------------------------------------------ findings

    def findings(self) -> Findings:
        st = self.state
        f = st.findings
        if f.promise is not None:
            # a customer who later commits to pay changed their mind: "I'm never paying you people" followed by
            # "five hundred to the bank on Friday" is a promise, not wilful default (the live alert stays raised)
            f.risks = [r for r in f.risks if not (r.kind == "wilful_default" and (r.at or 0.0) <= f.promise.at)]
        risks = {r.kind for r in f.risks}
        promise_det = next((d for d in self.detectors if d.name == "promise"), None)
        refusals = getattr(promise_det, "refusals", 0)
        hedges = getattr(promise_det, "hedges", 0)
        if st.third_party and not st.right_party:
            outcome = "wrong_party"
        elif f.promise is not None:
            outcome = "promise_to_pay"
        elif f.dispute:
            outcome = "dispute"
        elif "hardship" in risks:
            outcome = "hardship"
        elif "wilful_default" in risks:
            outcome = "refused"
        elif "callback" in f.flags:
            outcome = "callback"
        else:
            outcome = "no_commitment"
        f.outcome = outcome  # type: ignore[assignment]
        if f.promise is not None:
            f.willingness = "high"
        elif "wilful_default" in risks:
            f.willingness = "low"
        elif hedges or "hardship" in risks or "willing" in f.flags or f.temperament.label == "procrastinating":
            f.willingness = "medium"
        elif refusals:
            f.willingness = "low"
        else:
            f.willingness = "unknown"
        f.economic_situation = st.extra.get("hardship") or st.extra.get("economic")
        return f.model_copy(deep=True)

    # ------------------------------------------------------------------ helpers

    def _view(self, seg: TranscriptSegment) -> SegmentView:
        pb = self.pb
        spans = find_sensitive(seg.text, pb)
        masked = mask_segment(seg, pb) if spans or seg.words else seg
        index: int | None = None
        if seg.final:
            index = self._final_index.setdefault(seg.segment_id, len(self._final_index))
        return SegmentView(
            seg=masked,
            tokens=pb.matcher.tokens(masked.text),
            index=index,
            today=self.state.local_date(seg.start),
            language=pb.language,
            next_weekday=pb.promise.next_weekday,
            masked_spans=len(spans),
        )
