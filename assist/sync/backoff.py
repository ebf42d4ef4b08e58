"""When to try a failed delivery again: exponential backoff with full jitter, Retry-After honoured,
and one last attempt scheduled a safety margin before the deadline."""

from __future__ import annotations

import random
from email.utils import parsedate_to_datetime


def full_jitter(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """random(0, min(cap, base * 2^(attempt-1))) seconds; attempt counts from 1."""
    r = rng or random
    ceiling = min(cap, base * (2 ** max(0, min(attempt - 1, 62))))
    return r.uniform(0.0, ceiling)


def next_attempt_at(
    now: float,
    attempt: int,
    due_at: float,
    *,
    base: float,
    cap: float,
    safety_margin: float,
    retry_after: float | None = None,
    retry_after_max: float = 3600.0,
    rng: random.Random | None = None,
) -> float:
    """The time of the next attempt after failed attempt number `attempt`.

    A server's Retry-After wins (up to `retry_after_max`).  Otherwise full jitter, but never later than
    `due_at - safety_margin` while that point is still ahead, so every item gets a try just before its
    deadline; after it the plain backoff goes on (the item is then delivered late)."""
    if retry_after is not None:
        return now + max(0.0, min(retry_after, retry_after_max))
    t = now + full_jitter(attempt, base, cap, rng)
    last_chance = due_at - safety_margin
    if now < last_chance:
        t = min(t, last_chance)
    return t


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if unusable."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)
