"""Bad input at the HTTP ingress and what slips past it (issue 15, defects 4 and 20).

Non-finite JSON numbers (NaN, Infinity, 1e999) are refused at every JSON API with a 400 that names the
field; a summary that cannot be written alerts supervisors (a prompt, a /healthz counter, an ERROR log
with the call id) instead of vanishing; a non-finite value that still reaches the summary or the call's
stored metadata is written as null with a note.  Through a real server on loopback with real SQLite.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import websockets
from structlog.testing import capture_logs

from assist.events import Prompt
from assist.stream.protocols.base import CallStart
from assist.stream.protocols.twilio import TwilioClient
from assist.sync.clock import ManualClock
from assist.sync.finalize import finalize_from_findings, submit_summary
from assist.web.browser.protocol import BadMessage, parse_client_message
from tests.conftest import Server, start_server, wait_for
from tests.crm_fakes.base import Fault
from tests.crm_fakes.harness import FINDINGS, SECRET, add_call, open_db, settings
from tests.crm_fakes.webhook import WebhookReceiver
from tests.test_sync_outbox import make_worker


@pytest_asyncio.fixture
async def srv(tmp_path: Path) -> AsyncIterator[Server]:
    runner, server = await start_server(tmp_path)
    yield server
    await runner.cleanup()


async def send_raw(server: Server, method: str, path: str, text: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, server.url + path, data=text, headers={"Content-Type": "application/json"}) as r,
    ):
        return r.status, await r.json(content_type=None)


@pytest.mark.parametrize("number", ["Infinity", "-Infinity", "NaN", "1e999"])
async def test_a_non_finite_number_in_call_meta_is_a_400_naming_the_field(srv: Server, number: str) -> None:
    status, body = await send_raw(srv, "POST", "/api/calls", f'{{"call_id": "c1", "meta": {{"score": {number}}}}}')
    assert status == 400, body
    assert "meta.score" in body["error"] and "non-finite" in body["error"]
    assert "c1" not in srv.ctx.calls.registrations


async def test_a_non_finite_number_in_an_update_is_a_400_naming_the_field(srv: Server) -> None:
    status, _ = await srv.post("/api/calls", {"call_id": "c2"})
    assert status in (200, 201)
    status, body = await send_raw(srv, "PUT", "/api/calls/c2", '{"meta": {"tags": [1, 2, NaN]}}')
    assert status == 400 and "meta.tags[2]" in body["error"], body


async def test_a_non_finite_number_in_twilio_custom_parameters_is_refused(srv: Server) -> None:
    tw = TwilioClient(custom_parameters={"score": math.inf})  # type: ignore[dict-item]
    async with websockets.connect(f"ws://{srv.addr}/twilio") as ws:
        await ws.send(tw.connected())
        await ws.send(tw.start())
        with pytest.raises(websockets.ConnectionClosed) as exc:
            await asyncio.wait_for(ws.recv(), 5)
    assert exc.value.rcvd is not None and exc.value.rcvd.code == 1007
    assert not srv.ctx.calls.live


async def test_a_non_finite_value_that_slips_in_is_summarised_as_null(srv: Server) -> None:
    srv.ctx.calls.start_call(
        "twilio", CallStart(external_id="CAinf", sample_rate=8000, language="zh-CN", meta={"score": math.inf, "ok": 1})
    )
    await srv.ctx.calls.end_call("CAinf")
    for _ in range(100):
        await srv.ctx.hub.drain()
        status, summary = await srv.get("/api/calls/CAinf/summary")
        if status == 200 or srv.ctx.coach.counters["summaries_failed"]:
            break
        await asyncio.sleep(0.1)
    assert status == 200, summary
    status, call = await srv.get("/api/calls/CAinf")
    assert status == 200 and call["meta"]["score"] is None and call["meta"]["ok"] == 1
    assert srv.ctx.coach.counters["summaries_failed"] == 0


async def test_a_summary_that_cannot_be_written_alerts(srv: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    services = srv.ctx.coach.on_findings
    assert services is not None

    async def broken(*args: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(srv.ctx.coach, "on_findings", broken)
    alerts = srv.ctx.hub.subscribe(filter=lambda ev: isinstance(ev, Prompt) and ev.kind == "summary_failed")
    srv.ctx.calls.start_call("twilio", CallStart(external_id="CAfail", sample_rate=8000, language="zh-CN"))
    with capture_logs() as logs:
        await srv.ctx.calls.end_call("CAfail")
        await wait_for(lambda: not alerts.queue.empty(), timeout=10)
    alert = alerts.queue.get_nowait()
    assert alert.call_id == "CAfail" and alert.audience == "supervisor" and alert.severity != "info"
    errors = [e for e in logs if e["log_level"] == "error" and e.get("call_id") == "CAfail"]
    assert errors and "summary" in errors[0]["event"]
    status, health = await srv.get("/healthz")
    assert health["counters"]["summaries_failed"] == 1


# ---------------------------------------------------------------------------------------- defect 20


@pytest.mark.parametrize("bad", [["x"], {"a": 1}, True, 1.5])
async def test_an_account_id_of_the_wrong_type_is_a_400_naming_the_field(srv: Server, bad: Any) -> None:
    status, body = await srv.post("/api/accounts", {"id": bad, "name": "x"})
    assert status == 400, body
    assert "account[0]" in body["error"] and "id" in body["error"]
    status, _ = await srv.get("/api/accounts/['x']")
    assert status == 404


async def test_a_numeric_account_id_is_still_taken_as_its_digits(srv: Server) -> None:
    status, body = await srv.post("/api/accounts", {"id": 1234567, "name": "x"})
    assert status == 201, body
    status, account = await srv.get("/api/accounts/1234567")
    assert status == 200 and account["id"] == "1234567"


async def test_a_delivered_outbox_row_has_no_last_error(database_url: str) -> None:
    clock = ManualClock()
    db = await open_db(database_url)
    try:
        async with WebhookReceiver(SECRET, now=clock.now) as rx:
            await add_call(db, "c1", ended_at=clock.now())
            await finalize_from_findings(db, "c1", FINDINGS, ["webhook"], clock.now(), settings=settings())
            await submit_summary(db, "c1", clock.now())
            rx.push("hook", Fault(status=503, body={"error": "down"}))
            worker = make_worker(db, rx, clock)
            await worker.run_once()
            row = await db.fetchone("SELECT * FROM outbox")
            assert row is not None and row["status"] == "pending" and row["last_error"]
            clock.advance(3600)
            assert await worker.run_once() == 1
            row = await db.fetchone("SELECT * FROM outbox")
            assert row is not None and row["status"] == "done"
            assert row["last_error"] is None and row["last_error_kind"] is None
            await worker.close()
    finally:
        await db.close()


def test_a_browser_message_with_a_non_finite_number_is_refused_naming_the_field() -> None:
    """The sidebar's summary edits reach the store too: the browser socket parses as strictly as the API."""
    with pytest.raises(BadMessage, match=r"edits\.promise_amount.*non-finite"):
        parse_client_message('{"type": "edit_summary", "call_id": "c1", "edits": {"promise_amount": NaN}}')
    with pytest.raises(BadMessage, match="not JSON"):
        parse_client_message("not json")
