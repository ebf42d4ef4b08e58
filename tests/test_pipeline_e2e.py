"""End to end: real speech streamed by the simulator through each phone protocol into a real server
on loopback, recognised by real vosk; the transcript arrives on the live feed and in the store."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import aiohttp
import pytest

from assist.events import parse_feed_event
from assist.stream.simulate import simulate
from tests.conftest import CallAudio, Server, start_server, wait_for

PROTOCOLS = ["twilio", "audiohook", "audiofork", "audiosocket", "rtp"]


class Feed:
    """A live-feed listener, as the sidebar or a benchmark would be."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.snapshot: dict[str, Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self, server: Server, call_id: str | None = None) -> None:
        path = "/api/feed" + (f"?call_id={call_id}" if call_id else "")
        self._task = asyncio.create_task(self._run(server.url.replace("http", "ws") + path))
        await asyncio.wait_for(self._ready.wait(), 10)

    async def _run(self, url: str) -> None:
        async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
            async for msg in ws:
                data = json.loads(msg.data)
                if data.get("type") == "snapshot":
                    self.snapshot = data
                    self._ready.set()
                    continue
                self.events.append(parse_feed_event(data))

    def of(self, call_id: str, type_: str) -> list[Any]:
        return [e for e in self.events if e.call_id == call_id and e.type == type_]

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass


def finals(feed: Feed, call_id: str, speaker: str) -> list[Any]:
    return [s for s in feed.of(call_id, "segment") if s.final and s.speaker == speaker]


def check_segments(feed: Feed, call_id: str, audio: CallAudio) -> None:
    for speaker in ("customer", "agent"):
        segs = finals(feed, call_id, speaker)
        turns = [t for t in audio.timeline if t[0] == speaker]
        assert len(segs) >= len(turns) - 1, f"{speaker}: {len(segs)} finals for {len(turns)} turns"
        for a, b in itertools.pairwise(segs):
            assert a.end <= b.start + 0.05, "segment times must increase"
            assert b.index == a.index + 1
        for seg in segs:
            assert seg.text.strip()
            assert seg.words and all(w.start <= w.end for w in seg.words)
            assert seg.loudness_db is not None and -60 < seg.loudness_db < 0
            # every final lies on a turn of that speaker (0.5 s tolerance for word edges)
            assert any(seg.start >= t[1] - 0.5 and seg.end <= t[2] + 0.5 for t in turns), (
                f"{speaker} segment {seg.start}-{seg.end} is not on any of {turns}"
            )


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_call_through_protocol(server: Server, call8k: CallAudio, protocol: str) -> None:
    feed = Feed()
    await feed.start(server)
    call_id = await simulate(
        call8k.path, protocol, server.addr, agent="agent-7", account="acct-42", language="ko-KR", fast=True
    )
    await wait_for(lambda: feed.of(call_id, "call_ended"), timeout=60)
    await feed.stop()

    started = feed.of(call_id, "call_started")
    assert len(started) == 1 and started[0].protocol == protocol
    check_segments(feed, call_id, call8k)

    status, call = await server.get(f"/api/calls/{call_id}")
    assert status == 200
    assert call["status"] == "ended"
    assert call["agent_id"] == "agent-7" and call["account_id"] == "acct-42"
    stored = [(s["speaker"], s["text"]) for s in call["transcript"]]
    live = sorted((s.start, s.speaker, s.text) for s in feed.of(call_id, "segment") if s.final)
    assert sorted(stored) == sorted((sp, t) for _, sp, t in live)
    status, listing = await server.get("/api/calls")
    assert any(c["call_id"] == call_id for c in listing["calls"])


async def test_same_codec_same_transcript(tmp_path: Any, call8k: CallAudio) -> None:
    """Twilio, AudioHook and RTP/PCMU all carry 8 kHz mu-law: the same audio gives the same words,
    utterance for utterance, whatever the transport's framing and however the audio was batched.

    Recognition is deterministic: no dither, one BLAS thread per decode, a fixed 100 ms feeding grid
    on each stream's own samples, gate decisions on 20 ms frames counted from the stream's start."""
    runner, server = await start_server(tmp_path)
    try:
        await _same_codec(server, call8k)
    finally:
        await runner.cleanup()


async def _same_codec(server: Server, call8k: CallAudio) -> None:
    feed = Feed()
    await feed.start(server)
    texts = {}
    for protocol in ("twilio", "audiohook", "rtp"):
        call_id = await simulate(call8k.path, protocol, server.addr, fast=True, language="ko-KR")
        await wait_for(lambda cid=call_id: feed.of(cid, "call_ended"), timeout=60)
        texts[protocol] = {sp: [s.text for s in finals(feed, call_id, sp)] for sp in ("customer", "agent")}
    await feed.stop()
    assert all(texts["twilio"][sp] for sp in ("customer", "agent"))
    for other in ("audiohook", "rtp"):
        for sp in ("customer", "agent"):
            assert texts[other][sp] == texts["twilio"][sp], f"{other} vs twilio, {sp}"


async def test_16k_audiofork_and_rtp_l16(tmp_path: Any, call16k: CallAudio) -> None:
    runner, server = await start_server(tmp_path)
    try:
        feed = Feed()
        await feed.start(server)
        call_id = await simulate(call16k.path, "audiofork", server.addr, fast=True, language="ko-KR")
        await wait_for(lambda: feed.of(call_id, "call_ended"), timeout=60)
        assert feed.of(call_id, "call_started")[0].sample_rate == 16000
        check_segments(feed, call_id, call16k)
        await feed.stop()
    finally:
        await runner.cleanup()


async def test_real_time_pacing_and_latency(server: Server, call8k: CallAudio) -> None:
    """At real-time pace, partials and finals arrive while the call is still going."""
    feed = Feed()
    await feed.start(server)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    task = asyncio.create_task(simulate(call8k.path, "twilio", server.addr, fast=False, language="ko-KR"))
    await wait_for(lambda: any(e.type == "segment" and e.final for e in feed.events), timeout=40)
    first_final_at = loop.time() - t0
    call_id = await task
    await wait_for(lambda: feed.of(call_id, "call_ended"), timeout=30)
    await feed.stop()
    duration = call8k.timeline[-1][2]
    assert first_final_at < duration, "finals must arrive during the call, not after it"
    check_segments(feed, call_id, call8k)
    segs = feed.of(call_id, "segment")
    for speaker in ("customer", "agent"):
        mine = [s for s in segs if s.speaker == speaker]
        partial_ids = {s.segment_id for s in mine if not s.final}
        final_ids = [s.segment_id for s in mine if s.final]
        # at real-time pace each utterance shows partials before its final, under the final's id
        assert sum(fid in partial_ids for fid in final_ids) >= len(final_ids) - 1, speaker
        for fid in final_ids:
            idx = [i for i, s in enumerate(mine) if s.segment_id == fid]
            assert mine[idx[-1]].final, "the final comes after the partials of the same utterance"


async def test_no_model_still_accepts_calls(tmp_path: Any, call8k: CallAudio) -> None:
    runner, server = await start_server(tmp_path, vosk_model=None)
    try:
        status, health = await server.get("/healthz")
        assert status == 200 and health["transcribing"] is False and "not transcribed" in health["warning"]
        feed = Feed()
        await feed.start(server)
        call_id = await simulate(call8k.path, "twilio", server.addr, fast=True)
        await wait_for(lambda: feed.of(call_id, "call_ended"), timeout=30)
        await feed.stop()
        assert feed.of(call_id, "call_started")[0].transcribed is False
        assert not feed.of(call_id, "segment")
        status, call = await server.get(f"/api/calls/{call_id}")
        assert call["status"] == "ended" and call["transcribed"] is False
    finally:
        await runner.cleanup()
