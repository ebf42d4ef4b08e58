"""JSON text for the store that SQLite's JSON functions can always read.

Python's `json.dumps` writes NaN and ±Infinity as bare words that are not JSON: SQLite's `json_patch` then
fails with "malformed JSON" on every later write to that row (a call's metadata, a summary's body).  The
API and the phone protocols refuse such numbers at ingress; whatever still slips in is written here as
null, and the caller is told which fields were nulled so it can note and log it.
"""

from __future__ import annotations

import json
import math
from typing import Any


def finite(value: Any) -> tuple[Any, list[str]]:
    """`value` with every non-finite float replaced by None, and the paths (`a.b[2]`) that were replaced.
    Containers are copied only where something changed; walked with a stack, never recursion."""
    nulled: list[str] = []
    root: list[Any] = [value]
    stack: list[tuple[Any, Any, str]] = [(root, 0, "")]  # (container, key, path)
    while stack:
        container, key, path = stack.pop()
        item = container[key]
        if isinstance(item, float) and not math.isfinite(item):
            container[key] = None
            nulled.append(path or "value")
        elif isinstance(item, dict):
            copy = dict(item)
            container[key] = copy
            stack.extend((copy, k, f"{path}.{k}" if path else str(k)) for k in copy)
        elif isinstance(item, list | tuple):
            copy_list = list(item)
            container[key] = copy_list
            stack.extend((copy_list, i, f"{path}[{i}]") for i in range(len(copy_list)))
    return root[0], sorted(nulled)


def dumps_finite(value: Any) -> tuple[str, list[str]]:
    """JSON text of `value` with non-finite numbers written as null; and the paths that were nulled."""
    clean, nulled = finite(value)
    return json.dumps(clean, ensure_ascii=False, allow_nan=False), nulled
