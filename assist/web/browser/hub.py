"""The browser side of the hub: one `Connection` per open sidebar or console, the snapshot it gets on
(re)connect, the live events it may see, and what its user may do (ack alerts, message an agent, edit and
submit a summary).

Every connection is a hub subscriber with a filter (`Connection.wants`): an agent gets everything of their
own calls except supervisor-only prompts; a supervisor gets the calls, prompts and alerts of their team and
the transcript of the one call they follow.  The console's own messages (supervisor messages, acks, summary
drafts, delivery states) go into the same per-connection queue, so one task sends everything in order, and a
connection that cannot keep up is closed (it reconnects and gets a fresh snapshot) instead of slowing others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import WSMsgType, web
from pydantic import BaseModel

from assist import logs
from assist.events import Prompt
from assist.service.context import Context
from assist.service.hub import Subscriber
from assist.service.summary_service import SummaryRejected, SummaryService, SyncSummaryService
from assist.store.messages import MessageStore
from assist.store.users import User, UserStore
from assist.web.browser import protocol as bp
from assist.web.browser.directory import CallEntry, Directory, entry_from_row, is_alert

log = logs.get(__name__)

POLL_SECONDS = 2.0
WATCH_HOURS = 3.0  # a summary is watched this long after its call ended
EVENT_CACHE = 512


class Outgoing:
    """An already-serialized server message waiting in a connection's queue."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def dump(msg: BaseModel) -> str:
    return msg.model_dump_json()


class Connection:
    def __init__(self, hub: BrowserHub, user: User, session_hash: str, ws: web.WebSocketResponse) -> None:
        self.hub = hub
        self.user = user
        self.session_hash = session_hash
        self.ws = ws
        self.follow: str | None = None
        self.sub: Subscriber | None = None
        self.pump: asyncio.Task[None] | None = None

    @property
    def is_agent(self) -> bool:
        return self.user.role == "agent"

    def can_see(self, call_id: str) -> bool:
        return self.hub.directory.can_see(self.user, self.hub.directory.agent_of(call_id))

    def wants(self, ev: Any) -> bool:
        """Runs in the hub's pipeline for every event: cheap dictionary look-ups only."""
        call_id = getattr(ev, "call_id", None)
        if call_id is None or not self.can_see(call_id):
            return False
        kind = getattr(ev, "type", None)
        if kind == "segment":
            return self.is_agent or call_id == self.follow
        if kind == "prompt" and self.is_agent:
            return bool(ev.audience != "supervisor")
        return kind != "call_refused"

    def push(self, text: str) -> None:
        """Queue a server message behind the events already queued (drops the connection when full)."""
        sub = self.sub
        if sub is None or sub.dropped:
            return
        try:
            sub.queue.put_nowait(Outgoing(text))
        except asyncio.QueueFull:
            self.hub.ctx.hub.unsubscribe(sub)
            sub.dropped = True
            while not sub.queue.empty():
                sub.queue.get_nowait()
            sub.queue.put_nowait(None)

    async def send(self, text: str) -> None:
        """Send now if nothing is streaming yet, else in order behind the queued events."""
        if self.pump is None:
            await self.ws.send_str(text)
        else:
            self.push(text)

    async def error(
        self, status: int, code: str, message: str, request: str | None = None, call_id: str | None = None
    ) -> None:
        await self.send(
            dump(bp.ErrorMessage(status=status, code=code, message=message, request=request, call_id=call_id))
        )

    async def run_pump(self) -> None:
        assert self.sub is not None
        queue = self.sub.queue
        while True:
            item = await queue.get()
            if item is None:
                await self.ws.close(code=1013, message=b"too slow: reconnect for a fresh snapshot")
                return
            if isinstance(item, Outgoing):
                await self.ws.send_str(item.text)
            else:
                await self.ws.send_str(self.hub.event_text(item))
                self.hub.ctx.metrics.sent_to_browser(item)


class BrowserHub:
    def __init__(self, ctx: Context, users: UserStore, secret: str) -> None:
        self.ctx = ctx
        self.users = users
        self.secret = secret
        self.directory = Directory()
        self.messages = MessageStore(ctx.db)
        self.connections: set[Connection] = set()
        self.delivery_cache: dict[str, bp.DeliveryState] = {}
        self.draft_cache: dict[str, tuple[int, str]] = {}
        self.facts: dict[str, tuple[str | None, dict[str, Any] | None]] = {}  # call -> summary outcome, promise
        self._events: OrderedDict[int, tuple[Any, str]] = OrderedDict()
        self._poll: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def service(self) -> SummaryService:
        if self.ctx.summary_service is None:
            self.ctx.summary_service = SyncSummaryService(self.ctx.db)
        return self.ctx.summary_service

    async def start(self) -> None:
        await self.refresh_teams()
        rows = await self.ctx.store.list_calls(status="ended", limit=100)
        for row in reversed(rows):
            self.directory.add_recent(entry_from_row(row))
        await self._load_alerts(list(self.directory.recent))
        for e in (entry_from_row(r) for r in await self.ctx.store.list_calls(status="live", limit=1000)):
            self.directory.live.setdefault(e.call_id, e)

        self.ctx.hub.observers.append(self.directory.observe)
        self._poll = asyncio.get_running_loop().create_task(self._poll_loop(), name="browser-poll")

    async def stop(self) -> None:
        if self._poll is not None:
            self._poll.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poll

    async def _load_alerts(self, call_ids: list[str]) -> None:
        for p in await self.ctx.store.prompts_above_info(call_ids):
            e = self.directory.get(p.call_id)
            if e is not None and is_alert(p):
                e.alerts[p.prompt_id] = p

    async def refresh_teams(self) -> None:
        self.directory.teams = await self.users.teams()

    def event_text(self, ev: Any) -> str:
        """An event's `event` message, serialized once for all the connections that get it."""
        key = id(ev)
        hit = self._events.get(key)
        if hit is not None and hit[0] is ev:
            return hit[1]
        call = None
        if getattr(ev, "type", None) == "call_started":  # the directory saw it first (a hub writer)
            entry = self.directory.get(ev.call_id)
            call = bp.CallInfo.model_validate(entry.info()) if entry is not None else None
        text = bp.event_json(ev, call)
        self._events[key] = (ev, text)
        if len(self._events) > EVENT_CACHE:
            self._events.popitem(last=False)
        return text

    # ------------------------------------------------------------------ connections

    async def serve(self, ws: web.WebSocketResponse, user: User, session_hash: str) -> None:
        conn = Connection(self, user, session_hash, ws)
        self.connections.add(conn)
        self.ctx.websockets.add(ws)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self.on_text(conn, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    await conn.error(400, "binary", "this socket speaks JSON text messages only")
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            self.connections.discard(conn)
            self.ctx.websockets.discard(ws)
            if conn.sub is not None:
                self.ctx.hub.unsubscribe(conn.sub)
            if conn.pump is not None:
                conn.pump.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                    await conn.pump

    async def close_session(self, session_hash: str) -> None:
        """Signed out: close that session's sockets (the page goes back to the sign-in screen)."""
        for conn in [c for c in self.connections if c.session_hash == session_hash]:
            await conn.ws.close(code=4401, message=b"signed out")

    async def on_text(self, conn: Connection, text: str) -> None:
        try:
            msg = bp.parse_client_message(text)
        except bp.BadMessage as e:
            await conn.error(400, "bad_message", str(e), request=e.request)
            return
        if conn.pump is None and not isinstance(msg, bp.Hello | bp.Ping):
            await conn.error(
                400, "hello_first", "send hello first: it opens the stream with a snapshot", request=msg.type
            )
            return
        try:
            if isinstance(msg, bp.Hello):
                await self.on_hello(conn, msg)
            elif isinstance(msg, bp.Subscribe):
                await self.on_subscribe(conn, msg.call_id)
            elif isinstance(msg, bp.Ping):
                await conn.send(dump(bp.Pong(t=msg.t, server_time=datetime.now(UTC).timestamp() * 1000)))
            elif isinstance(msg, bp.AckAlert):
                await self.on_ack(conn, msg)
            elif isinstance(msg, bp.SendMessage):
                await self.on_send_message(conn, msg)
            elif isinstance(msg, bp.EditSummary | bp.SubmitSummary):
                await self.on_summary(conn, msg)
        except Exception:
            log.exception("browser message failed", type=msg.type, user=conn.user.name)
            await conn.error(
                500, "server_error", f"the server could not handle {msg.type}; try again", request=msg.type
            )

    async def on_hello(self, conn: Connection, msg: bp.Hello) -> None:
        if conn.pump is not None:  # a second hello: same as subscribe
            await self.on_subscribe(conn, msg.call_id)
            return
        follow = msg.call_id
        denied = False
        if follow is not None and not await self.may_open(conn.user, follow):
            denied = True
        if follow is None or denied:
            cur = self.directory.current_call(conn.user) if conn.is_agent else None
            follow = cur.call_id if cur else None
        conn.follow = follow
        conn.sub = self.ctx.hub.subscribe(None, filter=conn.wants)
        await self.ctx.hub.drain()
        snap = await self.snapshot(conn, "hello")
        if denied:
            await conn.ws.send_str(
                dump(
                    bp.ErrorMessage(
                        status=403,
                        code="forbidden",
                        request="hello",
                        call_id=msg.call_id,
                        message=f"call {msg.call_id} is not one of yours"
                        if conn.is_agent
                        else f"call {msg.call_id} is not in your team",
                    )
                )
            )
        await conn.ws.send_str(dump(snap))
        conn.pump = asyncio.get_running_loop().create_task(conn.run_pump(), name=f"browser-{conn.user.name}")

    async def on_subscribe(self, conn: Connection, call_id: str | None) -> None:
        if call_id is not None and not await self.may_open(conn.user, call_id):
            await conn.error(
                403,
                "forbidden",
                f"call {call_id} is not one of yours" if conn.is_agent else f"call {call_id} is not in your team",
                request="subscribe",
                call_id=call_id,
            )
            return
        conn.follow = call_id
        await self.ctx.hub.drain()
        conn.push(dump(await self.snapshot(conn, "subscribe")))

    async def may_open(self, user: User, call_id: str) -> bool:
        """Whether `user` may see the call (known live/recent call, else the stored row)."""
        e = self.directory.get(call_id)
        if e is not None:
            return self.directory.can_see(user, e.agent_id)
        row = await self.ctx.store.get(call_id)
        if row is None:
            return user.role == "supervisor" and user.team is None
        return self.directory.can_see(user, row.get("agent_id"))

    # ------------------------------------------------------------------ snapshots

    async def snapshot(self, conn: Connection, reason: str) -> bp.Snapshot:
        user = conn.user
        live = []
        visible = self.directory.visible_live(user)
        acks = await self.messages.acks([e.call_id for e in visible]) if not conn.is_agent else []
        by_call: dict[str, list[bp.AlertAck]] = {}
        for a in acks:
            by_call.setdefault(a["call_id"], []).append(bp.AlertAck.model_validate(a))
        for e in visible:
            prompts = [p for p in e.key_prompts() if not (conn.is_agent and p.audience == "supervisor")]
            live.append(
                bp.LiveCallRow(
                    call=bp.CallInfo.model_validate(e.info()), prompts=prompts, acks=by_call.get(e.call_id, [])
                )
            )
        recent = []
        for e in self.directory.visible_recent(user):
            if e.call_id not in self.facts and not conn.is_agent:
                self._remember(await self._draft(e.call_id))
            outcome, promise = self.facts.get(e.call_id, (None, None))
            recent.append(
                bp.RecentCallRow(
                    call=bp.CallInfo.model_validate(e.info()),
                    alerts=len(e.alerts),
                    delivery=self.delivery_cache.get(e.call_id),
                    outcome=outcome,
                    promise=promise,
                )
            )
        follow = await self.followed(conn.user, conn.follow) if conn.follow else None
        return bp.Snapshot(
            reason=reason,
            server_time=datetime.now(UTC),
            user=bp.UserInfo.model_validate(user.public()),
            live_calls=live,
            recent_calls=recent,
            follow=follow,
        )

    async def followed(self, user: User, call_id: str) -> bp.FollowedCall | None:
        """Everything `user` may see of one call (the caller checked access)."""
        is_agent = user.role == "agent"
        e = self.directory.get(call_id)
        if e is None:
            row = await self.ctx.store.get(call_id)
            if row is None:
                return None
            e = entry_from_row(row)
        transcript = [
            bp.Segment(final=True, **{k: s[k] for k in ("segment_id", "speaker", "index", "start", "end", "text")})
            for s in await self.ctx.store.transcript(call_id)
        ]
        have = {s.segment_id for s in transcript}
        transcript += [
            bp.Segment(
                segment_id=p.segment_id,
                speaker=p.speaker,
                index=p.index,
                start=p.start,
                end=p.end,
                text=p.text,
                final=False,
            )
            for p in e.partials.values()
            if p.segment_id not in have
        ]
        prompts = [Prompt.model_validate(p) for p in await self.ctx.store.prompts(call_id)]
        if is_agent:
            prompts = [p for p in prompts if p.audience != "supervisor"]
        messages = [bp.SupervisorMessage.model_validate(m) for m in await self.messages.messages(call_id)]
        if is_agent:
            messages = [m for m in messages if m.to_user in (None, user.name)]
        acks = [] if is_agent else [bp.AlertAck.model_validate(a) for a in await self.messages.acks([call_id])]
        summary = delivery = None
        if e.status == "ended":
            summary, delivery = await self._summary_state(call_id)
        return bp.FollowedCall(
            call=bp.CallInfo.model_validate(e.info()),
            transcript=transcript,
            prompts=prompts,
            messages=messages,
            acks=acks,
            summary=summary,
            delivery=delivery,
        )

    async def _summary_state(self, call_id: str) -> tuple[bp.SummaryDraft | None, bp.DeliveryState | None]:
        try:
            draft = await self.service.get_draft(call_id)
            self._remember(draft)
            return draft, await self.service.delivery_state(call_id)
        except Exception:
            log.exception("summary service failed", call_id=call_id)
            return None, None

    async def _draft(self, call_id: str) -> bp.SummaryDraft | None:
        try:
            return await self.service.get_draft(call_id)
        except Exception:
            log.exception("summary service failed", call_id=call_id)
            return None

    def _remember(self, draft: bp.SummaryDraft | None) -> None:
        """Keep a drafted summary's outcome and promise for the console's list of ended calls."""
        if draft is None:
            return
        promise = draft.summary.get("promise")
        self.facts[draft.call_id] = (draft.summary.get("outcome"), promise if isinstance(promise, dict) else None)
        while len(self.facts) > 500:
            self.facts.pop(next(iter(self.facts)))

    # ------------------------------------------------------------------ actions

    def broadcast(self, call_id: str, text: str, *, agent: bool = True, supervisors: bool = True) -> None:
        for conn in list(self.connections):
            if conn.pump is None or not conn.can_see(call_id):
                continue
            if (conn.is_agent and agent) or (not conn.is_agent and supervisors):
                conn.push(text)

    async def _call_of_prompt(self, prompt_id: str) -> str | None:
        for e in (*self.directory.live.values(), *self.directory.recent.values()):
            if prompt_id in e.alerts:
                return e.call_id
        return await self.ctx.store.call_of_prompt(prompt_id)

    async def on_ack(self, conn: Connection, msg: bp.AckAlert) -> None:
        if conn.is_agent:
            await conn.error(403, "forbidden", "only supervisors acknowledge alerts", request=msg.type)
            return
        call_id = await self._call_of_prompt(msg.prompt_id)
        if call_id is None:
            await conn.error(404, "not_found", f"no alert {msg.prompt_id}", request=msg.type)
            return
        if not await self.may_open(conn.user, call_id):
            await conn.error(
                403,
                "forbidden",
                f"alert {msg.prompt_id} is on a call outside your team",
                request=msg.type,
                call_id=call_id,
            )
            return
        ack, _new = await self.messages.ack(msg.prompt_id, call_id, conn.user.name)
        self.broadcast(call_id, dump(bp.AlertAck.model_validate(ack)), agent=False)

    async def on_send_message(self, conn: Connection, msg: bp.SendMessage) -> None:
        if conn.is_agent:
            await conn.error(403, "forbidden", "only supervisors send messages to agents", request=msg.type)
            return
        if not await self.may_open(conn.user, msg.call_id):
            await conn.error(
                403, "forbidden", f"call {msg.call_id} is not in your team", request=msg.type, call_id=msg.call_id
            )
            return
        agent = self.directory.agent_of(msg.call_id)
        if agent is None:
            row = await self.ctx.store.get(msg.call_id)
            agent = row.get("agent_id") if row else None
        if agent is None:
            await conn.error(
                404, "no_agent", f"call {msg.call_id} has no agent to send to", request=msg.type, call_id=msg.call_id
            )
            return
        try:
            stored = await self.messages.add_message(msg.call_id, conn.user.name, agent, msg.text)
        except ValueError as e:
            await conn.error(400, "bad_message", str(e), request=msg.type, call_id=msg.call_id)
            return
        self.broadcast(msg.call_id, dump(bp.SupervisorMessage.model_validate(stored)))

    async def on_summary(self, conn: Connection, msg: bp.EditSummary | bp.SubmitSummary) -> None:
        owner = self.directory.agent_of(msg.call_id)
        if owner is None:
            row = await self.ctx.store.get(msg.call_id)
            owner = row.get("agent_id") if row else None
        if not conn.is_agent or owner != conn.user.name:
            await conn.error(
                403,
                "forbidden",
                "only the call's agent edits and submits its summary",
                request=msg.type,
                call_id=msg.call_id,
            )
            return
        try:
            if isinstance(msg, bp.SubmitSummary):
                draft = await self.service.submit(msg.call_id, msg.edits, conn.user.name)
            else:
                draft = await self.service.edit(msg.call_id, msg.edits, conn.user.name)
        except SummaryRejected as e:
            await conn.error(
                422, "invalid_summary", f"the summary was not saved: {e}", request=msg.type, call_id=msg.call_id
            )
            return
        except LookupError as e:
            await conn.error(
                404, "no_summary", f"no summary for call {msg.call_id} yet ({e})", request=msg.type, call_id=msg.call_id
            )
            return
        await self.summary_changed(msg.call_id, draft=draft)

    # ------------------------------------------------------------------ summaries

    async def summary_changed(self, call_id: str, draft: bp.SummaryDraft | None = None) -> None:
        """Push the call's summary draft (to its agent) and delivery state (to everyone who sees the call).
        The sync wiring may call this after it wrote or delivered a summary; a poll does it anyway."""
        if draft is None:
            draft, delivery = await self._summary_state(call_id)
        else:
            delivery = await self.service.delivery_state(call_id)
        if draft is not None:
            self.draft_cache[call_id] = (draft.version, draft.state)
            self._remember(draft)
            self.broadcast(call_id, dump(draft))
        if delivery is not None:
            self.delivery_cache[call_id] = delivery
            self.broadcast(call_id, dump(delivery))

    async def _poll_loop(self) -> None:
        pipeline = self.ctx.hub._task  # the poll ends with the hub (the service's cleanup stops it)
        while pipeline is not None and not pipeline.done():
            await asyncio.wait([pipeline], timeout=POLL_SECONDS)
            if not self.connections or pipeline.done():
                continue
            try:
                await self.poll_once()
            except Exception:
                log.exception("summary poll failed")

    async def poll_once(self) -> None:
        cutoff = datetime.now(UTC) - timedelta(hours=WATCH_HOURS)
        watched = [e for e in reversed(self.directory.recent.values()) if _ended_after(e, cutoff)][:50]
        for e in watched:
            cached = self.delivery_cache.get(e.call_id)
            if cached is not None and cached.status in ("delivered", "no_targets"):
                continue
            draft, delivery = await self._summary_state(e.call_id)
            if draft is not None and self.draft_cache.get(e.call_id) != (draft.version, draft.state):
                self.draft_cache[e.call_id] = (draft.version, draft.state)
                self.broadcast(e.call_id, dump(draft))
            if delivery is not None and (cached is None or _changed(cached, delivery)):
                self.delivery_cache[e.call_id] = delivery
                self.broadcast(e.call_id, dump(delivery))


def _ended_after(e: CallEntry, cutoff: datetime) -> bool:
    return e.ended_at is not None and (e.ended_at if e.ended_at.tzinfo else e.ended_at.replace(tzinfo=UTC)) > cutoff


def _changed(a: bp.DeliveryState, b: bp.DeliveryState) -> bool:
    return json.dumps(a.model_dump(mode="json", exclude={"as_of"})) != json.dumps(
        b.model_dump(mode="json", exclude={"as_of"})
    )


UI: web.AppKey[BrowserHub] = web.AppKey("browser_hub", BrowserHub)
