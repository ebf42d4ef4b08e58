"""The event hub alone, with fakes at its edges: persist steps, observers and subscribers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from assist.events import CallStarted, TranscriptSegment
from assist.service.hub import Hub


def _seg(n: int, call_id: str = "c1") -> TranscriptSegment:
    return TranscriptSegment(
        call_id=call_id,
        segment_id=f"{call_id}:{n}",
        index=n,
        speaker="agent",
        final=True,
        start=n,
        end=n + 1,
        text=f"line {n}",
    )


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    h = Hub()
    h.start()
    yield h
    await h.stop()


async def test_an_event_is_persisted_and_observed_before_any_subscriber_gets_it(hub: Hub) -> None:
    sub = hub.subscribe()
    seen: list[str] = []

    async def persist(ev: Any) -> None:
        await asyncio.sleep(0.01)  # a slow write still comes first
        seen.append(f"persist {ev.segment_id} (queued to subscriber: {sub.queue.qsize()})")

    def observe(ev: Any) -> None:
        seen.append(f"observe {ev.segment_id} (queued to subscriber: {sub.queue.qsize()})")

    hub.persist_steps.append(persist)
    hub.observers.append(observe)
    hub.publish(_seg(0))
    hub.publish(_seg(1))
    await hub.drain()
    assert seen == [
        "persist c1:0 (queued to subscriber: 0)",
        "observe c1:0 (queued to subscriber: 0)",
        "persist c1:1 (queued to subscriber: 1)",
        "observe c1:1 (queued to subscriber: 1)",
    ]
    assert [sub.queue.get_nowait().segment_id for _ in range(2)] == ["c1:0", "c1:1"]


async def test_a_failing_persist_step_or_observer_is_counted_and_the_event_still_goes_out(hub: Hub) -> None:
    async def broken(ev: Any) -> None:
        raise OSError("disk full")

    def bad_observer(ev: Any) -> None:
        raise KeyError("nope")

    hub.persist_steps.append(broken)
    hub.observers.append(bad_observer)
    sub = hub.subscribe()
    hub.publish(_seg(0))
    await hub.drain()
    assert hub.write_errors == 1
    assert sub.queue.get_nowait().segment_id == "c1:0"


async def test_a_subscriber_that_cannot_keep_up_is_dropped_and_the_others_get_everything(hub: Hub) -> None:
    async def write(ev: Any) -> None:
        await asyncio.sleep(0)  # a store write gives the loop to the listeners

    hub.persist_steps.append(write)
    slow = hub.subscribe()
    fast = hub.subscribe()
    got: list[str] = []

    async def consume() -> None:
        while len(got) < 2100:
            got.append((await fast.queue.get()).segment_id)

    reader = asyncio.create_task(consume())
    for n in range(2100):  # more than a subscriber's queue holds
        hub.publish(_seg(n))
    await hub.drain()
    await asyncio.wait_for(reader, 5)
    assert got == [f"c1:{n}" for n in range(2100)]
    assert slow.dropped and slow not in hub.subscribers and fast in hub.subscribers
    assert slow.queue.get_nowait() is None and slow.queue.empty()  # its pump is told to close


async def test_a_subscriber_gets_only_its_call_and_what_its_filter_lets_through(hub: Hub) -> None:
    one_call = hub.subscribe(call_id="c2")
    starts = hub.subscribe(filter=lambda ev: isinstance(ev, CallStarted))
    hub.publish(_seg(0, "c1"))
    hub.publish(CallStarted(call_id="c2", protocol="test", language="zh-CN"))
    hub.publish(_seg(0, "c2"))
    await hub.drain()
    assert [type(one_call.queue.get_nowait()).__name__ for _ in range(2)] == ["CallStarted", "TranscriptSegment"]
    assert starts.queue.qsize() == 1


async def test_drain_waits_for_every_published_event(hub: Hub) -> None:
    written: list[str] = []

    async def persist(ev: Any) -> None:
        await asyncio.sleep(0.002)
        written.append(ev.segment_id)

    hub.persist_steps.append(persist)
    for n in range(20):
        hub.publish(_seg(n))
    assert written == []  # publish never waits
    await hub.drain()
    assert written == [f"c1:{n}" for n in range(20)]
    assert hub.published == 20
