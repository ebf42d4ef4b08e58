"""The coach runner alone: the real coach between fakes of its edges (the hub's publish, the account lookup,
the summary writer)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from assist.accounts import Account, ContactHistory, parse_account
from assist.coach.findings import Findings
from assist.events import CallEnded, CallStarted, CallUpdated, Prompt, TranscriptSegment
from assist.service.coach_runner import CoachRunner


class Edges:
    """Fakes of what the runner talks to; `lookups` gates each account lookup until released."""

    def __init__(self) -> None:
        self.published: list[Any] = []
        self.looked_up: list[str | None] = []
        self.release = asyncio.Event()
        self.findings_seen: list[tuple[str, list[str]]] = []  # (call, event types published before the summary)
        self.summary_done = asyncio.Event()
        self.summary_fails = False

    def publish(self, ev: Any) -> None:
        self.published.append(ev)

    async def load_context(self, st: CallStarted) -> tuple[Account | None, ContactHistory | None]:
        self.looked_up.append(st.account_id)
        await self.release.wait()
        return parse_account({"id": st.account_id or "?", "name": "张伟", "principal": 5000}), None

    async def on_findings(self, st: CallStarted, ended: CallEnded, findings: Findings) -> None:
        self.findings_seen.append((st.call_id, [e.type for e in self.published]))
        await self.summary_done.wait()
        if self.summary_fails:
            raise OSError("database is locked")

    def types(self) -> list[str]:
        return [e.type for e in self.published]

    def segments(self) -> list[str]:
        return [e.segment_id for e in self.published if isinstance(e, TranscriptSegment)]


@pytest.fixture
async def edges() -> AsyncIterator[Edges]:
    yield Edges()


@pytest.fixture
async def runner(edges: Edges) -> AsyncIterator[CoachRunner]:
    r = CoachRunner(edges.publish, edges.load_context, edges.on_findings, tick_interval=60)
    r.start()
    yield r
    edges.release.set()
    edges.summary_done.set()
    await r.stop()


def _started(account_id: str = "A-1") -> CallStarted:
    return CallStarted(call_id="c1", protocol="test", agent_id="a-1", account_id=account_id, language="zh-CN")


def _seg(n: int, text: str = "您好 我是 客服", final: bool = True) -> TranscriptSegment:
    return TranscriptSegment(
        call_id="c1",
        segment_id=f"c1:agent:{n}",
        index=n,
        speaker="agent",
        final=final,
        start=2.0 * n,
        end=2.0 * n + 1.5,
        text=text,
    )


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_segments_that_arrive_before_the_coach_is_built_wait_in_order(runner: CoachRunner, edges: Edges) -> None:
    runner(_started())
    runner(_seg(0, "您好", final=False))
    runner(_seg(0))
    runner(_seg(1))
    await _settle()
    assert edges.types() == ["call_started"]  # nothing shown before the coach has judged it
    edges.release.set()
    await _settle()
    assert edges.segments() == ["c1:agent:0", "c1:agent:0", "c1:agent:1"]
    card = [e for e in edges.published if isinstance(e, Prompt) and e.kind == "account_card"]
    assert card and edges.published.index(card[0]) < edges.types().index("segment")  # the card comes first


async def test_an_account_change_mid_call_rebuilds_the_coach_without_repeating_anything(
    runner: CoachRunner, edges: Edges
) -> None:
    edges.release.set()
    runner(_started("A-1"))
    runner(_seg(0))
    await _settle()
    edges.release.clear()
    runner(CallUpdated(call_id="c1", account_id="A-2"))
    runner(_seg(1))  # waits for the new coach
    await _settle()
    assert edges.looked_up == ["A-1", "A-2"]
    assert edges.segments() == ["c1:agent:0"]
    assert runner.calls["c1"].coach is None and runner.calls["c1"].started.account_id == "A-2"
    edges.release.set()
    await _settle()
    assert edges.segments() == ["c1:agent:0", "c1:agent:1"]  # the first segment is not shown again
    cards = [e for e in edges.published if isinstance(e, Prompt) and e.kind == "account_card"]
    assert len(cards) == 2  # one card per account


@pytest.mark.parametrize("fails", [False, True])
async def test_the_summary_is_written_before_call_ended_is_published(
    runner: CoachRunner, edges: Edges, fails: bool
) -> None:
    edges.release.set()
    edges.summary_fails = fails
    runner(_started())
    runner(_seg(0))
    await _settle()
    runner(CallEnded(call_id="c1", reason="hangup", duration=3.0))
    await _settle()
    assert [call for call, _ in edges.findings_seen] == ["c1"]
    assert "call_ended" not in edges.types()  # held back while the summary is being written
    assert "c1" in runner.findings and "c1" not in runner.calls
    edges.summary_done.set()
    await _settle()
    assert edges.types()[-1] == "call_ended"  # published even when writing the summary failed
