"""The right data on the agent's screen and the console, without a browser: a call that was not transcribed
says so in its summary instead of listing every disclosure as missed; the demo's live call runs on its
scenario's clock (no off-hours alert in the evening); /healthz counts the demo's call; the console's call
info says which playbook coaches a call whose language has none; the summary form shows values and dates in
the page's language, and an untranscribed call says so in the sidebar and the console."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest_asyncio
from playwright.async_api import async_playwright, expect

from assist.events import CallEnded, CallStarted, Prompt
from assist.service.demo import demo_clock, load_demo_call, play_call
from assist.sync.finalize import finalize_from_findings
from assist.sync.summary import build_summary
from assist.web.browser.directory import fallback_playbook
from assist.web.browser.protocol import parse_server_message
from tests.conftest import Server, start_server
from tests.crm_fakes.harness import FINDINGS, SEGMENTS
from tests.support.ui import CHROMIUM, CHROMIUM_ARGS, add_users, password_of

CALL: dict[str, Any] = {
    "call_id": "c-untranscribed",
    "protocol": "twilio",
    "agent_id": "agent-7",
    "account_id": "501",
    "language": "zh-CN",
    "direction": "outbound",
    "started_at": "2026-11-28T02:00:00+00:00",
    "ended_at": "2026-11-28T02:03:05+00:00",
    "duration": 185.0,
    "meta": {},
}


def test_a_call_without_a_transcript_lists_no_missed_disclosures() -> None:
    heard = build_summary(CALL, FINDINGS, segments=SEGMENTS)
    assert heard.compliance.transcribed and heard.compliance.disclosures_missing  # the same findings, heard
    s = build_summary({**CALL, "transcribed": False}, FINDINGS, segments=SEGMENTS)
    assert s.compliance.transcribed is False
    assert s.compliance.disclosures_missing == [] and s.compliance.disclosures == []
    assert "未转写" in s.narrative and "未完成的告知事项" not in s.narrative
    assert build_summary({**CALL, "transcribed": 0}, FINDINGS).compliance.transcribed is False  # a raw SQLite row
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


async def _sign_in(browser: Any, server: Server, name: str, path: str, lang: str) -> Any:
    page = await (await browser.new_context(viewport={"width": 1200, "height": 900})).new_page()
    await page.goto(f"{server.url}/login?lang={lang}")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", password_of(name))
    await page.click("button[type=submit]")
    await page.wait_for_url(server.url + path)
    await expect(page.locator("#conn")).to_have_attribute("data-state", "open")
    return page


async def test_summary_form_and_console_for_calls_heard_and_not(server: Server) -> None:
    await add_users(server, ("agent-a", "agent", "east"), ("sup-east", "supervisor", "east"))
    hub = server.ctx.hub
    findings = {
        **FINDINGS,
        "outcome": "promise_to_pay",
        "willingness": "high",
        "promise": {"amount": 8000, "date": "2026-12-18"},
        "temperament": {"label": "neutral", "angry": True},
    }
    for call_id, heard in (("heard", True), ("unheard", False)):
        hub.publish(CallStarted(call_id=call_id, protocol="test", agent_id="agent-a", transcribed=heard))
        hub.publish(CallEnded(call_id=call_id, duration=60.0))
        await hub.drain()
        await finalize_from_findings(server.ctx.db, call_id, findings, [], datetime.now(UTC))
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        agent = await _sign_in(browser, server, "agent-a", "/agent", "zh-CN")
        await agent.goto(server.url + "/agent?call=heard")
        await expect(agent.locator("#f-outcome")).to_have_value("promise_to_pay", timeout=10000)
        await expect(agent.locator("#f-promise_date")).to_have_value("2026-12-18")
        await expect(agent.locator("#summary .date-hint")).to_have_text("2026年12月18日")
        await expect(agent.locator("#f-willingness option:checked")).to_have_text("较强")
        await expect(agent.locator("#f-temperament")).to_have_text("情绪激动")  # not "平稳 · 情绪激动"
        await expect(agent.locator("#summary .compliance")).to_contain_text("未告知 1 项")
        await expect(agent.locator("#untranscribed-note")).to_be_hidden()
        await agent.select_option("#lang", "en-US")
        await expect(agent.locator("#summary .date-hint")).to_have_text("Dec 18, 2026")
        await expect(agent.locator("#f-willingness option:checked")).to_have_text("High")
        await agent.goto(server.url + "/agent?call=unheard")
        await expect(agent.locator("#summary .compliance.unknown")).to_contain_text("not transcribed", timeout=10000)
        await expect(agent.locator("#checklist")).to_contain_text("not transcribed")
        await expect(agent.locator("#untranscribed-note")).to_have_text(
            "This call is not transcribed: disclosures and wording are not checked"
        )
        sup = await _sign_in(browser, server, "sup-east", "/supervisor", "zh-CN")
        row = sup.locator("#recent tr[data-call-id='unheard']")
        await expect(row.locator("td.outcome")).to_have_text("未转写")
        await expect(sup.locator("#recent tr[data-call-id='heard'] td.outcome")).to_have_text("承诺还款")
        # no CRM configured: said once, quietly, above the table
        await expect(sup.locator("#crm-note")).to_be_visible()
        await expect(row.locator(".delivery-status")).to_have_text("—")
        await row.click()
        await expect(sup.locator("#follow-summary")).to_contain_text("未转写")
        await browser.close()


async def test_a_starting_call_says_which_playbook_coaches_it(server: Server) -> None:
    """The call_started event message carries the call as the pages show it: a ko-KR call is coached with the
    zh-CN playbook, and the console's live row can say so without another snapshot."""
    from tests.support.ui import WsClient, signed_in

    await add_users(server, ("agent-k", "agent", "east"), ("sup-k", "supervisor", "east"))
    session = await signed_in(server, "sup-k")
    ws = WsClient(session, server)
    try:
        await ws.open()
        server.ctx.hub.publish(CallStarted(call_id="ko-2", protocol="test", agent_id="agent-k", language="ko-KR"))
        msg = await ws.wait_for(lambda m: m["type"] == "event" and m["event"]["type"] == "call_started")
        assert msg["call"]["call_id"] == "ko-2" and msg["call"]["fallback_playbook"] == "zh-CN"
        server.ctx.hub.publish(CallStarted(call_id="zh-2", protocol="test", agent_id="agent-k", language="zh-CN"))
        msg = await ws.wait_for(lambda m: m["type"] == "event" and m["event"]["call_id"] == "zh-2")
        assert msg["call"]["fallback_playbook"] is None
        parse_server_message(msg)
    finally:
        await ws.close()
        await session.close()
