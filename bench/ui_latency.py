"""UI latency: a prompt published into the hub (where the coach puts it, right after a segment leaves the
recogniser) until it is in the sidebar's DOM, with 1 and with N sidebars open.

    python bench/ui_latency.py --sidebars 1,20 --rounds 30            # prompts spread over the second
    python bench/ui_latency.py --sidebars 1,20 --rounds 30 --burst    # every call's prompt at once

A real server (this process, loopback) and Debian's Chromium (headless, Playwright): N agents each signed in
to their own sidebar, each with a live call.  Every round publishes one prompt per call (spread over the
round, or with --burst all at the same instant) on top of a stream of partial segments per call (5/s each,
as recognition makes them while people speak).  The publish time is the server's wall clock just before
`hub.publish`; the arrival time is the page's `performance.timeOrigin + performance.now()` when the prompt's
element was put in the DOM (client/js/dom.js markSeen).  Both clocks are this machine's.  Prints
p50/p95/p99/max per N as markdown; exits 1 if any prompt never reached its sidebar.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.async_api import async_playwright

from assist import logs
from assist.events import CallStarted, Prompt, TranscriptSegment
from bench.common import pct
from tests.conftest import start_server
from tests.support.ui import CHROMIUM, CHROMIUM_ARGS, add_users, password_of


async def run(n: int, rounds: int, interval: float, burst: bool, tmp: Path) -> dict[str, Any]:
    runner, server = await start_server(
        tmp / f"n{n}", vosk_model=None, audiosocket_port=None, rtp_ports=None, log_level="WARNING"
    )
    url = server.url
    agents = [f"bench-agent-{i}" for i in range(n)]
    await add_users(server, *((a, "agent", "bench") for a in agents))
    hub = server.ctx.hub
    for i, a in enumerate(agents):
        hub.publish(CallStarted(call_id=f"bench-{i}", protocol="bench", agent_id=a, account_id=f"acct-{i}"))
    await hub.drain()

    published: dict[str, float] = {}
    seen: dict[str, float] = {}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pages = []
        for a in agents:
            bctx = await browser.new_context(viewport={"width": 420, "height": 900})
            page = await bctx.new_page()
            await page.goto(url + "/login")
            await page.fill("input[name=name]", a)
            await page.fill("input[name=password]", password_of(a))
            await page.click("button[type=submit]")
            await page.wait_for_selector("#conn[data-state=open]")
            await page.wait_for_selector("#call-status[data-state=live]")
            pages.append(page)
        await asyncio.sleep(1.0)

        stop = asyncio.Event()

        async def partials() -> None:  # recognition's steady stream of partials on every call
            k = 0
            while not stop.is_set():
                for i in range(n):
                    cid = f"bench-{i}"
                    hub.publish(
                        TranscriptSegment(
                            call_id=cid,
                            segment_id=f"{cid}-s{k // 10}",
                            index=k // 10,
                            speaker="customer",
                            final=k % 10 == 9,
                            start=k * 0.2,
                            end=k * 0.2 + 0.2,
                            text="您好 我想问一下 还款的事情"[: 2 + k % 10],
                        )
                    )
                k += 1
                await asyncio.sleep(0.2)

        noise = asyncio.create_task(partials())
        for r in range(rounds):
            for i in range(n):
                prompt = Prompt(
                    call_id=f"bench-{i}",
                    kind="flag",
                    severity="medium",
                    audience="agent",
                    text=f"第 {r} 条提示：客户提到投诉，保持合规、如实记录。",
                )
                published[prompt.prompt_id] = time.time() * 1000
                hub.publish(prompt)
                if not burst:  # each call at its own moment within the round
                    await asyncio.sleep(interval / n)
            if burst:
                await asyncio.sleep(interval)
        await asyncio.sleep(1.0)
        stop.set()
        await noise
        for page in pages:
            seen.update(await page.evaluate("() => (window.__assist && window.__assist.seen) || {}"))
        await browser.close()
    await runner.cleanup()

    lat = [seen[pid] - t for pid, t in published.items() if pid in seen]
    return {
        "sidebars": n,
        "prompts": len(published),
        "received": len(lat),
        "p50": pct(lat, 50),
        "p95": pct(lat, 95),
        "p99": pct(lat, 99),
        "max": max(lat),
    }


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sidebars", default="1,20", help="comma-separated numbers of open sidebars")
    ap.add_argument("--rounds", type=int, default=40, help="prompts per call")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between a call's prompts")
    ap.add_argument(
        "--burst",
        action="store_true",
        help="publish every call's prompt at the same instant (worst case) instead of spread out",
    )
    ns = ap.parse_args()
    logs.configure("console", "WARNING")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in ns.sidebars.split(",")):
            rows.append(await run(n, ns.rounds, ns.interval, ns.burst, Path(tmp)))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"Chromium headless on the same machine; per call a prompt every {ns.interval} s "
        f"({'all calls at once' if ns.burst else 'calls spread out'}), {ns.rounds} each, partials 5/s\n"
    )
    print("| sidebars | prompts | in DOM | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['sidebars']} | {r['prompts']} | {r['received']} | {r['p50']:.1f} | {r['p95']:.1f} | "
            f"{r['p99']:.1f} | {r['max']:.1f} |"
        )
    return 0 if all(r["received"] == r["prompts"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
