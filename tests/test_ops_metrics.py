"""GET /metrics of a real server on loopback, parsed with prometheus_client's own parser, during and after real
calls: live calls and streams, decode lag, call-seconds and CPU, refusals by reason, the event-to-browser
histogram, the outbox and its deliveries; who may read it; and the Grafana dashboard's queries name only
metrics a real scrape has."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from assist.stream.protocols.twilio import TwilioClient
from assist.stream.simulate import simulate
from tests.conftest import CallAudio, Server, start_server, wait_for
from tests.support.ui import WsClient, add_users, signed_in

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "deploy" / "grafana" / "assist.json"
SECRET = "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _closed_port() -> int:
    """A loopback port nobody listens on (a CRM that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def crm_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSIST_SYNC_TARGETS", "webhook")
    monkeypatch.setenv("ASSIST_SYNC_WEBHOOK_URL", f"http://127.0.0.1:{_closed_port()}/hook")
    monkeypatch.setenv("ASSIST_SYNC_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("ASSIST_SYNC_GRACE_MINUTES", "0")
    monkeypatch.setenv("ASSIST_SYNC_POLL_SECONDS", "0.2")


async def scrape_text(server: Server, token: str | None = None) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as s, s.get(server.url + "/metrics", headers=headers) as r:
        assert r.status == 200, await r.text()
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return await r.text()


async def scrape(server: Server) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(await scrape_text(server)):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    assert key in samples, f"{name}{labels} not scraped; have {sorted({n for n, _ in samples})}"
    return samples[key]


async def _twilio_refused(server: Server) -> tuple[int | None, str]:
    """A new Twilio call, refused: its close code and reason."""
    async with websockets.connect(f"ws://{server.addr}/twilio") as ws:
        tw = TwilioClient()
        await ws.send(tw.connected())
        await ws.send(tw.start())
        await ws.send(tw.media("inbound", b"\xff" * 160))
        with pytest.raises(websockets.ConnectionClosed) as exc:
            for _ in range(100):
                await asyncio.wait_for(ws.recv(), 5)
    rcvd = exc.value.rcvd
    return (rcvd.code, rcvd.reason) if rcvd is not None else (None, "")


async def test_metrics_move_with_a_real_call(tmp_path: Path, call8k: CallAudio, crm_down: None) -> None:
    """One real call (Korean model, real-time pace) with an agent's sidebar open and a CRM that is down."""
    runner, server = await start_server(tmp_path, max_streams=2)
    try:
        await add_users(server, ("agent-1", "agent", "east"))
        browser = await signed_in(server, "agent-1")
        sidebar = WsClient(browser, server)
        await sidebar.open()
        before = await scrape(server)
        assert value(before, "assist_live_calls") == 0
        assert value(before, "assist_calls_refused_total", reason="capacity") == 0

        call = asyncio.create_task(
            simulate(call8k.path, "twilio", server.addr, agent="agent-1", account="acct-1", language="ko-KR")
        )
        await wait_for(lambda: len(server.ctx.engine.streams) == 2, timeout=30)
        await wait_for(lambda: server.ctx.calls.call_seconds() > 3.0, timeout=30)
        during = await scrape(server)
        assert value(during, "assist_live_calls") == 1
        assert value(during, "assist_live_streams") == 2
        assert value(during, "assist_decode_lag_seconds") > 0  # decodes are happening, each measured
        assert value(during, "assist_call_seconds_total") > 3.0
        assert value(during, "assist_decode_cpu_seconds_total") >= 0

        # both streams of the 2 admitted are busy: a second call is refused, counted by its reason
        code, reason = await _twilio_refused(server)
        assert code == 1013 and reason.startswith("at capacity"), (code, reason)
        refused = await scrape(server)
        assert value(refused, "assist_calls_refused_total", reason="capacity") == 1
        assert value(refused, "assist_calls_refused_total", reason="draining") == 0

        call_id = await call
        await wait_for(lambda: not server.ctx.calls.live, timeout=30)
        await sidebar.wait_for(lambda m: m["type"] == "event" and m["event"]["type"] == "call_ended", timeout=30)
        await wait_for(lambda: server.ctx.sync_worker.results[("webhook", "retry")] >= 1, timeout=30)
        after = await scrape(server)
        assert value(after, "assist_live_calls") == 0
        assert value(after, "assist_live_streams") == 0
        assert value(after, "assist_calls_started_total") == 1
        assert value(after, "assist_calls_ended_total") == 1
        ended = await server.ctx.store.get(call_id)
        assert ended is not None
        # the call's seconds are counted once (not per track), and cost CPU
        assert value(after, "assist_call_seconds_total") == pytest.approx(ended["duration"], abs=0.01)
        assert value(after, "assist_call_seconds_total") > value(during, "assist_call_seconds_total")
        assert value(after, "assist_decode_cpu_seconds_total") > 0
        assert value(after, "process_cpu_seconds_total") >= value(after, "assist_decode_cpu_seconds_total")
        # the sidebar got the call's segments: each observed from its creation to its send
        sent = len(sidebar.events("segment", call_id))
        assert sent > 0
        assert value(after, "assist_event_to_browser_seconds_count", type="segment") == sent
        assert value(after, "assist_event_to_browser_seconds_bucket", type="segment", le="+Inf") == sent
        # the summary waits in the outbox for the CRM that is down, and the attempt is counted
        assert value(after, "assist_outbox_depth") == 1
        assert (
            value(after, "assist_outbox_items", status="pending")
            + value(after, "assist_outbox_items", status="inflight")
            == 1
        )
        assert value(after, "assist_outbox_oldest_age_seconds") > 0
        assert value(after, "assist_outbox_deliveries_total", target="webhook", result="retry") >= 1
        assert value(after, "assist_outbox_deliveries_total", target="webhook", result="delivered") == 0
        assert value(after, "assist_draining") == 0
        await sidebar.close()
        await browser.close()
    finally:
        await runner.cleanup()


async def test_a_draining_refusal_is_counted_by_its_reason(tmp_path: Path) -> None:
    runner, server = await start_server(tmp_path, vosk_model=None, drain_admit_seconds=0)
    try:
        status, _ = await server.post("/api/admin/drain")
        assert status == 202
        code, reason = await _twilio_refused(server)
        assert code == 1013 and reason.startswith("draining"), (code, reason)
        status, body = await server.post("/api/calls", {"rtp": {"payload_type": 0}})
        assert status == 503 and body["error"].startswith("draining")
        samples = await scrape(server)
        assert value(samples, "assist_calls_refused_total", reason="draining") == 2
        assert value(samples, "assist_calls_refused_total", reason="capacity") == 0
        assert value(samples, "assist_draining") == 1
    finally:
        await runner.cleanup()


async def test_who_may_read_metrics(tmp_path: Path) -> None:
    """With an API token, /metrics takes it or the metrics token; nothing else."""
    runner, server = await start_server(tmp_path, vosk_model=None, api_token="api-secret", metrics_token="scrape")
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(server.url + "/metrics") as r:
                assert r.status == 401 and "missing Authorization" in (await r.json())["error"]
            async with s.get(server.url + "/metrics", headers={"Authorization": "Bearer nope"}) as r:
                assert r.status == 401 and "wrong token" in (await r.json())["error"]
        assert "assist_live_calls 0.0" in await scrape_text(server, "scrape")
        assert "assist_live_calls 0.0" in await scrape_text(server, "api-secret")
        # the metrics token is for scraping only, not the API
        status, _ = await server.get("/api/calls", headers={"Authorization": "Bearer scrape"})
        assert status == 401
    finally:
        await runner.cleanup()


async def test_each_app_has_its_own_registry(tmp_path: Path) -> None:
    """Two services in one process: a refusal on one is not counted on the other."""
    runner_a, a = await start_server(tmp_path / "a", vosk_model=None, drain_admit_seconds=0)
    runner_b, b = await start_server(tmp_path / "b", vosk_model=None)
    try:
        await a.post("/api/admin/drain")
        await _twilio_refused(a)
        assert value(await scrape(a), "assist_calls_refused_total", reason="draining") == 1
        assert value(await scrape(b), "assist_calls_refused_total", reason="draining") == 0
    finally:
        await runner_a.cleanup()
        await runner_b.cleanup()


# ---------------------------------------------------------------------------------------------- the dashboard

PROMQL_WORDS = {
    # functions, aggregations and keywords that may appear in the dashboard's expressions
    "rate",
    "irate",
    "increase",
    "sum",
    "max",
    "min",
    "avg",
    "count",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "histogram_quantile",
    "clamp_min",
    "max_over_time",
    "avg_over_time",
    "delta",
    "deriv",
    "topk",
    "vector",
    "and",
    "or",
    "unless",
    "offset",
    "bool",
    "le",
}


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads: identifiers outside label matchers, grouping clauses, strings and
    range selectors, that are not PromQL's own words or Grafana variables."""
    expr = re.sub(r'"[^"]*"', "", expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\$\w+", "", expr)  # Grafana variables ($__rate_interval)
    names = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr))
    return {n for n in names if n not in PROMQL_WORDS and not re.fullmatch(r"\d+[smhd]?", n)}


def dashboard_expressions() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    exprs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                exprs.append(node["expr"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(board)
    return exprs


def test_metric_names_are_read_from_expressions() -> None:
    assert metric_names('sum by (reason) (rate(assist_calls_refused_total{reason!="x"}[5m]))') == {
        "assist_calls_refused_total"
    }
    assert metric_names(
        "histogram_quantile(0.95, sum by (le) (rate(assist_event_to_browser_seconds_bucket[$__rate_interval])))"
    ) == {"assist_event_to_browser_seconds_bucket"}
    assert metric_names("rate(process_cpu_seconds_total[5m]) / clamp_min(rate(assist_call_seconds_total[5m]), 1)") == {
        "process_cpu_seconds_total",
        "assist_call_seconds_total",
    }


async def test_dashboard_queries_name_only_scraped_metrics(tmp_path: Path, call8k: CallAudio, crm_down: None) -> None:
    """Every metric a panel of deploy/grafana/assist.json queries is in a real scrape (after a call, with a
    sidebar open and a CRM target configured, so the histogram and the delivery counters have samples)."""
    runner, server = await start_server(tmp_path, vosk_model=None)
    try:
        await add_users(server, ("agent-1", "agent", "east"))
        browser = await signed_in(server, "agent-1")
        sidebar = WsClient(browser, server)
        await sidebar.open()
        call_id = await simulate(call8k.path, "twilio", server.addr, fast=True, agent="agent-1", language="ko-KR")
        await sidebar.wait_for(lambda m: m["type"] == "event" and m["event"]["type"] == "call_ended", timeout=30)
        await wait_for(lambda: server.ctx.sync_worker.results[("webhook", "retry")] >= 1, timeout=30)
        scraped = {name for name, _ in await scrape(server)}
        await sidebar.close()
        await browser.close()
        assert call_id
    finally:
        await runner.cleanup()
    exprs = dashboard_expressions()
    assert len(exprs) >= 8, "the dashboard has a panel for each group of metrics"
    used = set().union(*(metric_names(e) for e in exprs))
    missing = {name: [e for e in exprs if name in metric_names(e)] for name in used - scraped}
    assert not missing, f"queried but not exported: {missing}"
    # and the dashboard covers what operators need
    for name in (
        "assist_live_calls",
        "assist_decode_lag_seconds",
        "assist_calls_refused_total",
        "assist_event_to_browser_seconds_bucket",
        "assist_outbox_depth",
        "assist_outbox_deliveries_total",
        "assist_loop_stalls_total",
        "process_cpu_seconds_total",
        "assist_call_seconds_total",
        "assist_draining",
    ):
        assert name in used, f"no panel queries {name}"
