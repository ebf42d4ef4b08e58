"""Sensitive numbers (PIPL Art 28): ID-card, bank-card and account numbers, SSNs.

`mask_segment(seg)` returns a copy of the segment with such numbers masked in the text and words
(`mask_meta(meta)` does the same for every string of a call's metadata),
whether written (6222 0202 …) or spoken digit by digit (六二二二…, four one one one…): every digit but
the last `keep_last` becomes `*`.  Phone numbers are kept (they are contact data, not financial data).
The detector adds a redaction prompt (CN-PI-01) when the agent reads a full number aloud.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from assist.coach.detectors.base import CallState, Detector, SegmentView
from assist.coach.numbers import digit_runs
from assist.coach.playbook import DEFAULT_LANGUAGE, Playbook, load_playbook
from assist.events import TranscriptSegment, Word

_SSN = re.compile(r"(?<![\d-])(\d{3})[- ](\d{2})[- ](\d{4})(?![\d-])")


@dataclass(frozen=True, slots=True)
class Masked:
    start: int
    end: int
    digits: str
    replacement: str


def _replacement(digits: str, keep: int, ch: str) -> str:
    keep = min(keep, max(0, len(digits) - 4))
    return ch * (len(digits) - keep) + (digits[-keep:] if keep else "")


def find_sensitive(text: str, pb: Playbook) -> list[Masked]:
    """Spans of `text` holding ID/card/account numbers under the playbook's rules."""
    cfg = pb.sensitive
    out: list[Masked] = []
    runs = digit_runs(text, min_len=min(cfg.keyword_min_digits, cfg.min_digits, 9))
    if not runs:
        return out
    kw_end = -1
    if cfg.keywords and any(len(r.digits) < cfg.min_digits for r in runs):
        hits = pb.phrases("sensitive:keywords").hits(pb.matcher.tokens(text))
        if hits:
            kw_end = min(h.start for h in hits)
    for run in runs:
        n = len(run.digits)
        chinese_mobile = n == 11 and run.digits[0] == "1" and pb.is_chinese
        if n >= cfg.min_digits or (
            kw_end >= 0 and run.start >= kw_end and n >= cfg.keyword_min_digits and not chinese_mobile
        ):
            out.append(Masked(run.start, run.end, run.digits, _replacement(run.digits, cfg.keep_last, cfg.mask_char)))
        elif cfg.ssn and n == 9 and (kw_end >= 0 or _SSN.fullmatch(text[run.start : run.end].strip())):
            out.append(Masked(run.start, run.end, run.digits, _replacement(run.digits, cfg.keep_last, cfg.mask_char)))
    return out


def _mask_text(text: str, spans: list[Masked]) -> str:
    for m in sorted(spans, key=lambda m: m.start, reverse=True):
        text = text[: m.start] + m.replacement + text[m.end :]
    return text


def _mask_words(words: list[Word], pb: Playbook) -> list[Word]:
    if not words:
        return words
    joined = ""
    bounds: list[tuple[int, int]] = []
    sep = "" if pb.is_chinese else " "
    for w in words:
        if joined:
            joined += sep
        bounds.append((len(joined), len(joined) + len(w.word)))
        joined += w.word
    spans = find_sensitive(joined, pb)
    if not spans:
        return words
    out = []
    for w, (s, e) in zip(words, bounds, strict=True):
        if any(s < m.end and e > m.start for m in spans):
            out.append(w.model_copy(update={"word": pb.sensitive.mask_char * max(1, len(w.word))}))
        else:
            out.append(w)
    return out


def mask_segment(seg: TranscriptSegment, playbook: Playbook | None = None) -> TranscriptSegment:
    """The segment with ID-card, bank-card, account numbers and SSNs masked (PIPL Art 28).

    Apply before storing or broadcasting.  Returns the same object when nothing needed masking.
    """
    pb = playbook or load_playbook(seg.language)
    spans = find_sensitive(seg.text, pb)
    words = _mask_words(seg.words, pb)
    if not spans and words is seg.words:
        return seg
    return seg.model_copy(update={"text": _mask_text(seg.text, spans), "words": words})


def mask_text(text: str, playbook: Playbook) -> str:
    """`text` with ID-card, bank-card and account numbers masked (all digits but the last `keep_last`)."""
    spans = find_sensitive(text, playbook)
    return _mask_text(text, spans) if spans else text


def mask_meta(meta: dict[str, Any], language: str | None = None) -> dict[str, Any]:
    """Call metadata (any JSON shape) with sensitive numbers masked in every string, and in every integer
    long enough to be one (written as the masked string), the way transcript text is masked.  Walked with
    a stack, never recursion; returns `meta` itself when nothing needed masking."""
    pb = load_playbook(language or DEFAULT_LANGUAGE)
    changed = False
    root: list[Any] = [meta]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        container, key = stack.pop()
        item = container[key]
        if isinstance(item, str) and any(c.isdigit() for c in item):
            masked = mask_text(item, pb)
        elif isinstance(item, int) and not isinstance(item, bool) and len(str(abs(item))) >= pb.sensitive.min_digits:
            masked = mask_text(str(item), pb)
        elif isinstance(item, dict):
            copy = dict(item)
            container[key] = copy
            stack.extend((copy, k) for k in copy)
            continue
        elif isinstance(item, list):
            copy_list = list(item)
            container[key] = copy_list
            stack.extend((copy_list, i) for i in range(len(copy_list)))
            continue
        else:
            continue
        if masked != item:
            container[key] = masked
            changed = True
    return root[0] if changed else meta


class SensitiveData(Detector):
    """Prompts the agent not to read full ID/card numbers aloud."""

    name = "sensitive"

    def _check(self, view: SegmentView, state: CallState) -> None:
        if view.masked_spans and view.speaker == "agent":
            cfg = state.pb.sensitive
            state.emit(
                "redaction",
                state.pb.text(cfg.text),
                severity=cfg.severity,
                audience="agent",
                rule=cfg.rule,
                segments=[view.seg.segment_id],
                quote=state.quote(view.text),
                once=f"redact:{view.seg.segment_id}",
            )

    def partial(self, view: SegmentView, state: CallState) -> None:
        self._check(view, state)

    def final(self, view: SegmentView, state: CallState) -> None:
        if view.masked_spans:
            state.findings.redactions += view.masked_spans
        self._check(view, state)
