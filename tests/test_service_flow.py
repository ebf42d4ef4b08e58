"""The whole service: a call comes in, the coach prompts, and at the end the summary reaches the CRM
(a local Standard Webhooks receiver).  Recognition runs on real Korean audio; the coach is driven
with a zh-CN transcript through the same path the recogniser's segments take."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from assist.events import TranscriptSegment
from assist.stream.protocols.base import CallStart
from assist.stream.simulate import simulate
from tests.conftest import CallAudio, start_server, wait_for
from tests.crm_fakes.webhook import WebhookReceiver
from tests.test_pipeline_e2e import Feed

SECRET = "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
ACCOUNT = {
    "id": "acct-zh-1",
    "name": "张伟",
    "principal": 20000,
    "interest": 1200,
    "penalty": 300,
    "total_due": 21500,
    "overdue_days": 45,
    "stage": "M2",
    "due_date": "2026-10-06",
    "currency": "CNY",
    "timezone": "Asia/Shanghai",
}


@pytest.fixture
async def crm() -> Any:
    async with WebhookReceiver(SECRET) as receiver:
        yield receiver


@pytest.fixture
def sync_env(monkeypatch: pytest.MonkeyPatch, crm: WebhookReceiver) -> None:
    monkeypatch.setenv("ASSIST_SYNC_TARGETS", "webhook")
    monkeypatch.setenv("ASSIST_SYNC_WEBHOOK_URL", crm.url + "/hook")
    monkeypatch.setenv("ASSIST_SYNC_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("ASSIST_SYNC_GRACE_MINUTES", "0")
    monkeypatch.setenv("ASSIST_SYNC_POLL_SECONDS", "0.2")


async def test_real_call_gets_account_card_and_summary_in_crm(
    tmp_path: Path, call8k: CallAudio, sync_env: None, crm: WebhookReceiver
) -> None:
    runner, server = await start_server(tmp_path)
    try:
        status, _ = await server.post("/api/accounts", ACCOUNT)
        assert status == 201
        feed = Feed()
        await feed.start(server)
        call_id = await simulate(
            call8k.path, "twilio", server.addr, fast=True, agent="agent-1", account=str(ACCOUNT["id"]), language="zh-CN"
        )
        await wait_for(lambda: feed.of(call_id, "call_ended"), timeout=60)
        await feed.stop()
        cards = [p for p in feed.of(call_id, "prompt") if p.kind == "account_card"]
        assert cards and cards[0].data["total_due"] == 21500
        # the summary was committed before call_ended was shown
        status, summary = await server.get(f"/api/calls/{call_id}/summary")
        assert status == 200 and summary["version"] == 1
        await wait_for(lambda: any(s.get("call_id") == call_id for s in crm.summaries.values()), timeout=20)
        stored = next(s for s in crm.summaries.values() if s.get("call_id") == call_id)
        assert stored["duration_seconds"] > 30 and stored["outcome"]
        status, items = await server.get(f"/api/outbox?call_id={call_id}")
        assert status == 200 and items["items"][0]["status"] == "done" and crm.duplicates == 0
        # the dialler may call this debtor again only within the rules: the call was recorded as a contact
        status, check = await server.get(f"/api/accounts/{ACCOUNT['id']}/dial-check")
        assert status == 200 and check["connected_today"] >= 1
    finally:
        await runner.cleanup()


ZH_CALL = [
    ("agent", "您好 我是 某某 消费金融 的 催收专员 工号 三零二 本次 通话 会 录音"),
    ("customer", "嗯 什么事"),
    ("agent", "您 在 我们 这里 的 借款 已经 逾期 四十五天 本金 两万 利息 一千二 违约金 三百"),
    ("customer", "我 现在 真的 没钱 我 身份证 号 是 110101199003074578 你们 查 吧"),
    ("agent", "你 再 不 还 我们 就 去 你 单位 找 你 领导 让 你 同事 都 知道"),
    ("customer", "你 这 是 威胁 我"),
]


async def test_zh_transcript_through_the_live_path(tmp_path: Path, sync_env: None, crm: WebhookReceiver) -> None:
    """Segments enter where the recogniser's do (the call manager's sink), so the coach, masking, the
    store, the feed and the CRM summary all see them as they would a recognised call."""
    runner, server = await start_server(tmp_path)
    try:
        await server.post("/api/accounts", ACCOUNT)
        feed = Feed()
        await feed.start(server)
        calls = server.ctx.calls
        call = calls.start_call(
            "twilio",
            CallStart(
                external_id="CAzh1",
                sample_rate=8000,
                agent_id="agent-2",
                account_id=str(ACCOUNT["id"]),
                language="zh-CN",
            ),
        )
        started = datetime.now(UTC) - timedelta(seconds=40)
        call.started = call.started.model_copy(update={"started_at": started})
        t = 0.0
        for i, (speaker, text) in enumerate(ZH_CALL):
            n = sum(1 for s, _ in ZH_CALL[:i] if s == speaker)
            seg = TranscriptSegment(
                call_id="CAzh1",
                segment_id=f"CAzh1:{speaker}:{n}",
                index=n,
                speaker=speaker,
                final=True,
                start=t,
                end=t + 3,
                text=text,
                language="zh-CN",
            )
            calls.sink(seg)
            t += 3.5
            await asyncio.sleep(0.05)
        await calls.end_call("CAzh1", "hangup")
        await wait_for(lambda: feed.of("CAzh1", "call_ended"), timeout=20)
        await feed.stop()

        prompts = feed.of("CAzh1", "prompt")
        threats = [p for p in prompts if p.kind == "compliance" and "单位" in p.evidence.quote]
        assert threats and threats[0].severity == "critical" and threats[0].audience == "both"
        assert threats[0].rule and threats[0].source
        assert any(p.kind == "disclosure" for p in prompts)
        # the ID number never reaches the feed or the store
        shown = [s.text for s in feed.of("CAzh1", "segment")]
        assert not any("110101199003074578" in x for x in shown)
        status, stored = await server.get("/api/calls/CAzh1")
        assert not any("110101199003074578" in s["text"] for s in stored["transcript"])
        assert any("4578" in s["text"] for s in stored["transcript"])  # masked, last digits kept
        await wait_for(lambda: any(s.get("call_id") == "CAzh1" for s in crm.summaries.values()), timeout=20)
        summary = next(s for s in crm.summaries.values() if s.get("call_id") == "CAzh1")
        kinds = {v["kind"] for v in summary["compliance"]["violations"]}
        assert "threat" in kinds
    finally:
        await runner.cleanup()


async def _call_with_recording_notice(server: Any, call_id: str) -> None:
    """A live zh-CN call whose agent has said the recording notice, stored."""
    server.ctx.calls.start_call("twilio", CallStart(external_id=call_id, sample_rate=8000, language="zh-CN"))
    server.ctx.calls.sink(
        TranscriptSegment(
            call_id=call_id,
            segment_id=f"{call_id}:agent:0",
            index=0,
            speaker="agent",
            final=True,
            start=0,
            end=2,
            text="您好 本次 通话 会 录音",
            language="zh-CN",
        )
    )
    await server.ctx.hub.drain()


async def _after_restart(tmp_path: Path, call_id: str) -> tuple[dict[str, Any], int, dict[str, Any]]:
    """Start the service again on the same data: the call, and the status and body of its summary."""
    runner, server = await start_server(tmp_path)
    try:
        _, call = await server.get(f"/api/calls/{call_id}")
        status, summary = await server.get(f"/api/calls/{call_id}/summary")
    finally:
        await runner.cleanup()
    return call, status, summary


async def test_crash_mid_call_still_summarises(tmp_path: Path, sync_env: None) -> None:
    """A call left 'live' by a crash is ended as interrupted and summarised from its stored transcript."""
    runner, server = await start_server(tmp_path)
    await _call_with_recording_notice(server, "CAcrash")
    # simulate the crash: the process dies without ending the call (no CallEnded reaches the store)
    server.ctx.calls.live.clear()
    server.ctx.coach.calls.clear()
    await runner.cleanup()
    call, status, summary = await _after_restart(tmp_path, "CAcrash")
    assert call["status"] == "ended" and call["end_reason"] == "interrupted"
    assert status == 200
    compliance = summary["summary"]["compliance"]
    assert "recording_notice" in compliance["disclosures_made"]  # re-judged from the stored transcript
    assert "amount_breakdown" in compliance["disclosures_missing"]


async def test_crash_between_call_end_and_summary_still_summarises(tmp_path: Path, sync_env: None) -> None:
    """The call's end is stored, then the process dies before the summary is written: the restart writes it,
    with the call's own end (not 'interrupted')."""
    runner, server = await start_server(tmp_path)
    await _call_with_recording_notice(server, "CAgap")
    server.ctx.coach.calls.clear()  # the summary step never runs: as if killed right after the end
    await server.ctx.calls.end_call("CAgap", "hangup")
    await server.ctx.hub.drain()
    status, call = await server.get("/api/calls/CAgap")
    assert call["status"] == "ended"
    status, _ = await server.get("/api/calls/CAgap/summary")
    assert status == 404, "no summary yet: this is the gap a crash falls into"
    await runner.cleanup()
    call, status, summary = await _after_restart(tmp_path, "CAgap")
    assert call["status"] == "ended" and call["end_reason"] == "hangup"
    assert status == 200
    assert "recording_notice" in summary["summary"]["compliance"]["disclosures_made"]


async def test_summary_api_errors(tmp_path: Path) -> None:
    runner, server = await start_server(tmp_path, vosk_model=None)
    try:
        status, body = await server.get("/api/calls/nope/summary")
        assert status == 404 and "nope" in body["error"]
        async with aiohttp.ClientSession() as s:
            async with s.patch(server.url + "/api/calls/nope/summary", json={"edits": {"outcome": "refused"}}) as r:
                assert r.status == 404 and "nope" in (await r.json())["error"]
            async with s.patch(
                server.url + "/api/calls/nope/summary", data=b"[1,2", headers={"Content-Type": "application/json"}
            ) as r:
                assert r.status == 400 and "not JSON" in (await r.json())["error"]
        status, body = await server.get("/api/outbox/999")
        assert status == 404 and "999" in body["error"]
        status, body = await server.get("/api/accounts/none/dial-check")
        assert status == 404 and "none" in body["error"]
        status, body = await server.post("/api/accounts", {"id": "x", "principal": "lots"})
        assert status == 400 and "principal" in body["error"]
    finally:
        await runner.cleanup()
