"""Customer temperament: dominant (强势型) / sensitive (敏感型) / procrastinating (拖延型) / neutral, and anger.

Evidence per customer utterance, all relative to the customer's own baseline (their utterances in the
first `baseline_seconds`):
* lexical cues from the playbook per type and for anger;
* speech rate (characters or words per second, from word timings when present) against the baseline;
* loudness (TranscriptSegment.loudness_db) against the baseline;
* turn-taking: the customer starting while the agent still talks (interruption / overlap), long
  pauses before answering, long monologues.
Scores decay per utterance; the shown (live) label changes only after `hysteresis` consecutive
utterances agree (and anger enters/leaves with separate thresholds), and each change brings the
playbook's guidance and example phrasing.

The call's label (findings, summary, supervisor) describes the customer over the whole call: the
type with the most undecayed evidence when it is clear enough, else the type the live label held
longest.  A customer who was sensitive for two minutes and calm at the end stays sensitive; the live
label may calm down, the call label does not forget.
"""

from __future__ import annotations

import re
from statistics import fmean

from assist.coach.detectors.base import CallState, Detector, SegmentView
from assist.coach.findings import TemperamentFinding
from assist.events import TranscriptSegment

TYPES = ("dominant", "sensitive", "procrastinating")
_CJK = re.compile(r"[\u3400-\u9fff0-9]")
_WORD = re.compile(r"[A-Za-z0-9']+")


def speech_units(seg: TranscriptSegment) -> int:
    if seg.language.lower().startswith("zh"):
        return len(_CJK.findall(seg.text))
    return len(_WORD.findall(seg.text))


def speech_rate(seg: TranscriptSegment) -> float | None:
    """Characters (zh) or words (en) per second of speech; None when too short to tell."""
    if seg.words:
        dur = seg.words[-1].end - seg.words[0].start
    else:
        dur = seg.end - seg.start
    units = speech_units(seg)
    if dur < 0.6 or units < 3:
        return None
    return units / dur


class Temperament(Detector):
    name = "temperament"

    def __init__(self) -> None:
        self.scores = dict.fromkeys(TYPES, 0.0)
        self.totals = dict.fromkeys(TYPES, 0.0)  # undecayed evidence over the whole call
        self.anger = 0.0
        self.max_anger = 0.0
        self.angry = False
        self.ever_angry = False
        self.label = "neutral"
        self.confidence = 0.0
        self.pending: str | None = None
        self.pending_n = 0
        self.first_customer: float | None = None
        self.base_loud: list[float] = []
        self.base_rate: list[float] = []
        self.last_agent: tuple[float, float] | None = None
        self.last_customer: tuple[float, float] | None = None
        self.pending_signal: dict[str, float] = {}
        self.interruptions = 0
        self.counted: set[tuple[float, float]] = set()
        self.held: dict[str, int] = {}  # customer utterances each non-neutral live label was shown

    # ------------------------------------------------------------------ signals

    def _add(self, signal: str, state: CallState, into: dict[str, float]) -> None:
        for k, w in state.pb.temperament.signals.get(signal, {}).items():
            into[k] = into.get(k, 0.0) + w

    def _overlap(
        self, agent: tuple[float, float], cust: tuple[float, float], state: CallState, into: dict[str, float]
    ) -> None:
        """Customer started while the agent was still talking."""
        cfg = state.pb.temperament
        if agent[0] < cust[0] and agent[1] - cust[0] >= cfg.interrupt_overlap and cust not in self.counted:
            self.counted.add(cust)
            self.interruptions += 1
            self._add("interrupt", state, into)

    def final(self, view: SegmentView, state: CallState) -> None:
        seg = view.seg
        if seg.speaker == "agent":
            self.last_agent = (seg.start, seg.end)
            if self.last_customer is not None:  # the customer's utterance ended first but began inside ours
                self._overlap(self.last_agent, self.last_customer, state, self.pending_signal)
            return
        cfg = state.pb.temperament
        sig: dict[str, float] = dict(self.pending_signal)
        self.pending_signal = {}
        cust = (seg.start, seg.end)
        if self.last_agent is not None:
            self._overlap(self.last_agent, cust, state, sig)
            gap = seg.start - self.last_agent[1]
            if gap >= cfg.long_pause and (self.last_customer is None or self.last_customer[1] < self.last_agent[0]):
                self._add("long_pause", state, sig)
        self.last_customer = cust
        if seg.end - seg.start >= cfg.long_turn:
            self._add("long_turn", state, sig)
        if self.first_customer is None:
            self.first_customer = seg.start
        in_baseline = seg.start - self.first_customer <= cfg.baseline_seconds
        rate = speech_rate(seg)
        if rate is not None:
            if in_baseline or not self.base_rate:
                self.base_rate.append(rate)
            base = fmean(self.base_rate)
            if base > 0 and not in_baseline:
                if rate / base >= cfg.fast_ratio:
                    self._add("fast", state, sig)
                elif rate / base <= cfg.slow_ratio:
                    self._add("slow", state, sig)
        if seg.loudness_db is not None:
            if in_baseline or not self.base_loud:
                self.base_loud.append(seg.loudness_db)
            base_db = fmean(self.base_loud)
            if not in_baseline:
                if seg.loudness_db - base_db >= cfg.loud_db:
                    self._add("loud", state, sig)
                elif seg.loudness_db - base_db <= cfg.quiet_db:
                    self._add("quiet", state, sig)
        # lexical cues
        pb = state.pb
        for t in TYPES:
            spec = cfg.types.get(t)  # type: ignore[call-overload]
            if spec is None or not spec.cues:
                continue
            hits = pb.phrases(f"temperament:{t}").hits(view.tokens)
            n = len({h.pattern for h in hits})
            if n:
                sig[t] = sig.get(t, 0.0) + spec.weight * min(n, 2)
        ahits = pb.phrases("temperament:anger").hits(view.tokens)
        n_anger = len({h.pattern for h in ahits})
        if n_anger:
            sig["anger"] = sig.get("anger", 0.0) + cfg.anger.weight * min(n_anger, 3)
        self._update(sig, view, state)

    # ------------------------------------------------------------------ state

    def _update(self, sig: dict[str, float], view: SegmentView, state: CallState) -> None:
        cfg = state.pb.temperament
        for t in TYPES:
            self.scores[t] = self.scores[t] * cfg.decay + sig.get(t, 0.0)
            self.totals[t] += sig.get(t, 0.0)
        self.anger = min(1.0, self.anger * cfg.anger_decay + sig.get("anger", 0.0))
        self.max_anger = max(self.max_anger, self.anger)
        top = max(TYPES, key=lambda t: self.scores[t])
        total = sum(self.scores.values())
        conf = self.scores[top] / (total + 0.5) if total > 0 else 0.0
        candidate = top if self.scores[top] >= cfg.min_score and conf >= cfg.min_confidence else "neutral"
        cand_conf = conf if candidate != "neutral" else round(1.0 - conf, 3)
        seg_ids = [view.seg.segment_id]
        if candidate == self.label:
            self.pending, self.pending_n = None, 0
            self.confidence = round(cand_conf, 3)
        else:
            if self.pending == candidate:
                self.pending_n += 1
            else:
                self.pending, self.pending_n = candidate, 1
            if self.pending_n >= cfg.hysteresis:
                self.label, self.confidence = candidate, round(cand_conf, 3)
                self.pending, self.pending_n = None, 0
                state.findings.temperament.changes.append(
                    {"at": round(view.seg.end, 2), "label": candidate, "confidence": self.confidence}
                )
                self._prompt(candidate, state, seg_ids, view)
        # anger with its own hysteresis
        if not self.angry and self.anger >= cfg.anger.enter:
            self.angry = self.ever_angry = True
            a = cfg.anger
            text = state.pb.text(
                cfg.text,
                label=a.label,
                guidance=a.guidance,
                say=" / ".join(a.say[:2]),
                avoid=a.avoid,
                confidence=f"{self.anger:.0%}",
            )
            state.emit(
                "temperament",
                text,
                severity="high",
                audience="agent",
                segments=seg_ids,
                quote=state.quote(view.text),
                data={
                    "label": self.label,
                    "angry": True,
                    "anger_level": round(self.anger, 3),
                    "say": a.say,
                    "avoid": a.avoid,
                },
                key="temperament:angry",
            )
        elif self.angry and self.anger < cfg.anger.exit:
            self.angry = False
        if self.label != "neutral":
            self.held[self.label] = self.held.get(self.label, 0) + 1
        self._publish(state)

    def _prompt(self, label: str, state: CallState, seg_ids: list[str], view: SegmentView) -> None:
        cfg = state.pb.temperament
        spec = cfg.types.get(label)  # type: ignore[call-overload]
        if spec is None:
            return
        text = state.pb.text(
            cfg.text,
            label=spec.label,
            guidance=spec.guidance,
            say=" / ".join(spec.say[:2]),
            avoid=spec.avoid,
            confidence=f"{self.confidence:.0%}",
        )
        state.emit(
            "temperament",
            text,
            severity="info" if label == "neutral" else "medium",
            audience="agent",
            segments=seg_ids,
            quote=state.quote(view.text),
            data={
                "label": label,
                "type_label": spec.label,
                "confidence": self.confidence,
                "angry": self.angry,
                "anger_level": round(self.anger, 3),
                "say": spec.say,
                "avoid": spec.avoid,
                "scores": {k: round(v, 3) for k, v in self.scores.items()},
                "interruptions": self.interruptions,
            },
            key=f"temperament:{label}",
        )

    def overall(self, state: CallState) -> tuple[str, float]:
        """The customer's type over the whole call: the type with the most evidence, if there is enough."""
        cfg = state.pb.temperament
        totals = dict(self.totals)
        if any(r.kind == "hardship" for r in state.findings.risks):
            for t, w in cfg.hardship_discount.items():
                if t in totals:
                    totals[t] *= w
        top = max(TYPES, key=lambda t: totals[t])
        total = sum(totals.values())
        if total <= 0:
            return "neutral", 0.5
        share = totals[top] / total
        conf = totals[top] / (total + 1.0)
        if totals[top] >= cfg.overall_min_score and share >= cfg.overall_min_share:
            return top, round(conf, 3)
        # the live label found a type and held it: the call keeps the one it held longest, if the
        # evidence for it is more than a single remark
        held = {
            t: n
            for t, n in self.held.items()
            if n >= cfg.held_min_utterances and totals.get(t, 0.0) >= cfg.held_min_score
        }
        if held:
            kept = max(held, key=lambda t: (held[t], totals.get(t, 0.0)))
            return kept, round(totals.get(kept, 0.0) / (total + 1.0), 3)
        return "neutral", round(1.0 - conf, 3)

    def _publish(self, state: CallState) -> None:
        f = state.findings.temperament
        label, conf = self.overall(state)
        state.findings.temperament = TemperamentFinding(
            label=label,
            confidence=conf,
            angry=self.ever_angry,
            anger_level=round(self.max_anger, 3),
            changes=f.changes,
        )
