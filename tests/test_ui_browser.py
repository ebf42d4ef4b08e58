"""The agent sidebar and the supervisor console in a real browser (Debian's Chromium, headless) against a real
server on loopback, with a real call: the simulator streams the test audio (call8k, Korean speech) over
Twilio Media Streams at real-time pace, vosk recognises it, and the service's pipeline (the coach and the CRM
sync, where wired) handles it like any call.

Prompts: Korean speech gives the zh-CN playbook nothing to tick or warn about, so the checklist and the
compliance warning come from the real coach (assist.coach CallCoach, zh-CN playbook) run over a replayed zh-CN
collection call (assist/service/demo_data/zh-CN-demo-call.jsonl), its prompts published into the running server's
hub under the live call's id — account card, checklist ticks, a compliance warning, temperament, risk, promise,
plan.  Prompts the wired coach makes for the Korean call itself show up too and are counted.
The summary after the call is the one the wired sync drafted at call end (or, without that wiring,
assist.sync's finalize_from_findings run on the replayed call's findings); a CRM target that cannot be reached
keeps it undelivered, so the deadline countdown is on screen.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from assist.events import Prompt
from assist.service.demo import LocalCoach, load_demo_call, timeline
from assist.stream.simulate import simulate
from assist.sync.finalize import finalize_from_findings
from assist.web.browser.directory import is_alert
from tests.conftest import CallAudio, Server, start_server, wait_for
from tests.support.ui import CHROMIUM, CHROMIUM_ARGS, add_users, browser_hub, password_of

ROOT = Path(__file__).parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CALL = "call-e2e"
PAGE_ERRORS: dict[int, list[str]] = {}  # uncaught script errors of each page
STATE_JS = """() => ({
  finals: [...document.querySelectorAll('#transcript .seg:not(.partial)')].map(e => e.dataset.segmentId),
  prompts: [...document.querySelectorAll('[data-prompt-id]:not(#now)')].map(e => e.dataset.promptId),
  now: document.querySelector('#now') && document.querySelector('#now').dataset.promptId,
  checked: [...document.querySelectorAll('#checklist li.done')].map(e => e.dataset.key),
  messages: [...document.querySelectorAll('#messages .message')].map(e => e.dataset.messageId),
  total: document.querySelector('#account .total') && document.querySelector('#account .total').textContent,
})"""


@pytest_asyncio.fixture
async def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Server]:
    # one CRM target that never answers: the summary stays undelivered, its deadline on screen
    monkeypatch.setenv("ASSIST_SYNC_TARGETS", "webhook")
    monkeypatch.setenv("ASSIST_SYNC_WEBHOOK_URL", "http://127.0.0.1:9/crm")
    monkeypatch.setenv("ASSIST_SYNC_WEBHOOK_SECRET", "ui-test-secret")
    runner, srv = await start_server(tmp_path)
    await add_users(srv, ("agent-7", "agent", "east"), ("agent-8", "agent", "east"), ("sup-1", "supervisor", "east"))
    yield srv
    await runner.cleanup()


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        await b.close()


async def sign_in(
    browser: Browser, server: Server, name: str, page_path: str, viewport: dict[str, int]
) -> tuple[BrowserContext, Page]:
    ctx = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    page = await ctx.new_page()
    errors = PAGE_ERRORS.setdefault(id(page), [])
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(server.url + page_path)
    assert "/login?next=" in page.url  # not signed in yet: sent to the sign-in page
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", password_of(name))
    await page.click("button[type=submit]")
    await page.wait_for_url(server.url + page_path)
    await expect(page.locator("#conn")).to_have_attribute("data-state", "open")
    return ctx, page


def coach_prompts(call_id: str) -> tuple[list[Any], Any]:
    """The real coach's prompts and findings for the replayed zh-CN call, under `call_id`."""
    demo = load_demo_call()
    coach = LocalCoach(call_id, demo)
    prompts = coach.start()
    for t, seg in timeline(call_id, demo):
        prompts += coach.segment(t, seg)
    prompts += coach.end()
    return prompts, coach.findings()


async def test_agent_and_supervisor_on_a_live_call(server: Server, browser: Browser, call8k: CallAudio) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    _, agent = await sign_in(browser, server, "agent-7", "/agent", {"width": 420, "height": 1300})
    _, sup = await sign_in(browser, server, "sup-1", "/supervisor", {"width": 1400, "height": 1000})
    await expect(agent.locator("#idle")).to_be_visible()

    # a zh-CN call (the home market's default language); the one test model recognises the Korean speech
    sim = asyncio.create_task(
        simulate(call8k.path, "twilio", server.addr, agent="agent-7", account="MH-DEMO-0001", fast=False, call_id=CALL)
    )
    hub = server.ctx.hub
    directory = browser_hub(server).directory
    await wait_for(lambda: CALL in directory.live, timeout=15)
    # the live transcript: recognised speech shows up, partials faint, then finals
    await expect(agent.locator("#call-status")).to_have_attribute("data-state", "live")
    await expect(agent.locator("#transcript .seg.customer:not(.partial)").first).to_be_visible(timeout=20000)

    prompts, findings = coach_prompts(CALL)
    # the first part of the call: up to the compliance warning (the recording notice not yet given)
    cut = next(
        i for i, p in enumerate(prompts) if p.kind == "disclosure" and p.data["checklist"]["recording_notice"]["done"]
    )
    for p in prompts[:cut]:
        hub.publish(p.model_copy(update={"created_at": datetime.now(UTC)}))
    await hub.drain()
    critical = next(p for p in prompts if p.kind == "compliance")
    warning = agent.locator(f"#now[data-prompt-id='{critical.prompt_id}']")  # the now card: the warning
    await expect(warning).to_be_visible()
    await expect(warning).to_contain_text("CN-ABUSE-01")
    await expect(agent.locator("#checklist li.done[data-key='identity']")).to_be_visible()
    await expect(agent.locator("#checklist li.todo[data-key='recording_notice']")).to_be_visible()
    await expect(agent.locator("#account .total")).to_have_text("¥19,200.00")
    # the rest of the call: the checklist ticks live
    for p in prompts[cut:]:
        hub.publish(p.model_copy(update={"created_at": datetime.now(UTC)}))
    await expect(agent.locator("#checklist li.done[data-key='recording_notice']")).to_be_visible()
    await expect(agent.locator("#checklist li.done")).to_have_count(7)
    await expect(agent.locator("#temper-head .badge")).to_have_count(1)  # one label, never two
    await expect(agent.locator("#temper-head .badge")).to_be_visible()
    await expect(agent.locator("#promise .plans li")).to_have_count(4)
    await expect(warning).to_be_visible()  # still the most important thing
    # in the prompts tab, quieter prompts are ordered by severity
    severities = await agent.locator("#prompts .prompt").evaluate_all(
        "els => els.map(e => [...e.classList].find(c => c.startsWith('sev-')))"
    )
    rank = {"sev-critical": 0, "sev-high": 1, "sev-medium": 2, "sev-info": 3}
    assert severities and [rank[s] for s in severities] == sorted(rank[s] for s in severities)

    # the supervisor sees the call and its alerts, follows it and messages the agent
    row = sup.locator(f"#live tr[data-call-id='{CALL}']")
    await expect(row).to_contain_text("agent-7")
    await expect(row).to_contain_text("M2")
    open_alerts = row.locator(".count-badge")
    await hub.drain()
    alerts = [p for p in (Prompt.model_validate(d) for d in await server.ctx.store.prompts(CALL)) if is_alert(p)]
    assert critical.prompt_id in {p.prompt_id for p in alerts}
    await expect(open_alerts).to_have_text(str(len(alerts)))
    await expect(sup.locator(f"#alerts li[data-prompt-id='{critical.prompt_id}']")).to_contain_text("CN-ABUSE-01")
    await row.click()
    await expect(sup.locator("#follow-transcript .seg").first).to_be_visible()
    await expect(sup.locator(f"#follow-prompts li[data-prompt-id='{critical.prompt_id}']")).to_be_visible()
    await sup.fill("#message-text", "注意用语，不要提单位，先道歉")
    await sup.click("#message-send")
    await expect(agent.locator("#messages .message")).to_contain_text("注意用语，不要提单位，先道歉")
    await expect(sup.locator("#follow-messages li")).to_contain_text("注意用语")
    await sup.locator(f"#alerts li[data-prompt-id='{critical.prompt_id}'] button.ack").click()
    await expect(sup.locator(f"#alerts li[data-prompt-id='{critical.prompt_id}'] .acked")).to_contain_text("sup-1")
    await expect(open_alerts).to_have_text(str(len(alerts) - 1))

    await agent.screenshot(path=str(ARTIFACTS / "sidebar-live.png"), full_page=True)
    await sup.screenshot(path=str(ARTIFACTS / "supervisor-live.png"), full_page=True)

    # a reload mid-call restores everything that was shown
    assert not sim.done(), "the call should still be live for the reload"
    before = await agent.evaluate(STATE_JS)
    assert before["finals"] and before["checked"] and before["messages"] and critical.prompt_id in before["prompts"]
    await agent.reload()
    await expect(agent.locator("#conn")).to_have_attribute("data-state", "open")
    await expect(agent.locator("#call-status")).to_have_attribute("data-state", "live")
    await expect(warning).to_be_visible()
    after = await agent.evaluate(STATE_JS)
    for key in ("finals", "prompts", "checked", "messages"):
        assert set(before[key]) <= set(after[key]), f"{key} lost by the reload"
        assert len(after[key]) == len(set(after[key])), f"{key} shown twice after the reload"
    assert after["total"] == before["total"] and after["now"] == before["now"] == critical.prompt_id

    # another agent of the same team may not open this call
    other_ctx, other = await sign_in(browser, server, "agent-8", "/agent", {"width": 420, "height": 800})
    res = await other.request.get(server.url + f"/ui/calls/{CALL}")
    assert res.status == 403 and (await res.json())["error"] == f"call {CALL} is not one of yours"
    await other.goto(server.url + f"/agent?call={CALL}")
    await expect(other.locator("#error")).to_be_visible()
    await expect(other.locator("#error .text")).to_contain_text(f"call {CALL} is not one of yours")
    await expect(other.locator("#transcript .seg")).to_have_count(0)
    await other_ctx.close()

    # after the call: the drafted summary to review, edit and submit, with its CRM state and deadline
    assert await sim == CALL
    await expect(agent.locator("#call-status")).to_have_attribute("data-state", "ended")
    await expect(agent.locator("#summary")).to_be_visible()
    await hub.drain()
    service = browser_hub(server).service
    if await service.get_draft(CALL) is None:  # no sync wiring: draft it as the wiring would
        await asyncio.sleep(2)
        if await service.get_draft(CALL) is None:
            await finalize_from_findings(server.ctx.db, CALL, findings, ["webhook"], datetime.now(UTC))
    draft = await service.get_draft(CALL)
    assert draft is not None
    await expect(agent.locator("#f-outcome")).to_have_value(draft.summary["outcome"], timeout=10000)
    await expect(agent.locator("#summary .state")).to_contain_text("草稿")
    await expect(agent.locator("#delivery .countdown")).to_contain_text(re.compile(r"距截止还有 (1:5\d:\d\d|2:00:00)"))
    await agent.fill("#f-agent_notes", "客户失业，已登记分期申请")
    await agent.click("#submit-summary")
    await expect(agent.locator("#summary .state")).to_contain_text("已提交")
    await expect(agent.locator("#f-agent_notes")).to_have_value("客户失业，已登记分期申请")
    await expect(agent.locator("#delivery .delivery-status")).to_have_text(re.compile("排队中|发送中"))
    await expect(agent.locator("#delivery .countdown")).to_contain_text(re.compile(r"距截止还有 (1:5\d:\d\d|2:00:00)"))
    stored = await server.ctx.db.fetchone("SELECT state, body FROM summaries WHERE call_id=?", (CALL,))
    assert stored is not None and stored["state"] == "submitted" and "客户失业，已登记分期申请" in stored["body"]
    recent = sup.locator(f"#recent tr[data-call-id='{CALL}']")
    await expect(recent.locator(".delivery-status")).to_have_text(re.compile("排队中|发送中"), timeout=10000)
    await expect(recent.locator(".deadline")).to_contain_text("距截止还有")

    await agent.screenshot(path=str(ARTIFACTS / "sidebar-summary.png"), full_page=True)
    await sup.screenshot(path=str(ARTIFACTS / "supervisor-after.png"), full_page=True)
    assert PAGE_ERRORS[id(agent)] == [] and PAGE_ERRORS[id(sup)] == []


async def test_language_switch_and_sign_out(server: Server, browser: Browser) -> None:
    _, sup = await sign_in(browser, server, "sup-1", "/supervisor", {"width": 1200, "height": 800})
    await expect(sup.locator("#live th").first).to_have_text("坐席")
    await sup.select_option("#lang", "en-US")
    await expect(sup.locator("#live th").first).to_have_text("Agent")
    await expect(sup.locator("#conn")).to_have_text("Connected")
    await sup.reload()
    await expect(sup.locator("#live td.empty")).to_have_text("No live calls")  # the choice is remembered
    await sup.click("form[action='/logout'] button")
    await sup.wait_for_url(re.compile(r"/login"))
    await expect(sup.locator("button[type=submit]")).to_have_text("Sign in")
    await sup.goto(server.url + "/supervisor")
    assert "/login?next=" in sup.url
