"""bench/e2e_latency.py's pieces, and its whole pipeline once: one short call with one trigger word, streamed
as Twilio Media Streams at real time into a real server (vosk, the Korean test playbook through
playbook_dir), recognised, coached, and shown in a signed-in /agent sidebar in Chromium.  The prompt must
reach the DOM with every part of its latency measured and non-negative; how fast is the bench's business."""

from __future__ import annotations

import importlib.util
import math
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest_asyncio
from playwright.async_api import async_playwright

from assist.coach.playbook import use_playbook_dir
from tests.conftest import Server, start_server
from tests.support.ui import CHROMIUM, CHROMIUM_ARGS, add_users, password_of

ROOT = Path(__file__).parents[1]


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("e2e_latency", ROOT / "bench" / "e2e_latency.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["e2e_latency"] = mod  # dataclasses look their module up by name
    spec.loader.exec_module(mod)
    return mod


bench = _load_bench()


def test_trigger_call_places_each_word_on_the_timeline() -> None:
    call = bench.make_trigger_call(4, first="customer", variant=1)
    assert [t.speaker for t in call.triggers] == ["customer", "agent", "customer", "agent"]
    assert len(call.customer) == len(call.agent)
    chans = {"customer": np.frombuffer(call.customer, "<i2"), "agent": np.frombuffer(call.agent, "<i2")}
    word = bench._clip(bench.WORD, "customer")
    for tr in call.triggers:
        assert 0 < tr.word_start < tr.word_end < call.seconds
        pcm = chans[tr.speaker].astype(np.int64)
        inside = pcm[int(tr.word_start * bench.RATE) : int(tr.word_end * bench.RATE)]
        assert len(inside) == len(bench._clip(bench.WORD, tr.speaker))
        # the word is speech up to its last sample (trimmed), and the other channel is only hiss meanwhile
        assert abs(int(inside[-1])) > 100 or np.abs(inside[-40:]).max() > 300
        other = chans["agent" if tr.speaker == "customer" else "customer"]
        assert np.abs(other[int(tr.word_start * bench.RATE) : int(tr.word_end * bench.RATE)]).max() < 100
    assert len(word) > 0.2 * bench.RATE


def test_word_sent_at_is_the_frame_carrying_the_last_sample() -> None:
    sent = {k: 1000.0 + k for k in range(100)}  # frame k carries audio up to (k + 1) * 20 ms
    assert bench.word_sent_at(sent, 0.02) == 1000.0
    assert bench.word_sent_at(sent, 0.021) == 1001.0
    assert bench.word_sent_at(sent, 0.04) == 1001.0
    assert bench.word_sent_at(sent, 0.5) == 1024.0


def test_percentiles() -> None:
    assert bench.pct([3.0, 1.0, 2.0, 4.0], 50) == 2.0
    assert bench.pct([float(i) for i in range(1, 101)], 95) == 95.0
    assert math.isnan(bench.pct([], 95))


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    runner, srv = await start_server(tmp_path, playbook_dir=bench.PLAYBOOK_DIR)
    await add_users(srv, ("e2e-agent-0", "agent", "bench"))
    yield srv
    await runner.cleanup()
    use_playbook_dir(None)  # process-wide: later tests see the packaged playbooks only


async def test_one_trigger_word_reaches_the_sidebar_with_every_part_measured(server: Server) -> None:
    records: list[dict[str, Any]] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await bench.open_sidebar(browser, server.url, "e2e-agent-0", password_of("e2e-agent-0"))
            with bench.coach_probe(records.append):
                # variant 2: the agent says the word on its own (CONTEXTS[2]), the surest for a fresh server
                rows = await bench.run_round(server.url, ["e2e-agent-0"], 1, 1, lambda: records, [page], variant=2)
        finally:
            await browser.close()
    assert len(rows) == 1
    m = rows[0]
    assert m.speaker == "agent" and m.rule == "KO-TEST-FAMILY"
    assert m.recognised, f"the model did not recognise the trigger word: {records}"
    assert m.prompt_id is not None and m.fired_on in ("partial", "final")
    assert m.in_dom
    assert set(m.parts) == set(bench.PARTS)
    assert all(v >= 0 for v in m.parts.values()), m.parts
    assert m.first_partial_ms is not None and m.first_partial_ms >= 0
    assert m.total_ms is not None and math.isclose(m.total_ms, sum(m.parts.values()), abs_tol=1e-6)
