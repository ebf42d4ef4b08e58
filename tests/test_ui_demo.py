"""Demo mode: the built-in zh-CN sample call plays through the service (the wired coach and sync, or the demo's
own coach without them) and a new user signing in as demo-agent / demo-supervisor sees the product working.
Writes its screenshots to test-artifacts/; with ASSIST_UPDATE_SCREENSHOTS=1 also to docs/ (sidebar.png,
supervisor.png), so an ordinary test run leaves the tracked files alone."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from playwright.async_api import Page, async_playwright, expect

from assist.service.demo import DEMO_USERS, load_demo_call, run_demo, timeline
from assist.store.users import UserStore
from tests.conftest import Server, start_server
from tests.support.ui import CHROMIUM, CHROMIUM_ARGS

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
    ctx = await browser.new_context(viewport=viewport)  # type: ignore[attr-defined]
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
        ("demo-agent", "agent", "demo"), ("demo-supervisor", "supervisor", "demo")]
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        (agent_name, _, agent_pw), (sup_name, _, sup_pw) = DEMO_USERS
        agent = await sign_in(browser, server.url, agent_name, agent_pw, {"width": 420, "height": 1500})
        sup = await sign_in(browser, server.url, sup_name, sup_pw, {"width": 1440, "height": 960})
        assert agent.url.endswith("/agent") and sup.url.endswith("/supervisor")

        await expect(agent.locator("#call-status")).to_have_attribute("data-state", "live", timeout=10000)
        await expect(agent.locator("#warnings")).to_contain_text("CN-ABUSE-01", timeout=30000)
        await expect(agent.locator("#checklist li.done").first).to_be_visible()
        row = sup.locator("#live tr.call-row").first
        await expect(row).to_contain_text("demo-agent")
        await row.click()
        await expect(sup.locator("#follow-transcript .seg").first).to_be_visible()
        await expect(agent.locator("#promise .promise-box.complete")).to_be_visible(timeout=30000)
        await expect(agent.locator("#call-status")).to_have_attribute("data-state", "live")
        for page, name in ((agent, "sidebar"), (sup, "supervisor")):
            shot = await page.screenshot(full_page=True)
            (ROOT / "test-artifacts" / f"demo-{name}.png").write_bytes(shot)
            if os.environ.get("ASSIST_UPDATE_SCREENSHOTS") == "1":
                (ROOT / "docs" / f"{name}.png").write_bytes(shot)

        await demo
        await expect(agent.locator("#call-status")).to_have_attribute("data-state", "ended")
        await expect(agent.locator("#f-outcome")).to_have_value("promise_to_pay", timeout=15000)
        await expect(sup.locator("#recent tr.recent-row").first).to_contain_text("demo-agent")
        (ROOT / "test-artifacts" / "demo-sidebar-summary.png").write_bytes(await agent.screenshot(full_page=True))
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

    app = create_app(Settings(host="127.0.0.1", port=0, audiosocket_port=None, rtp_ports=None, data_dir=tmp_path,
                              vosk_model=None, log_format="console"))
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
