"""The browser protocol on /ws against a real server: snapshots, who gets which live events, following a call,
acks, supervisor messages, reconnect without loss, the summary edit/submit through assist.sync, bad input.

Events are published into the running server's hub as the stream and the coach publish them (the coach is
not wired into the hub in this version of the service)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest_asyncio

from assist.events import CallEnded, CallStarted, Evidence, Prompt, TranscriptSegment
from assist.sync.finalize import finalize_from_findings
from assist.web.browser.protocol import parse_server_message
from tests.conftest import Server, start_server, wait_for
from tests.support.ui import WsClient, add_users, signed_in

PEOPLE = [
    ("agent-a", "agent", "east"),
    ("agent-b", "agent", "east"),
    ("agent-c", "agent", "west"),
    ("sup-east", "supervisor", "east"),
    ("sup-west", "supervisor", "west"),
    ("sup-all", "supervisor", None),
]


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    runner, srv = await start_server(tmp_path, vosk_model=None)
    await add_users(srv, *PEOPLE)
    yield srv
    await runner.cleanup()


def seg(call_id: str, n: int, speaker: str, text: str, final: bool = True) -> TranscriptSegment:
    return TranscriptSegment(
        call_id=call_id,
        segment_id=f"{call_id}-s{n}",
        index=n,
        speaker=speaker,
        final=final,
        start=n * 3.0,
        end=n * 3.0 + 2.5,
        text=text,
    )


def compliance(call_id: str) -> Prompt:
    return Prompt(
        call_id=call_id,
        kind="compliance",
        severity="critical",
        audience="both",
        text="以告知亲友/单位相威胁 — 不得向第三方透露或以此施压。",
        rule="CN-ABUSE-01",
        source="《互联网金融逾期债务催收自律公约（试行）》第16条",
        evidence=Evidence(segment_ids=[f"{call_id}-s1"], quote="我就告诉你单位"),
        data={"violation": "threat"},
    )


async def start_call(server: Server, call_id: str, agent: str) -> None:
    hub = server.ctx.hub
    hub.publish(CallStarted(call_id=call_id, protocol="test", agent_id=agent, account_id=f"acct-{call_id}"))
    hub.publish(Prompt(call_id=call_id, kind="account_card", text="card", data={"stage": "M2", "total_due": 19200}))
    await hub.drain()


async def test_agents_see_only_their_calls(server: Server) -> None:
    a, b = await signed_in(server, "agent-a"), await signed_in(server, "agent-b")
    try:
        wa, wb = WsClient(a, server), WsClient(b, server)
        snap = await wa.open()
        assert snap["user"]["name"] == "agent-a" and snap["live_calls"] == [] and snap["follow"] is None
        parse_server_message(snap)  # a valid Snapshot
        await wb.open()
        await start_call(server, "c1", "agent-a")
        hub = server.ctx.hub
        hub.publish(seg("c1", 0, "agent", "您好 我是明禾消费金融的客服", final=False))
        hub.publish(seg("c1", 0, "agent", "您好 我是明禾消费金融的客服专员"))
        hub.publish(Prompt(call_id="c1", kind="summary", audience="supervisor", text="for supervisors only"))
        hub.publish(compliance("c1"))
        await hub.drain()
        await wa.wait_for(
            lambda m: m["type"] == "event" and m["event"]["type"] == "prompt" and m["event"]["kind"] == "compliance"
        )
        assert [e["final"] for e in wa.events("segment")] == [False, True]
        assert {e["kind"] for e in wa.events("prompt")} == {"account_card", "compliance"}  # no supervisor-only
        for m in wa.messages:
            parse_server_message(m)
        assert wb.events() == []  # agent-b sees nothing of agent-a's call

        # opening another agent's call: refused over HTTP and on the socket
        async with b.get(server.url + "/ui/calls/c1") as r:
            assert r.status == 403 and (await r.json())["error"] == "call c1 is not one of yours"
        async with a.get(server.url + "/ui/calls/c1") as r:
            assert r.status == 200
            detail = await r.json()
            assert [s["text"] for s in detail["transcript"]] == ["您好 我是明禾消费金融的客服专员"]
            assert {p["kind"] for p in detail["prompts"]} == {"account_card", "compliance"}
        await wb.send({"type": "subscribe", "call_id": "c1"})
        err = await wb.wait_for(lambda m: m["type"] == "error")
        assert err["status"] == 403 and err["request"] == "subscribe" and err["call_id"] == "c1"
        await wa.close()
        await wb.close()
    finally:
        await a.close()
        await b.close()


async def test_supervisor_sees_the_team_and_follows_a_call(server: Server) -> None:
    east, west, everyone = [await signed_in(server, n) for n in ("sup-east", "sup-west", "sup-all")]
    try:
        we, ww, wall = WsClient(east, server), WsClient(west, server), WsClient(everyone, server)
        for w in (we, ww, wall):
            await w.open()
        await start_call(server, "c1", "agent-a")
        await start_call(server, "c2", "agent-c")
        server.ctx.hub.publish(seg("c1", 0, "customer", "喂 哪位"))
        server.ctx.hub.publish(compliance("c1"))
        await server.ctx.hub.drain()
        await we.wait_for(lambda m: m["type"] == "event" and m["event"].get("kind") == "compliance")
        assert {e["call_id"] for e in we.events("call_started")} == {"c1"}
        assert {e["call_id"] for e in ww.events("call_started")} == {"c2"}
        assert {e["call_id"] for e in wall.events("call_started")} == {"c1", "c2"}
        assert we.events("segment") == []  # transcripts only for the followed call

        n = len(we.messages)
        await we.send({"type": "subscribe", "call_id": "c1"})
        snap = await we.wait_for(lambda m: m["type"] == "snapshot" and m["reason"] == "subscribe", start=n)
        follow = snap["follow"]
        assert follow["call"]["agent_id"] == "agent-a"
        assert [s["text"] for s in follow["transcript"]] == ["喂 哪位"]
        assert {p["kind"] for p in follow["prompts"]} == {"account_card", "compliance"}
        rows = {r["call"]["call_id"]: r for r in snap["live_calls"]}
        assert set(rows) == {"c1"} and {p["kind"] for p in rows["c1"]["prompts"]} == {"account_card", "compliance"}
        server.ctx.hub.publish(seg("c1", 1, "agent", "您好", final=False))
        await server.ctx.hub.drain()
        await we.wait_for(lambda m: m["type"] == "event" and m["event"]["type"] == "segment")

        await ww.send({"type": "subscribe", "call_id": "c1"})
        err = await ww.wait_for(lambda m: m["type"] == "error")
        assert err["status"] == 403 and "not in your team" in err["message"]
        for w in (we, ww, wall):
            await w.close()
    finally:
        for s in (east, west, everyone):
            await s.close()


async def test_ack_and_message_then_reconnect_loses_nothing(server: Server) -> None:
    sup, agent, other = [await signed_in(server, n) for n in ("sup-east", "agent-a", "agent-b")]
    try:
        ws_sup, ws_agent, ws_other = WsClient(sup, server), WsClient(agent, server), WsClient(other, server)
        await start_call(server, "c1", "agent-a")
        warning = compliance("c1")
        server.ctx.hub.publish(warning)
        await server.ctx.hub.drain()
        snap = await ws_sup.open()
        assert [p["prompt_id"] for p in snap["live_calls"][0]["prompts"] if p["kind"] == "compliance"] == [
            warning.prompt_id
        ]
        await ws_agent.open()
        await ws_other.open()

        await ws_agent.send({"type": "ack_alert", "prompt_id": warning.prompt_id})
        err = await ws_agent.wait_for(lambda m: m["type"] == "error")
        assert err["status"] == 403 and err["message"] == "only supervisors acknowledge alerts"
        await ws_sup.send({"type": "ack_alert", "prompt_id": warning.prompt_id})
        ack = await ws_sup.wait_for(lambda m: m["type"] == "alert_ack")
        assert ack["by_user"] == "sup-east" and ack["call_id"] == "c1"
        await ws_sup.send({"type": "ack_alert", "prompt_id": "p_unknown"})
        assert (await ws_sup.wait_for(lambda m: m["type"] == "error"))["status"] == 404

        await ws_sup.send({"type": "send_message", "call_id": "c1", "text": "  请注意用语，不要提单位  "})
        got = await ws_agent.wait_for(lambda m: m["type"] == "supervisor_message")
        assert (
            got["text"] == "请注意用语，不要提单位" and got["from_user"] == "sup-east" and got["to_user"] == "agent-a"
        )
        await ws_sup.wait_for(lambda m: m["type"] == "supervisor_message")
        await ws_other.send({"type": "ping", "t": 1.5})
        assert (await ws_other.wait_for(lambda m: m["type"] == "pong"))["t"] == 1.5
        assert ws_other.of("supervisor_message") == []

        # a dropped connection: the new snapshot has everything shown before, nothing twice
        await ws_agent.close()
        server.ctx.hub.publish(seg("c1", 2, "customer", "你这是威胁我吗"))
        await server.ctx.hub.drain()
        again = WsClient(agent, server)
        snap = await again.open()
        follow = snap["follow"]
        assert follow["call"]["call_id"] == "c1"  # the agent's current call, unasked
        assert [m["text"] for m in follow["messages"]] == ["请注意用语，不要提单位"]
        assert [s["text"] for s in follow["transcript"]] == ["你这是威胁我吗"]
        ids = [p["prompt_id"] for p in follow["prompts"]]
        assert warning.prompt_id in ids and len(ids) == len(set(ids))
        sup_again = WsClient(sup, server)
        snap = await sup_again.open(call_id="c1")
        assert [a["prompt_id"] for a in snap["follow"]["acks"]] == [warning.prompt_id]
        assert [a["prompt_id"] for a in snap["live_calls"][0]["acks"]] == [warning.prompt_id]
        for w in (ws_sup, ws_other, again, sup_again):
            await w.close()
    finally:
        for s in (sup, agent, other):
            await s.close()


async def test_bad_messages_get_clear_errors(server: Server) -> None:
    agent = await signed_in(server, "agent-a")
    try:
        w = WsClient(agent, server)
        w.ws = await agent.ws_connect(server.url.replace("http", "ws") + "/ws")
        import asyncio

        w._task = asyncio.create_task(w._read())
        await w.send({"type": "ack_alert", "prompt_id": "x"})
        err = await w.wait_for(lambda m: m["type"] == "error")
        assert err["code"] == "hello_first"
        await w.send({"type": "hello"})
        await w.wait_for(lambda m: m["type"] == "snapshot")
        assert w.ws is not None
        await w.ws.send_str("not json")
        await w.send({"type": "dance"})
        await w.send({"type": "send_message", "call_id": "c1", "text": ""})
        await wait_for(lambda: len(w.of("error")) == 4, timeout=5)
        errors = [e["message"] for e in w.of("error")[1:]]
        assert errors[0].startswith("message is not JSON")
        assert errors[1].startswith("unknown message type 'dance'")
        assert errors[2] == "invalid send_message: text: String should have at least 1 character"
        await w.close()
    finally:
        await agent.close()


async def test_summary_review_edit_and_submit(server: Server) -> None:
    """The draft comes from assist.sync at call end; the agent edits and submits it over the socket."""
    agent, other, sup = [await signed_in(server, n) for n in ("agent-a", "agent-b", "sup-east")]
    try:
        await start_call(server, "c1", "agent-a")
        server.ctx.hub.publish(CallEnded(call_id="c1", duration=95.0))
        await server.ctx.hub.drain()
        wa, wo, ws = WsClient(agent, server), WsClient(other, server), WsClient(sup, server)
        snap = await wa.open()
        assert snap["follow"]["call"]["status"] == "ended" and snap["follow"]["summary"] is None
        await ws.open()
        await wo.open()
        findings: dict[str, Any] = {
            "outcome": "promise_to_pay",
            "promise": {"amount": 8000, "date": "2026-12-11"},
            "disclosures": {"identity": {"done": True, "at": 5.2, "label": "表明身份和机构"}},
            "violations": [],
            "temperament": {"label": "dominant", "angry": True},
        }
        await finalize_from_findings(server.ctx.db, "c1", findings, ["webhook"], datetime.now(UTC))
        # nobody told the browser layer: its poll finds the draft
        draft = await wa.wait_for(lambda m: m["type"] == "summary_draft", timeout=10)
        assert draft["version"] == 1 and draft["state"] == "draft" and draft["summary"]["outcome"] == "promise_to_pay"
        assert "narrative" in draft["editable"] and "promise_to_pay" in draft["outcomes"]
        delivery = await ws.wait_for(lambda m: m["type"] == "delivery_state")
        assert delivery["status"] == "waiting_submit" and delivery["deliveries"][0]["target"] == "webhook"
        assert wo.of("summary_draft") == []
        # the supervisor gets the draft too (the console shows an ended call's outcome and promise)
        seen = await ws.wait_for(lambda m: m["type"] == "summary_draft")
        assert seen["summary"]["outcome"] == "promise_to_pay"
        fresh = WsClient(sup, server)
        row = next(r for r in (await fresh.open())["recent_calls"] if r["call"]["call_id"] == "c1")
        assert row["outcome"] == "promise_to_pay" and row["promise"]["amount"] == 8000
        await fresh.close()

        await wo.send({"type": "edit_summary", "call_id": "c1", "edits": {"agent_notes": "x"}})
        assert (await wo.wait_for(lambda m: m["type"] == "error"))["status"] == 403
        n = len(wa.messages)
        await wa.send({"type": "edit_summary", "call_id": "c1", "edits": {"outcome": "moonwalk"}})
        err = await wa.wait_for(lambda m: m["type"] == "error", start=n)
        assert err["status"] == 422 and "outcome" in err["message"]
        await wa.send({"type": "edit_summary", "call_id": "c1", "edits": {"agent_notes": "客户下周五还八千"}})
        v2 = await wa.wait_for(lambda m: m["type"] == "summary_draft" and m["version"] == 2)
        assert v2["summary"]["agent_notes"] == "客户下周五还八千" and v2["state"] == "draft"
        await wa.send({"type": "submit_summary", "call_id": "c1", "edits": {"narrative": "承诺下周五还款八千元。"}})
        v3 = await wa.wait_for(lambda m: m["type"] == "summary_draft" and m["state"] == "submitted")
        assert v3["version"] == 3 and v3["summary"]["narrative"] == "承诺下周五还款八千元。"
        queued = await ws.wait_for(lambda m: m["type"] == "delivery_state" and m["status"] == "queued")
        assert queued["summary_state"] == "submitted" and queued["due_at"] is not None

        again = WsClient(agent, server)
        snap = await again.open()
        assert snap["follow"]["summary"]["version"] == 3 and snap["follow"]["delivery"]["status"] == "queued"
        for w in (wa, wo, ws, again):
            await w.close()
    finally:
        for s in (agent, other, sup):
            await s.close()
