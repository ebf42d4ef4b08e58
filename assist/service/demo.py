"""`assist serve --demo`: a built-in sample collection call (zh-CN) played in a loop, so whoever opens /agent and
/supervisor first sees the product working.

The call (demo_data/zh-CN-demo-call.jsonl, the replay format of tests/data/coach) is replayed as a transcript
with realistic timing: CallStarted, growing partials and the final of each utterance, CallEnded.  The events go
into the service's coach (`ctx.coach`, the call manager's sink) where the recogniser's go, so the rest is the
real pipeline: the coach (with the demo account put in the account store) makes the prompts, the hub stores and
shows everything, and the CRM sync drafts the summary at call end.  (No audio is played: there is no zh-CN
speech sample or model in the package.)

Each loop uses a fresh demo account id, so the call-frequency rules never trip over the demo's own history.

The whole call runs on its scenario's clock: the first call starts today at the file's local time of day
(10:30 in Shanghai) and the clock runs on from there, so the coach judges the call-time rules, relative dates
and reminders the same whenever the demo runs.  Each call carries `meta.clock_offset` (scenario minus server
clock, seconds) so the pages' call timers count from the scenario's start.  It ends on the server's clock
(the summary's 2-hour CRM deadline is real).

The demo plays DEMO_LOOPS calls (about 20 minutes) and then stops adding calls, so a forgotten demo does not
fill the database; restart `assist serve --demo` to play again.

Demo users (created only in demo mode, in team "demo"):
    agent       demo-agent       password demo-agent
    supervisor  demo-supervisor  password demo-supervisor
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from assist import logs
from assist.events import CallEnded, CallStarted, Prompt, TranscriptSegment, new_id, utcnow
from assist.service.context import CTX, Context
from assist.store.users import UserError, UserStore

log = logs.get(__name__)

DEMO_FILE = Path(__file__).with_name("demo_data") / "zh-CN-demo-call.jsonl"
DEMO_TEAM = "demo"
DEMO_USERS = (("demo-agent", "agent", "demo-agent"), ("demo-supervisor", "supervisor", "demo-supervisor"))
PAUSE_SECONDS = 25.0  # between calls: time to look at the summary
DEMO_LOOPS = 10  # calls played before the demo stops adding calls


@dataclass
class DemoLine:
    start: float
    end: float
    speaker: str
    text: str


@dataclass
class DemoCall:
    call: dict[str, Any]
    lines: list[DemoLine]

    @property
    def language(self) -> str:
        return str(self.call.get("language") or "zh-CN")


def load_demo_call(path: Path = DEMO_FILE) -> DemoCall:
    from assist.coach.replay import read_replay

    call, _expect, segs = read_replay(path)
    return DemoCall(call, [DemoLine(s.start, s.end, s.speaker, s.text) for s in segs])


def timeline(call_id: str, demo: DemoCall) -> list[tuple[float, TranscriptSegment]]:
    """(call seconds, segment): two growing partials and then the final of every utterance, in time order."""
    chinese = demo.language.startswith("zh")
    out: list[tuple[float, int, TranscriptSegment]] = []
    count = {"agent": 0, "customer": 0}
    for n, line in enumerate(demo.lines):
        index = count[line.speaker]
        count[line.speaker] += 1
        common: dict[str, Any] = {
            "call_id": call_id,
            "segment_id": f"{call_id}-{n}",
            "index": index,
            "speaker": line.speaker,
            "start": line.start,
            "language": demo.language,
        }
        units: list[str] = list(line.text) if chinese else line.text.split()
        for k, frac in enumerate((1 / 3, 2 / 3)):
            cut = max(1, round(len(units) * frac))
            text = ("" if chinese else " ").join(units[:cut]).strip()
            at = line.start + (line.end - line.start) * frac
            out.append((at, 2 * n + k, TranscriptSegment(final=False, end=round(at, 2), text=text, **common)))
        out.append((line.end + 0.3, 2 * n + 2, TranscriptSegment(final=True, end=line.end, text=line.text, **common)))
    out.sort(key=lambda e: (e[0], e[1]))
    return [(t, seg) for t, _, seg in out]


async def ensure_demo_users(users: UserStore) -> None:
    for name, role, password in DEMO_USERS:
        if await users.get(name) is None:
            with contextlib.suppress(UserError):  # another process just added it
                await users.add(name, role, password, team=DEMO_TEAM, display_name=name)
                log.info("demo user added", user=name, role=role)


def demo_clock(demo: DemoCall) -> datetime:
    """When the coach thinks the demo call happens: today, at the file's local time of day (10:30 in
    Shanghai), so the call-time rules judge the sample call the same whenever the demo runs."""
    raw = demo.call.get("started_at")
    if not isinstance(raw, str):
        return datetime.now(UTC)
    fixed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    tz = fixed.tzinfo or UTC
    return datetime.combine(datetime.now(tz).date(), fixed.timetz())


class LocalCoach:
    """The demo call's coach run outside the service's pipeline (for driving a hub by hand, as tests do)."""

    def __init__(
        self, call_id: str, demo: DemoCall, account: dict[str, Any] | None = None, started_at: datetime | None = None
    ) -> None:
        from assist.accounts import parse_account
        from assist.coach.engine import CallCoach, CallContext, load_playbook

        acc = account or demo.call.get("account")
        parsed = parse_account(acc, "demo account") if isinstance(acc, dict) else None
        pb = load_playbook(demo.language)
        self.coach = CallCoach(
            CallContext(
                call_id=call_id,
                language=pb.language,
                started_at=started_at or demo_clock(demo),
                account=parsed,
                agent_id=demo.call.get("agent_id"),
                direction=demo.call.get("direction"),
            ),
            pb,
        )

    def start(self) -> list[Prompt]:
        return self.coach.start()

    def segment(self, t: float, seg: TranscriptSegment) -> list[Prompt]:
        return self.coach.tick(t) + self.coach.on_segment(seg)

    def end(self) -> list[Prompt]:
        return self.coach.end()

    def findings(self) -> Any:
        return self.coach.findings()


async def _store_account(ctx: Context, account: dict[str, Any]) -> None:
    """Put the demo account where the coach looks accounts up."""
    try:
        from assist.accounts import parse_account
        from assist.store.accounts import AccountStore

        await AccountStore(ctx.db).upsert(parse_account(account, "demo account"))
    except Exception:
        log.exception("demo account not stored: the coach runs without the account card")


async def play_call(
    ctx: Context,
    demo: DemoCall,
    *,
    speed: float = 1.0,
    call_id: str | None = None,
    agent_id: str = "demo-agent",
    offset: timedelta | None = None,
) -> str:
    """Play one demo call in (scaled) real time; returns its call id.  `offset` is the scenario clock minus
    the server's (one for a whole demo run, so its calls follow each other); by default the call starts at
    the scenario's time of day."""
    call_id = call_id or new_id("demo-")[:17]
    account = dict(demo.call.get("account") or {})
    if account.get("id"):
        account["id"] = f"{account['id']}-{call_id[-6:].upper()}"
    now = datetime.now(UTC)
    started = now + offset if offset is not None else demo_clock(demo)  # what the coach judges the call by
    shift = round((started - now).total_seconds(), 3)
    send = ctx.coach
    if account:
        await _store_account(ctx, account)
    # transcribed: the demo's transcript is the call's (played instead of recognised)
    send(
        CallStarted(
            call_id=call_id,
            protocol="demo",
            agent_id=agent_id,
            account_id=account.get("id"),
            language=demo.language,
            started_at=started,
            direction=demo.call.get("direction"),
            transcribed=True,
            meta={"demo": True, "clock_offset": shift},
        )
    )
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    last = 0.0
    ctx.demo_calls.add(call_id)
    try:
        for t, seg in timeline(call_id, demo):
            await asyncio.sleep(max(0.0, t0 + t / speed - loop.time()))
            send(seg.model_copy(update={"at": utcnow()}))
            last = max(last, seg.end)
    except asyncio.CancelledError:
        send(CallEnded(call_id=call_id, reason="demo stopped", duration=last))
        raise
    finally:
        ctx.demo_calls.discard(call_id)
    send(CallEnded(call_id=call_id, reason="hangup", duration=last))
    return call_id


async def run_demo(
    ctx: Context, *, speed: float = 1.0, loops: int | None = DEMO_LOOPS, pause: float = PAUSE_SECONDS
) -> None:
    """Create the demo users and play the demo call `loops` times (None: forever)."""
    await ensure_demo_users(UserStore(ctx.db))
    if ctx.browser_hub is not None:
        await ctx.browser_hub.refresh_teams()
    demo = load_demo_call()
    offset = demo_clock(demo) - datetime.now(UTC)  # the run's scenario clock: its calls follow each other
    n = 0
    while loops is None or n < loops:
        call_id = await play_call(ctx, demo, speed=speed, offset=offset)
        log.info("demo call played", call_id=call_id, n=n + 1)
        n += 1
        if loops is None or n < loops:
            await asyncio.sleep(pause / speed)
    log.info("demo finished: no more calls will be added; restart `assist serve --demo` to play again", calls=n)


def install_demo(app: web.Application, *, speed: float = 1.0) -> None:
    """Run the demo in this app (call before the app starts; stops before the service shuts down)."""

    async def start(app: web.Application) -> None:
        ctx = app[CTX]
        ctx.demo = asyncio.get_running_loop().create_task(run_demo(ctx, speed=speed), name="demo")
        log.info("demo mode: sign in as demo-agent / demo-agent or demo-supervisor / demo-supervisor")

    async def stop(app: web.Application) -> None:
        task = app[CTX].demo
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await app[CTX].hub.drain()

    app.on_startup.append(start)
    app.on_shutdown.insert(0, stop)
