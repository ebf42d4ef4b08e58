"""Demo mode: the built-in zh-CN sample call plays through the service (the wired coach and sync, or the demo's
own coach without them) and a new user signing in as demo-agent / demo-supervisor sees the product working.
The sidebar is checked as the agent sees it: at 460x900, at 420x768 (docked beside the dialler on a
1366x768 screen) and in a whole 1366x768 window, the transcript's last turn, the "now" card, the account total and the checklist are inside
the viewport without scrolling.  Writes its screenshots to test-artifacts/; with ASSIST_UPDATE_SCREENSHOTS=1
also to docs/ (sidebar.png, supervisor.png), so an ordinary test run leaves the tracked files alone:

    ASSIST_UPDATE_SCREENSHOTS=1 .venv/bin/python -m pytest tests/test_ui_demo.py
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from playwright.async_api import Page, async_playwright, expect

from assist.service.demo import DEMO_USERS, load_demo_call, run_demo, timeline
from assist.store.users import UserStore
from tests.conftest import Server, start_server
from tests.support.ui import CHROMIUM, CHROMIUM_ARGS, in_viewport

ROOT = Path(__file__).parents[1]
SPEED = 3.0


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    runner, srv = await start_server(tmp_path, vosk_model=None)
    yield srv
    await runner.cleanup()


def test_demo_timeline() -> None:
    demo = load_demo_call()
    events = timeline("d1", demo)
    assert demo.language == "zh-CN" and len(demo.lines) >= 15
    finals = [s for _, s in events if s.final]
    assert [s.text for s in finals] == [line.text for line in demo.lines]
    assert [t for t, _ in events] == sorted(t for t, _ in events)
    for sid in {s.segment_id for _, s in events}:
        mine = [s for _, s in events if s.segment_id == sid]
        assert [s.final for s in mine] == [False, False, True]  # growing partials, then the final
        assert mine[0].text and mine[1].text.startswith(mine[0].text) and mine[2].text.startswith(mine[1].text)


async def sign_in(browser: object, url: str, name: str, password: str, viewport: dict[str, int]) -> Page:
    ctx = await browser.new_context(viewport=viewport, permissions=["clipboard-read", "clipboard-write"])  # type: ignore[attr-defined]
    page: Page = await ctx.new_page()
    await page.goto(url + "/login")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "open")
    return page


async def test_demo_shows_the_product_working(server: Server) -> None:
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    demo = asyncio.create_task(run_demo(server.ctx, speed=SPEED, loops=1))
    users = UserStore(server.ctx.db)
    for _ in range(100):
        if await users.get("demo-supervisor") is not None:
            break
        await asyncio.sleep(0.05)
    assert [(u.name, u.role, u.team) for u in await users.list_users()] == [
        ("demo-agent", "agent", "demo"),
        ("demo-supervisor", "supervisor", "demo"),
    ]
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        (agent_name, _, agent_pw), (sup_name, _, sup_pw) = DEMO_USERS
        agent = await sign_in(browser, server.url, agent_name, agent_pw, {"width": 460, "height": 900})
        sup = await sign_in(browser, server.url, sup_name, sup_pw, {"width": 1366, "height": 900})
        assert agent.url.endswith("/agent") and sup.url.endswith("/supervisor")
        errors: list[str] = []
        agent.on("pageerror", lambda e: errors.append(str(e)))
        sup.on("pageerror", lambda e: errors.append(str(e)))

        await expect(agent.locator("#call-status")).to_have_attribute("data-state", "live", timeout=10000)
        # the scenario's clock (10:30 in Shanghai): no off-hours alert whenever the demo runs
        now = agent.locator("#now")
        await expect(now).to_contain_text("CN-ABUSE-01", timeout=30000)
        await expect(now).to_have_class(re.compile(r"\bsev-critical\b"))
        await expect(agent.locator("#checklist li.done").first).to_be_visible()
        row = sup.locator("#live tr.call-row").first
        await expect(row).to_contain_text("demo-agent")
        # one severity word: the risk column says what the risk alert itself says
        risk_alert = sup.locator("#alerts li.kind-risk").first
        await expect(risk_alert).to_be_visible()
        await expect(row.locator("td.risk .badge")).to_have_text(
            (await risk_alert.locator(".tag").inner_text()).split(" · ")[0]
        )
        await row.click()
        await expect(sup.locator("#follow-transcript .seg").first).to_be_visible()
        assert not await agent.locator("#now[data-prompt-id] .tag").filter(has_text="拨打时间").count()

        # one screen for a person on the phone, at each size, without scrolling (mid-call: the call is live)
        for size in ({"width": 460, "height": 900}, {"width": 420, "height": 768}, {"width": 1366, "height": 768}):
            await agent.set_viewport_size(size)  # type: ignore[arg-type]
            await agent.wait_for_timeout(200)
            last = agent.locator("#transcript .seg").last
            for what in (last, now, agent.locator("#account .total"), agent.locator("#checklist")):
                assert await in_viewport(agent, what), f"{what} is not on screen at {size}: {await what.bounding_box()}"
            assert await in_viewport(agent, last, within=agent.locator("#transcript"))
            assert await agent.evaluate("document.scrollingElement.scrollHeight <= innerHeight + 1")
            await expect(agent.locator("#call-status")).to_have_attribute("data-state", "live")
            if size["height"] == 900:
                shot = await agent.screenshot()
                (ROOT / "test-artifacts" / "demo-sidebar.png").write_bytes(shot)
                if os.environ.get("ASSIST_UPDATE_SCREENSHOTS") == "1":
                    (ROOT / "docs" / "sidebar.png").write_bytes(shot)
        await expect(agent.locator("#temper-head .badge")).to_have_count(1)  # one temperament label
        shot = await sup.screenshot()
        (ROOT / "test-artifacts" / "demo-supervisor.png").write_bytes(shot)
        if os.environ.get("ASSIST_UPDATE_SCREENSHOTS") == "1":
            (ROOT / "docs" / "supervisor.png").write_bytes(shot)

        # keys: A acknowledges the now card and the next one comes up; C copies the suggested line of the
        # first card that has one (the de-escalation line for this angry customer)
        top = await now.get_attribute("data-prompt-id")
        await agent.keyboard.press("a")
        await expect(now).not_to_have_attribute("data-prompt-id", top or "")
        say = agent.locator("#now .say")
        for _ in range(6):
            if await say.count():
                break
            shown = await now.get_attribute("data-prompt-id")
            await agent.keyboard.press("a")
            await expect(now).not_to_have_attribute("data-prompt-id", shown or "")
        await agent.keyboard.press("c")
        expected = (await say.inner_text()).split("：", 1)[-1].strip()
        assert expected and (await agent.evaluate("navigator.clipboard.readText()")).strip() == expected
        await expect(agent.locator("#now button.copy")).to_contain_text("已复制")
        await expect(agent.locator(".keys")).to_contain_text("A")
        await agent.keyboard.press("2")
        await expect(agent.locator("#prompts")).to_be_visible()
        await agent.keyboard.press("1")
        await expect(agent.locator("#transcript")).to_be_visible()
        await expect(agent.locator("#promise .promise-box.complete")).to_have_count(1, timeout=30000)

        await demo
        await expect(agent.locator("#call-status")).to_have_attribute("data-state", "ended")
        await expect(agent.locator("#f-outcome")).to_have_value("promise_to_pay", timeout=15000)
        # the form speaks the page's language: a date as YYYY-MM-DD with its long form, willingness as a word
        await expect(agent.locator("#f-promise_date")).to_have_value(re.compile(r"^\d{4}-\d{2}-\d{2}$"))
        await expect(agent.locator("#summary .date-hint")).to_have_text(re.compile(r"^\d{4}年\d{1,2}月\d{1,2}日$"))
        options = await agent.locator("#f-willingness option").all_inner_texts()
        assert "较强" in options and "high" not in options
        await expect(agent.locator("#f-temperament")).not_to_be_empty()

        # the console: the ended call is marked, opens its summary, and its follow panel is read-only
        ended = sup.locator("#recent tr.recent-row").first
        await expect(ended).to_contain_text("demo-agent")
        await expect(ended.locator("td.outcome")).to_have_text("承诺还款", timeout=15000)
        await expect(ended.locator("td.promise")).not_to_have_text("-")
        await expect(sup.locator("#follow .ended-badge")).to_be_visible()
        await expect(sup.locator("#message-text")).to_be_disabled()
        await expect(sup.locator("#follow .read-only-note")).to_be_visible()
        await expect(sup.locator("#follow-summary")).to_contain_text("承诺还款")
        await expect(sup.locator("#alerts .group-head.ended")).to_be_visible()
        await expect(sup.locator("#alerts li.alert.is-ended").first).to_be_visible()
        (ROOT / "test-artifacts" / "demo-sidebar-summary.png").write_bytes(await agent.screenshot(full_page=True))
        (ROOT / "test-artifacts" / "demo-supervisor-ended.png").write_bytes(await sup.screenshot(full_page=True))
        assert errors == []
        await browser.close()

    calls = await server.ctx.store.list_calls(agent_id="demo-agent")
    assert len(calls) == 1 and calls[0]["status"] == "ended"
    kinds = {p["kind"] for p in await server.ctx.store.prompts(calls[0]["call_id"])}
    assert {"account_card", "disclosure", "compliance", "temperament", "promise"} <= kinds


async def test_install_demo_runs_with_the_service(tmp_path: Path) -> None:
    """`install_demo(app)` (what `assist serve --demo` does) plays calls while the service runs and stops
    cleanly with it: the call cut short by the shutdown is ended, not left live."""
    from aiohttp import web

    from assist.service.app import create_app
    from assist.service.context import CTX
    from assist.service.demo import install_demo
    from assist.settings import Settings

    app = create_app(
        Settings(
            host="127.0.0.1",
            port=0,
            audiosocket_port=None,
            rtp_ports=None,
            data_dir=tmp_path,
            vosk_model=None,
            log_format="console",
        )
    )
    install_demo(app, speed=40.0)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    ctx = app[CTX]
    try:
        for _ in range(300):
            if any(c["status"] == "ended" for c in await ctx.store.list_calls(agent_id="demo-agent")):
                break
            await asyncio.sleep(0.05)
        ended = [c for c in await ctx.store.list_calls(agent_id="demo-agent") if c["status"] == "ended"]
        assert ended and ended[0]["protocol"] == "demo"
        assert await UserStore(ctx.db).verify("demo-agent", "demo-agent") is not None
        await asyncio.sleep(1.0)  # the next call is under way
    finally:
        await runner.cleanup()
    assert ctx.demo is not None and ctx.demo.cancelled()
    from assist.store.calls import CallStore
    from assist.store.db import Database

    db = await Database(tmp_path / "assist.db").open()
    try:
        calls = await CallStore(db).list_calls(agent_id="demo-agent")
        assert len(calls) >= 2 and all(c["status"] == "ended" for c in calls)
        assert calls[0]["end_reason"] == "demo stopped"
    finally:
        await db.close()
