"""The right data on the agent's screen and the console, without a browser: a call that was not transcribed
says so in its summary instead of listing every disclosure as missed; the demo's live call runs on its
scenario's clock (no off-hours alert in the evening); /healthz counts the demo's call; the console's call
info says which playbook coaches a call whose language has none."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest_asyncio

from assist.events import Prompt
from assist.service.demo import demo_clock, load_demo_call, play_call
from assist.sync.summary import build_summary
from assist.web.browser.directory import fallback_playbook
from tests.conftest import Server, start_server
from tests.crm_fakes.harness import FINDINGS, SEGMENTS

CALL: dict[str, Any] = {
    "call_id": "c-untranscribed", "protocol": "twilio", "agent_id": "agent-7", "account_id": "501",
    "language": "zh-CN", "direction": "outbound", "started_at": "2026-11-28T02:00:00+00:00",
    "ended_at": "2026-11-28T02:03:05+00:00", "duration": 185.0, "meta": {},
}


def test_a_call_without_a_transcript_lists_no_missed_disclosures() -> None:
    heard = build_summary(CALL, FINDINGS, segments=SEGMENTS)
    assert heard.compliance.transcribed and heard.compliance.disclosures_missing  # the same findings, heard
    s = build_summary({**CALL, "transcribed": False}, FINDINGS, segments=SEGMENTS)
    assert s.compliance.transcribed is False
    assert s.compliance.disclosures_missing == [] and s.compliance.disclosures == []
    assert "未转写" in s.narrative and "未完成的告知事项" not in s.narrative
    en = build_summary({**CALL, "language": "en-US", "transcribed": False}, FINDINGS, segments=SEGMENTS)
    assert "not transcribed" in en.narrative and "Disclosures not made" not in en.narrative


def test_fallback_playbook() -> None:
    assert fallback_playbook("ko-KR") == "zh-CN"
    assert fallback_playbook("zh-CN") is None and fallback_playbook("en-GB") is None and fallback_playbook(None) is None


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    runner, srv = await start_server(tmp_path, vosk_model=None)
    yield srv
    await runner.cleanup()


async def test_demo_call_runs_on_its_scenario_clock(server: Server) -> None:
    demo = load_demo_call()
    scenario = demo_clock(demo)
    assert scenario.astimezone(scenario.tzinfo).strftime("%H:%M") == "10:30"
    task = asyncio.create_task(play_call(server.ctx, demo, speed=40.0, call_id="demo-clock"))
    try:
        for _ in range(200):  # while it plays, /healthz counts it
            _, health = await server.get("/healthz")
            if health["live_calls"] >= 1:
                break
            await asyncio.sleep(0.02)
        assert health["live_calls"] == 1
    finally:
        await task
    await server.ctx.hub.drain()
    row = await server.ctx.store.get("demo-clock")
    assert row is not None and row["transcribed"] is True
    assert datetime.fromisoformat(row["started_at"]) == scenario
    offset = row["meta"]["clock_offset"]
    assert abs(offset - (scenario - datetime.now(UTC)).total_seconds()) < 60
    prompts = [Prompt.model_validate(p) for p in await server.ctx.store.prompts("demo-clock")]
    # 10:30 in Shanghai is inside the calling hours whatever the server's clock says
    assert not [p for p in prompts if p.kind == "call_time" and p.severity != "info"]
    assert (await server.get("/healthz"))[1]["live_calls"] == 0
