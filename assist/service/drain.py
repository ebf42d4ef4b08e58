"""Draining a node before it stops (SIGTERM to `assist serve`, or POST /api/admin/drain): docs/scale.md.

`begin_drain` turns the node away from new work: GET /readyz answers 503 at once (the load balancer takes the
node out of rotation), and after `ASSIST_DRAIN_ADMIT_SECONDS` (the time the balancer's health checks need to
notice; calls it still sends meanwhile are taken) a new call is refused in its protocol's own words with the
reason `draining` (`CallManager.draining`).  `drain_node` then waits, at most `ASSIST_DRAIN_SECONDS`, for the
calls in progress to end, their summaries to be written and the outbox worker to make the deliveries that are
due now; whatever is left of the outbox stays in the database for another node or the next start.  `assist
serve` then shuts down as it always does (the calls still live are ended and stored) and exits 0.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from assist import logs

if TYPE_CHECKING:
    from assist.service.context import Context

log = logs.get(__name__)
POLL_SECONDS = 0.2


@dataclass
class Drain:
    """Whether (since when, why) this node drains; `requested` is set when it begins."""

    since: float | None = None  # time.monotonic() when the drain began
    reason: str | None = None
    requested: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def active(self) -> bool:
        return self.since is not None

    def status(self) -> dict[str, object]:
        return {
            "draining": self.active,
            "reason": self.reason,
            "seconds": None if self.since is None else round(time.monotonic() - self.since, 1),
        }


def begin_drain(ctx: Context, reason: str) -> bool:
    """Stop taking new work: not ready, new calls and registrations refused.  False when already draining."""
    drain = ctx.drain
    if drain.active:
        return False
    drain.since = time.monotonic()
    drain.reason = reason
    admit = ctx.settings.drain_admit_seconds
    if admit > 0:
        # not ready at once, but the balancer sends new calls until its checks notice: take them meanwhile
        asyncio.get_running_loop().call_later(admit, _refuse_new_calls, ctx)
    else:
        _refuse_new_calls(ctx)
    drain.requested.set()
    log.warning(
        "draining: new calls are refused, calls in progress may finish",
        reason=reason,
        live_calls=len(ctx.calls.live),
        bound_seconds=ctx.settings.drain_seconds,
    )
    return True


def _refuse_new_calls(ctx: Context) -> None:
    ctx.calls.draining = True


async def drain_node(ctx: Context, stop: asyncio.Event) -> bool:
    """Wait until the calls in progress have ended, their summaries are written and the outbox deliveries due now
    are made, for at most `ASSIST_DRAIN_SECONDS` (or until `stop` is set: a second SIGTERM).  Then stop the
    outbox worker, letting deliveries in flight finish within what is left of the bound.  True when everything
    finished in time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ctx.settings.drain_seconds

    def left() -> float:
        return max(0.0, deadline - loop.time())

    async def until(done: Callable[[], Awaitable[bool]]) -> bool:
        while not await done():
            if stop.is_set() or left() <= 0:
                return False
            await asyncio.sleep(min(POLL_SECONDS, left()))
        return True

    async def no_live_calls() -> bool:
        return not ctx.calls.live

    async def nothing_due() -> bool:
        return await ctx.sync_worker.due() == 0

    async def refusing() -> bool:
        return ctx.calls.draining

    calls_done = await until(refusing) and await until(no_live_calls)
    summaries_done = calls_done and await _within(ctx.coach.settle(), left())
    delivered = summaries_done and await _within(ctx.hub.drain(), left()) and await until(nothing_due)
    await ctx.sync_worker.stop(grace=left())
    done = calls_done and summaries_done and delivered
    log_call = log.info if done else log.warning
    log_call(
        "drained" if done else "drain bound reached: ending what is left",
        calls_left=len(ctx.calls.live),
        summaries_written=summaries_done,
        deliveries_made=delivered,
        seconds=round(ctx.settings.drain_seconds - left(), 1),
    )
    return done


async def _within(work: Awaitable[None], seconds: float) -> bool:
    """Await `work` for at most `seconds`; whether it finished."""
    try:
        await asyncio.wait_for(work, timeout=max(seconds, 0.001))
    except TimeoutError:
        return False
    return True
