"""The newcomer's path: every CLI option says what it is for; `assist user … --data-dir` works after the
sub-command; `assist replay … | head` ends quietly; `assist serve` prints the URLs to open (and the demo's
sign-in); a person at the other role's page gets a page that says why, in a real browser; a wrong password
keeps the name typed; a call in a language without a playbook says which playbook coaches it."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest_asyncio
from playwright.async_api import async_playwright, expect

from assist.cli import build_parser
from assist.events import CallStarted
from assist.users_cli import build_parser as build_user_parser
from tests.conftest import Server, start_server
from tests.support.ui import CHROMIUM, CHROMIUM_ARGS, add_users, password_of

ROOT = Path(__file__).parents[1]
ASSIST = [sys.executable, "-m", "assist.cli"]
DEMO = ROOT / "assist" / "service" / "demo_data" / "zh-CN-demo-call.jsonl"


def _parsers(p: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, p
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_cli_option_has_help() -> None:
    missing = []
    walked = 0
    for root in (build_parser(), build_user_parser()):
        for path, p in _parsers(root, root.prog):
            walked += 1
            for a in p._actions:
                if isinstance(a, argparse._SubParsersAction):  # each sub-command says what it does
                    said = {c.dest for c in a._choices_actions if (c.help or "").strip()}
                    missing += [f"{path} {name}" for name in a.choices if name not in said]
                    continue
                if isinstance(a, argparse._HelpAction):
                    continue
                if not a.help or not a.help.strip():
                    missing.append(f"{path} {'/'.join(a.option_strings) or a.dest}")
    assert walked >= 15  # serve, user (add, list, passwd, remove), simulate, model (3), outbox, accounts, replay
    assert missing == []


def _env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "ASSIST_DATA_DIR": str(tmp / "elsewhere"), "ASSIST_LOG_FORMAT": "json"}


def test_user_options_before_or_after_the_sub_command(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = _env(tmp_path)
    r = subprocess.run(
        [*ASSIST, "user", "add", "agent-9", "--role", "agent", "--data-dir", str(data), "--password", "pw-pw-pw-pw"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    r = subprocess.run(
        [*ASSIST, "user", "--data-dir", str(data), "list"], capture_output=True, text=True, env=env, timeout=60
    )
    assert r.returncode == 0 and r.stdout.startswith("agent-9\tagent"), r.stdout + r.stderr
    r = subprocess.run(
        [*ASSIST, "user", "list", "--data-dir", str(data)], capture_output=True, text=True, env=env, timeout=60
    )
    assert r.stdout.startswith("agent-9\tagent")
    assert (data / "assist.db").is_file() and not (tmp_path / "elsewhere" / "assist.db").exists()


def test_replay_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    # the reader is gone before the first line is written (as `| head` after its lines)
    proc = subprocess.Popen(
        [*ASSIST, "replay", "--json", str(DEMO)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(tmp_path)
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0 and "Error" not in err and "Traceback" not in err, err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_prints_the_urls_to_open(tmp_path: Path) -> None:
    port = _free_port()
    env = {**_env(tmp_path), "ASSIST_PORT": str(port), "ASSIST_RTP_PORTS": "", "ASSIST_AUDIOSOCKET_PORT": ""}
    proc = subprocess.Popen(
        [*ASSIST, "serve", "--demo", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert f"http://127.0.0.1:{port}/agent" in lines[0]
    assert f"http://127.0.0.1:{port}/supervisor" in lines[1]
    assert "demo-agent / demo-agent" in lines[2] and "demo-supervisor / demo-supervisor" in lines[2]


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    runner, srv = await start_server(tmp_path, vosk_model=None)
    await add_users(srv, ("agent-a", "agent", "east"))
    yield srv
    await runner.cleanup()


async def test_wrong_password_keeps_the_name_and_wrong_role_gets_a_page(server: Server) -> None:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await (await browser.new_context(viewport={"width": 460, "height": 900})).new_page()
        await page.goto(server.url + "/agent")
        await page.fill("input[name=name]", "agent-a")
        await page.fill("input[name=password]", "not-the-password")
        await page.click("button[type=submit]")
        await expect(page.locator("#login-error")).to_be_visible()
        await expect(page.locator("input[name=name]")).to_have_value("agent-a")
        await expect(page.locator("input[name=password]")).to_be_focused()
        await page.fill("input[name=password]", password_of("agent-a"))
        await page.click("button[type=submit]")
        await page.wait_for_url(server.url + "/agent")
        # the agent opens the console: a page that says why, with the way to their own page
        await page.goto(server.url + "/supervisor")
        await expect(page.locator(".wrong-role")).to_contain_text(
            "needs the role supervisor; agent-a has the role agent"
        )
        await page.click(".wrong-role a.home")
        await page.wait_for_url(server.url + "/agent")
        await expect(page.locator("#conn")).to_have_attribute("data-state", "open")
        # a Korean call is coached with the zh-CN playbook: the sidebar says so
        server.ctx.hub.publish(CallStarted(call_id="ko-1", protocol="test", agent_id="agent-a", language="ko-KR"))
        await expect(page.locator("#call-status")).to_have_attribute("data-state", "live")
        note = page.locator("#playbook-note")
        await expect(note).to_be_visible()
        await expect(note).to_have_text("按 zh-CN 话术库辅导 — 没有 ko-KR 的话术库")
        await page.select_option("#lang", "en-US")
        await expect(note).to_have_text("coached with zh-CN playbook — no playbook for ko-KR")
        await browser.close()
