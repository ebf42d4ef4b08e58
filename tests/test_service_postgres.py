"""The whole service on PostgreSQL (ASSIST_DATABASE_URL): a call goes through the live path, its summary is
committed and reaches the CRM (a local Standard Webhooks receiver), the agent's edit goes out as an update;
and a service restarted after a crash mid-call summarises the call from what PostgreSQL kept."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from assist.events import TranscriptSegment
from assist.store.db import POSTGRESQL
from assist.stream.protocols.base import CallStart
from tests.conftest import Server, start_server, wait_for
from tests.crm_fakes.webhook import WebhookReceiver
from tests.support.databases import postgres_schema

SECRET = "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
ZH_CALL = [
    ("agent", "您好 我是 某某 消费金融 的 催收专员 工号 三零二 本次 通话 会 录音"),
    ("customer", "嗯 什么事"),
    ("agent", "您 在 我们 这里 的 借款 已经 逾期 四十五天 本金 两万 利息 一千二 违约金 三百"),
    ("customer", "我 下个月 五号 还 一千五"),
]


@pytest_asyncio.fixture
async def pg_url() -> AsyncIterator[str]:
    async with postgres_schema() as url:
        yield url


@pytest_asyncio.fixture
async def crm(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver(SECRET) as receiver:
        monkeypatch.setenv("ASSIST_SYNC_TARGETS", "webhook")
        monkeypatch.setenv("ASSIST_SYNC_WEBHOOK_URL", receiver.url + "/hook")
        monkeypatch.setenv("ASSIST_SYNC_WEBHOOK_SECRET", SECRET)
        monkeypatch.setenv("ASSIST_SYNC_POLL_SECONDS", "0.2")
        yield receiver


async def _live_call(server: Server, call_id: str, lines: list[tuple[str, str]]) -> None:
    """A zh-CN call whose segments enter where the recogniser's do; left live."""
    calls = server.ctx.calls
    call = calls.start_call(
        "twilio", CallStart(external_id=call_id, sample_rate=8000, agent_id="agent-2", language="zh-CN")
    )
    call.started = call.started.model_copy(update={"started_at": datetime.now(UTC) - timedelta(seconds=30)})
    t = 0.0
    for i, (speaker, text) in enumerate(lines):
        n = sum(1 for s, _ in lines[:i] if s == speaker)
        calls.sink(
            TranscriptSegment(
                call_id=call_id,
                segment_id=f"{call_id}:{speaker}:{n}",
                index=n,
                speaker=speaker,
                final=True,
                start=t,
                end=t + 3,
                text=text,
                language="zh-CN",
            )
        )
        t += 3.5
        await asyncio.sleep(0.02)
    await server.ctx.hub.drain()


async def _summary(server: Server, call_id: str, timeout: float = 20.0) -> dict[str, Any]:
    """The call's summary once the service has committed it (the coach finishes the call first)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status, summary = await server.get(f"/api/calls/{call_id}/summary")
        if status == 200:
            return dict(summary)
        assert asyncio.get_running_loop().time() < deadline, f"no summary of {call_id}: {status} {summary}"
        await asyncio.sleep(0.05)


def _delivered(crm: WebhookReceiver, call_id: str, version: int) -> bool:
    return any(s.get("call_id") == call_id and s.get("version") == version for s in crm.summaries.values())


async def test_a_call_and_its_summary_through_the_service_on_postgresql(
    tmp_path: Path, pg_url: str, crm: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSIST_SYNC_GRACE_MINUTES", "0")
    runner, server = await start_server(tmp_path, database_url=pg_url, database_pool_size=3)
    try:
        assert server.ctx.db.engine == POSTGRESQL
        await _live_call(server, "CApg1", ZH_CALL)
        await server.ctx.calls.end_call("CApg1", "hangup")
        summary = await _summary(server, "CApg1")
        assert summary["version"] == 1
        await wait_for(lambda: _delivered(crm, "CApg1", 1), timeout=20)
        status, call = await server.get("/api/calls/CApg1")
        assert status == 200 and call["status"] == "ended" and call["meta"]["summary"]["version"] == 1
        assert [s["speaker"] for s in call["transcript"]] == [s for s, _ in ZH_CALL]
        # the agent's edit goes out as an update of the same record
        status, edited = await server.post("/api/calls/CApg1/summary/submit", {"edits": {"agent_notes": "pg"}})
        assert status == 200 and edited["version"] == 2
        await wait_for(lambda: _delivered(crm, "CApg1", 2), timeout=20)
        assert crm.stored_per_summary() == {"sum_CApg1:v1": 1, "sum_CApg1:v2": 1}
        status, items = await server.get("/api/outbox?call_id=CApg1")
        assert status == 200 and sorted(i["status"] for i in items["items"]) == ["done", "done"]
    finally:
        await runner.cleanup()
    # what the service wrote is in PostgreSQL, where another node would read it
    rows = await _pg_rows(pg_url, "SELECT call_id, status FROM calls")
    assert rows == [{"call_id": "CApg1", "status": "ended"}]


async def test_a_restart_after_a_crash_mid_call_summarises_it_from_postgresql(
    tmp_path: Path, pg_url: str, crm: WebhookReceiver
) -> None:
    runner, server = await start_server(tmp_path / "node-a", database_url=pg_url)
    await _live_call(server, "CApg2", ZH_CALL[:1])
    server.ctx.calls.live.clear()  # the process dies: no CallEnded reaches the store
    server.ctx.coach.calls.clear()
    await runner.cleanup()
    runner, server = await start_server(tmp_path / "node-b", database_url=pg_url)  # another data dir: no SQLite
    try:
        _, call = await server.get("/api/calls/CApg2")
        status, summary = await server.get("/api/calls/CApg2/summary")
    finally:
        await runner.cleanup()
    assert call["status"] == "ended" and call["end_reason"] == "interrupted"
    assert status == 200 and "recording_notice" in summary["summary"]["compliance"]["disclosures_made"]
    assert not (tmp_path / "node-b" / "assist.db").exists()


async def _pg_rows(url: str, sql: str) -> list[dict[str, Any]]:
    from assist.store.db import open_database

    db = await open_database(url)
    try:
        return await db.fetchall(sql)
    finally:
        await db.close()
