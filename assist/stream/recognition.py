"""Streaming speech recognition with vosk: one shared Model, pooled recognisers, decoding off the loop.

Design (numbers in ../shared/docs/vosk-performance.md):
* ONE `vosk.Model` per process; decoding runs on a `ThreadPoolExecutor` sized to the cores (vosk
  releases the GIL), so a busy call never stalls the event loop or another call.
* One `KaldiRecognizer` per speaker channel, with word timings.  At most one decode in flight per
  recogniser: each stream has a single consumer task; audio that queues while a decode runs is
  coalesced into the next `AcceptWaveform` call.
* Recognisers are recycled: at the end of a call `FinalResult()` and back to a pool per sample rate.
  A recogniser goes back only once vosk has dropped the call's feature pipeline (see `_settle_for_reuse`),
  so a recycled one decodes the same audio exactly as a new one would.
  vosk's word times count every sample the recogniser object has ever been fed, across
  `FinalResult()`, so each stream keeps a map from the recogniser's sample count to call time.
* An energy gate (`vad.EnergyGate`) ends each utterance where speech stops and, in the default
  `energy` mode, holds silence back from the recogniser (half the decoding CPU of a two-party
  call); the same time map keeps word times on the call's timeline.
* Each stream measures its lag (audio received -> decoded); the engine refuses new streams above a
  configured capacity, the capacity it measured, or a lag (admission control), and sheds load step by step
  when it falls behind (`overload.Governor`: partials off, harder gate, end the newest call).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assist import logs
from assist.events import AudioFrame, Speaker, TranscriptSegment, Word
from assist.stream.overload import Capacity, Governor
from assist.stream.vad import EnergyGate, Run

log = logs.get(__name__)

SegmentSink = Callable[[TranscriptSegment], None]
WATCH_INTERVAL = 0.5  # seconds between overload checks
MAX_DECODE_SECONDS = 1.0  # audio handed to one decode at most, so a late stream catches up in steps
PACED_RATIO, PACED_SLACK = 1.5, 2.0  # audio seconds per wall second (+ slack) still counted as real time
HARDER_GATE_DB = 6.0  # how much further above the noise floor speech must be under overload


@dataclass(slots=True)
class _Anchor:
    rec_sample: int  # lifetime sample count of the recogniser at this point
    call_time: float  # call-relative seconds of the same sample


class TimeMap:
    """Maps a recogniser's lifetime sample count to call-relative seconds (piecewise linear)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._keys: list[int] = []
        self._anchors: list[_Anchor] = []

    def add(self, rec_sample: int, call_time: float) -> None:
        if self._anchors:
            last = self._anchors[-1]
            expected = last.call_time + (rec_sample - last.rec_sample) / self.rate
            if abs(expected - call_time) < 1e-4:
                return  # contiguous: no new anchor needed
            if last.rec_sample == rec_sample:
                self._anchors[-1] = _Anchor(rec_sample, call_time)
                return
        self._keys.append(rec_sample)
        self._anchors.append(_Anchor(rec_sample, call_time))

    def to_call_time(self, rec_seconds: float) -> float:
        sample = round(rec_seconds * self.rate)
        i = bisect.bisect_right(self._keys, sample) - 1
        if i < 0:
            i = 0
        a = self._anchors[i]
        return a.call_time + (sample - a.rec_sample) / self.rate


_LOADED: dict[str, Any] = {}  # one Model object per model directory in this process


class ModelHolder:
    """Loads the vosk model once per process; `None` when no model is configured."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.model: Any = None
        self.load_seconds = 0.0

    def load(self) -> Any:
        if self.path is None:
            return None
        import vosk

        vosk.SetLogLevel(-1)
        key = str(self.path.resolve())
        t0 = time.perf_counter()
        if key not in _LOADED:
            _LOADED[key] = vosk.Model(key)
        self.model = _LOADED[key]
        self.load_seconds = time.perf_counter() - t0
        return self.model


class RecognizerPool:
    """Idle recognisers per sample rate, reused across calls (saves warm-up CPU and memory)."""

    def __init__(self, model: Any, limit: int) -> None:
        self.model = model
        self.limit = limit
        self._idle: dict[int, list[Any]] = {}
        self._lock = threading.Lock()
        self.created = 0
        self.reused = 0

    def acquire(self, rate: int) -> tuple[Any, int]:
        """Returns (recogniser, its lifetime sample count).  Called on the decode pool."""
        with self._lock:
            idle = self._idle.get(rate)
            if idle:
                self.reused += 1
                rec, samples = idle.pop()
                return rec, samples
        import vosk

        rec = vosk.KaldiRecognizer(self.model, rate)
        rec.SetWords(True)
        self.created += 1
        return rec, 0

    def release(self, rate: int, rec: Any, samples: int) -> None:
        with self._lock:
            idle = self._idle.setdefault(rate, [])
            if len(idle) < self.limit:
                idle.append((rec, samples))

    def idle_count(self) -> int:
        return sum(len(v) for v in self._idle.values())


@dataclass
class StreamStats:
    audio_seconds: float = 0.0
    decoded_seconds: float = 0.0
    decode_cpu: float = 0.0
    decode_wall: float = 0.0  # wall-clock seconds spent in decodes (CPU time plus waiting for a core)
    decodes: int = 0
    lags: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=200))  # (when, lag)

    def recent_lag(self, now: float, window: float = 10.0) -> float:
        vals = [lag for t, lag in self.lags if now - t <= window]
        return max(vals) if vals else 0.0


class SpeakerStream:
    """Decodes one speaker channel of one call, emitting partial and final TranscriptSegments."""

    def __init__(
        self,
        engine: AsrEngine,
        call_id: str,
        speaker: Speaker,
        sample_rate: int,
        language: str,
        sink: SegmentSink,
    ) -> None:
        self.engine = engine
        self.call_id = call_id
        self.speaker = speaker
        self.rate = sample_rate
        self.language = language
        self.sink = sink
        self.stats = StreamStats()
        self._log = log.bind(call_id=call_id, speaker=speaker)
        self._rec: Any = None
        self._rec_samples = 0
        self._map = TimeMap(sample_rate)
        self._gate = EnergyGate(sample_rate, **engine.gate_options) if engine.vad in ("energy", "endpoint") else None
        self._queue: list[tuple[float, bytes, float]] = []  # (call time, pcm, received_at)
        self._queued_bytes = 0
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._index = 0
        self._last_partial = ""
        self._utt_start: float | None = None
        self._energy: list[tuple[float, float, float]] = []  # (start, end, mean square)
        self._chunk_bytes = sample_rate * engine.chunk_ms // 1000 * 2
        self._carry = b""
        self._carry_start = 0.0
        self._open_utt = False  # audio fed since the last final
        self._endpointed = False  # vosk's own endpointer closed the last utterance (state ENDPOINT)
        self._fed_until = 0.0
        self.opened_at = time.monotonic()
        self._decoding_since: float | None = None  # when the oldest audio in the decode in flight arrived
        self._accounted = (0.0, 0.0)  # (decode CPU, audio seconds) already given to the capacity estimate
        self._hardened = False
        self._gate_tail = 0
        self.shed = False  # the call is being ended under overload: its audio is no longer decoded
        self._burst = False  # audio arrived faster than real time and its backlog is not worked off yet

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"asr-{self.call_id}-{self.speaker}")

    def feed(self, frame: AudioFrame) -> None:
        """Queue audio (never blocks).  Called on the event loop."""
        if self._closing or self.shed:
            return
        if frame.sample_rate != self.rate:
            raise ValueError(f"stream is {self.rate} Hz, frame is {frame.sample_rate} Hz")
        self.stats.audio_seconds += frame.duration
        if not self._within_real_time(frame.received_at):
            self._burst = True
        self._queue.append((frame.start, frame.pcm, frame.received_at))
        self._queued_bytes += len(frame.pcm)
        if self._queued_bytes >= self._chunk_bytes:
            self._wake.set()

    def drop_backlog(self) -> None:
        """The call is shed under overload: throw away the audio queued and ignore what still arrives.
        Decoding it would spend the very CPU the shed is meant to free (and hold the call's end back until
        it is done); the decode in flight finishes, then `close()` only flushes the last utterance."""
        self.shed = True
        self._queue, self._queued_bytes = [], 0
        self._wake.set()

    async def close(self) -> None:
        """Decode what is queued, flush the last utterance, return the recogniser to the pool."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            # building a recogniser (its lookahead graph) takes ~0.1 s: never on the event loop
            self._rec, self._rec_samples = await loop.run_in_executor(
                self.engine.executor, self.engine.pool.acquire, self.rate
            )
            while True:
                await self._wake.wait()
                self._wake.clear()
                if self._queue:
                    batch = self._take_batch()
                    newest = batch[-1][2]
                    runs = self._gate_batch(batch)
                    # when the gate held it all back as silence there is nothing to decode: no thread hand-off
                    self._decoding_since = batch[0][2]
                    try:
                        results = (
                            await loop.run_in_executor(self.engine.executor, self._decode, runs, False) if runs else []
                        )
                    finally:
                        self._decoding_since = None
                    done = time.monotonic()
                    if not self._burst:  # the wait behind a burst's own audio is not lag of this host
                        self.stats.lags.append((done, done - newest))
                    self._emit(results)
                if self._closing and not self._queue:
                    break
            results = await loop.run_in_executor(self.engine.executor, self._decode, [], True)
            self._emit(results)
            if self._rec is not None:  # settled by the final decode: fit for the next call
                self.engine.pool.release(self.rate, self._rec, self._rec_samples)
        except Exception:
            self._log.exception("recognition failed")  # a recogniser in an unknown state is not reused
        finally:
            self._rec = None
            self.engine._stream_closed(self)

    def _endpoint_split(self, pcm: bytes, start: float) -> list[Run]:
        """All the audio, cut where the gate saw speech stop (the utterance is finished there)."""
        out: list[Run] = []
        pos = 0
        assert self._gate is not None
        for r in self._gate.push(pcm, start):
            if not r.closes:
                continue
            cut = round((r.start + len(r.pcm) / 2 / self.rate - start) * self.rate) * 2
            cut = min(max(cut, pos), len(pcm))
            out.append(Run(start + pos / 2 / self.rate, pcm[pos:cut], closes=True))
            pos = cut
        if pos < len(pcm):
            out.append(Run(start + pos / 2 / self.rate, pcm[pos:]))
        return out

    def _contiguous(self, runs: list[Run]) -> list[Run]:
        """Runs joined where one starts as the one before it ends (never across an utterance's end)."""
        out: list[Run] = []
        for r in runs:
            if out and not out[-1].closes:
                last = out[-1]
                if abs(last.start + len(last.pcm) / 2 / self.rate - r.start) < 1e-4:
                    out[-1] = last.joined(r)
                    continue
            out.append(r)
        return out

    def _take_batch(self) -> list[tuple[float, bytes, float]]:
        """The queued audio for one decode, at most MAX_DECODE_SECONDS of it: a stream that fell behind catches
        up in steps, so its backlog (and the overload policy watching it) sees each step, and a call that is
        shed stops costing decode time within a step."""
        limit = int(self.rate * 2 * MAX_DECODE_SECONDS)
        taken = 0
        n = 0
        while n < len(self._queue) and (n == 0 or taken + len(self._queue[n][1]) <= limit):
            taken += len(self._queue[n][1])
            n += 1
        batch, self._queue = self._queue[:n], self._queue[n:]
        self._queued_bytes -= taken
        if self._queue:
            self._wake.set()  # the rest is decoded next, without waiting for more audio
        return batch

    def backlog(self, now: float) -> float:
        """Seconds since the oldest audio that is received but not yet decoded arrived (0 when none, or when
        the stream is shed: nobody waits for its audio any more)."""
        if self.shed:
            return 0.0
        oldest = [t for t in (self._decoding_since, self._queue[0][2] if self._queue else None) if t is not None]
        return now - min(oldest) if oldest else 0.0

    def paced(self, now: float) -> bool:
        """The phone system sends this stream at about real time.  A stream sent faster (a test tool, a
        replay, a burst after a network stall) builds a backlog of its own making, which says nothing about
        whether this host keeps up with live calls."""
        if self._burst:
            if self._queue or self._decoding_since is not None:
                return False  # still working off what it dumped (a 3 s noise burst stays unpaced until decoded)
            self._burst = False
        return self._within_real_time(now)

    def _within_real_time(self, now: float) -> bool:
        return self.stats.audio_seconds <= (now - self.opened_at) * PACED_RATIO + PACED_SLACK

    def account(self) -> tuple[float, float]:
        """Wall-clock decode seconds and audio seconds since the last call (for the engine's capacity
        estimate: wall time, unlike CPU time, also grows when other work on the host slows decoding)."""
        cpu, audio = self.stats.decode_wall, self.stats.audio_seconds
        before = self._accounted
        self._accounted = (cpu, audio)
        return cpu - before[0], audio - before[1]

    def _harden_gate(self, on: bool) -> None:
        """Under overload the gate needs speech 6 dB further above the noise floor and keeps less padding."""
        gate = self._gate
        if gate is None or on == self._hardened:
            return
        self._hardened = on
        step = 1 if on else -1
        gate.above_floor_db += step * HARDER_GATE_DB
        if on:
            self._gate_tail = gate.tail_frames
            gate.tail_frames = max(1, gate.tail_frames // 2)
        else:
            gate.tail_frames = self._gate_tail

    def _gate_batch(self, batch: list[tuple[float, bytes, float]]) -> list[Run]:
        """Join contiguous audio into runs.  `energy`: keep only speech (+padding) and finish each
        utterance where speech stops; `endpoint`: keep all audio, finish utterances the same way.
        The gate sees a contiguous block at a time (one numpy pass per 100 ms, not per 20 ms frame)."""
        self._harden_gate(self.engine.governor.gate_harder)
        pieces: list[Run] = []
        for block in self._contiguous([Run(start, pcm) for start, pcm, _ in batch]):
            if self._gate is None:
                pieces.append(block)
            elif self.engine.vad == "endpoint":
                pieces += self._endpoint_split(block.pcm, block.start)
            else:
                pieces += self._gate.push(block.pcm, block.start)
        return self._contiguous(pieces)

    # ---- runs on the decode pool -------------------------------------------------------------

    def _accept(self, pcm: bytes, start: float, out: list[dict[str, Any]]) -> None:
        self._map.add(self._rec_samples, start)
        if self._utt_start is None:
            self._utt_start = start
        is_final = self._rec.AcceptWaveform(pcm)
        self._rec_samples += len(pcm) // 2
        self._fed_until = start + len(pcm) / 2 / self.rate
        if is_final:
            out.append({"final": json.loads(self._rec.Result()), "utt_start": self._utt_start})
            self._utt_start = None
            self._open_utt = False
            self._endpointed = True
        else:
            self._open_utt = True
            self._endpointed = False

    def _flush_carry(self, out: list[dict[str, Any]]) -> None:
        if self._carry:
            self._accept(self._carry, self._carry_start, out)
            self._carry = b""

    def _finish_utterance(self, out: list[dict[str, Any]]) -> None:
        self._flush_carry(out)
        if self._open_utt:
            out.append({"final": json.loads(self._rec.FinalResult()), "utt_start": self._utt_start})
            self._utt_start = None
            self._open_utt = False

    def _settle_for_reuse(self) -> None:
        """Leave the recogniser as a fresh one for the next call.  vosk rebuilds its feature pipeline
        (online CMVN and i-vector adaptation) only after `FinalResult()` on a running recogniser; one
        whose last utterance was closed by its own endpointer (`Result()`) would carry this call's
        adaptation into the next call and decode the same audio differently.  A moment of silence
        makes it running again, so `FinalResult()` takes effect; its result is discarded."""
        if not self._endpointed:
            return
        silence = bytes(self._chunk_bytes)
        self._rec.AcceptWaveform(silence)
        self._rec_samples += len(silence) // 2
        self._rec.FinalResult()
        self._endpointed = False

    def _decode(self, runs: list[Run], final: bool) -> list[dict[str, Any]]:
        """Feed vosk in pieces of exactly `chunk_ms` on the stream's own sample grid (the rest waits
        in a carry buffer), so results do not depend on how audio happened to be batched: vosk
        checks for an endpoint only at the end of each AcceptWaveform."""
        t0 = time.thread_time()
        w0 = time.perf_counter()
        out: list[dict[str, Any]] = []
        fed_before = self._rec_samples
        step = self._chunk_bytes
        for run in runs:
            samples = len(run.pcm) // 2
            if samples:
                power = run.power
                if power is None:  # not gated: measure it here
                    a = np.frombuffer(run.pcm, dtype="<i2").astype(np.float32)
                    power = float(a @ a) / samples
                self._energy.append((run.start, run.start + samples / self.rate, power))
            if self._carry and abs(self._carry_start + len(self._carry) / 2 / self.rate - run.start) > 1e-4:
                self._flush_carry(out)  # a gap in the audio: finish the piece before it
            if not self._carry:
                self._carry_start = run.start
            data = self._carry + run.pcm
            whole = len(data) - len(data) % step
            for off in range(0, whole, step):
                self._accept(data[off : off + step], self._carry_start + off / 2 / self.rate, out)
            self._carry = data[whole:]
            self._carry_start += whole / 2 / self.rate
            self.stats.decoded_seconds += samples / self.rate
            if run.closes:
                # the gate saw the speech end; if vosk's endpointer has not fired yet, finish it
                self._finish_utterance(out)
        if final:
            self._finish_utterance(out)
            self._settle_for_reuse()
        elif self._open_utt and self._rec_samples != fed_before and self.engine.governor.partials:
            out.append(
                {"partial": json.loads(self._rec.PartialResult()), "utt_start": self._utt_start, "at": self._fed_until}
            )
        self.stats.decode_cpu += time.thread_time() - t0
        self.stats.decode_wall += time.perf_counter() - w0
        self.stats.decodes += 1
        return out

    # ---- back on the loop --------------------------------------------------------------------

    def _emit(self, results: list[dict[str, Any]]) -> None:
        for r in results:
            if "final" in r:
                seg = self._final_segment(r["final"], r["utt_start"])
                self._last_partial = ""
                if seg is not None:
                    self.sink(seg)
            else:
                text = (r["partial"].get("partial") or "").strip()
                if text and text != self._last_partial:
                    self._last_partial = text
                    start = r["utt_start"] if r["utt_start"] is not None else r["at"]
                    self.sink(self._segment(final=False, start=start, end=r["at"], text=text, words=[]))

    def _final_segment(self, res: dict[str, Any], utt_start: float | None) -> TranscriptSegment | None:
        text = (res.get("text") or "").strip()
        if not text:
            return None
        words = [
            Word(
                word=w["word"],
                start=round(self._map.to_call_time(w["start"]), 3),
                end=round(self._map.to_call_time(w["end"]), 3),
                conf=float(w.get("conf", 1.0)),
            )
            for w in res.get("result", [])
        ]
        if words:
            start, end = words[0].start, words[-1].end
        else:
            start = utt_start or 0.0
            end = start
        seg = self._segment(final=True, start=start, end=end, text=text, words=words)
        self._index += 1
        self._trim_energy(end)
        return seg

    def _segment(self, *, final: bool, start: float, end: float, text: str, words: list[Word]) -> TranscriptSegment:
        return TranscriptSegment(
            call_id=self.call_id,
            segment_id=f"{self.call_id}:{self.speaker}:{self._index}",
            index=self._index,
            speaker=self.speaker,
            final=final,
            start=round(start, 3),
            end=round(end, 3),
            text=text,
            words=words,
            loudness_db=self._loudness(start, end),
            language=self.language,
        )

    def _loudness(self, start: float, end: float) -> float | None:
        num = den = 0.0
        for s, e, ms in self._energy:
            overlap = min(e, end) - max(s, start)
            if overlap > 0:
                num += ms * overlap
                den += overlap
        if den <= 0:
            return None
        return round(10.0 * float(np.log10(max(num / den, 1e-3) / (32768.0 * 32768.0))), 1)

    def _trim_energy(self, upto: float) -> None:
        self._energy = [x for x in self._energy if x[1] > upto - 1.0]


class AsrEngine:
    """The process-wide recognition service: model, decode pool, recogniser pool, admission."""

    def __init__(
        self,
        model_path: Path | None,
        *,
        workers: int,
        chunk_ms: int = 100,
        vad: str = "energy",
        max_streams: int = 10,
        max_lag: float = 1.5,
        gate_options: dict[str, float] | None = None,
    ) -> None:
        self.holder = ModelHolder(model_path)
        self.gate_options = dict(gate_options or {})
        self.executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="vosk")
        self.chunk_ms = chunk_ms
        self.vad = vad
        self.max_streams = max_streams
        self.max_lag = max_lag
        self.pool: RecognizerPool = RecognizerPool(None, limit=max_streams)
        self.streams: set[SpeakerStream] = set()
        self.refused = 0
        self.finished_lags: deque[float] = deque(maxlen=50000)
        self.finished_decode_cpu = 0.0  # decode-thread CPU seconds of closed streams
        self.governor = Governor(max_lag)
        self.capacity = Capacity(cores=min(max(1, workers), os.cpu_count() or 1))
        self.on_shed: Callable[[str, str], None] | None = None  # (call_id, why): end that call now
        self._watch_task: asyncio.Task[None] | None = None

    @property
    def available(self) -> bool:
        return self.holder.model is not None

    async def start(self) -> None:
        if self.holder.path is None:
            log.warning(
                "no speech model configured: calls are accepted but NOT transcribed",
                hint="run `assist model install zh` and set ASSIST_VOSK_MODEL",
            )
            return
        loop = asyncio.get_running_loop()
        model = await loop.run_in_executor(self.executor, self.holder.load)
        self.pool = RecognizerPool(model, limit=self.max_streams)
        log.info("speech model loaded", path=str(self.holder.path), seconds=round(self.holder.load_seconds, 2))
        self._watch_task = loop.create_task(self._watch(), name="asr-load-watch")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            self.watch(time.monotonic())

    def watch(self, now: float) -> None:
        """Measure the backlog and the decode cost; step the overload level; shed the newest call if told."""
        for s in self.streams:
            self.capacity.add(*s.account())
        backlog = self.backlog(now)
        before = self.governor.level
        if self.governor.observe(now, backlog):
            self._shed(backlog)
        if self.governor.level != before:
            log.warning(
                "recognition overload level changed",
                level=self.governor.level.name,
                was=before.name,
                backlog=round(backlog, 2),
                streams=len(self.streams),
            )

    def backlog(self, now: float) -> float:
        """The oldest undecoded audio of the streams that arrive at about real time (seconds)."""
        return max((s.backlog(now) for s in self.streams if s.paced(now)), default=0.0)

    def _shed(self, backlog: float) -> None:
        # a call already shed (or hanging up) stays among the streams until its last decode returns: it is
        # not a candidate again, or every later shed would pick it and end nothing
        candidates = [s for s in self.streams if not s.shed and not s._closing]
        if not candidates or self.on_shed is None:
            return
        newest = max(candidates, key=lambda s: s.opened_at)
        for s in self.streams:
            if s.call_id == newest.call_id:
                s.drop_backlog()
        why = (
            f"overloaded: recognition is {backlog:.1f}s behind with {len(self.streams)} streams; "
            "the newest call is ended so the others keep up"
        )
        log.warning("shedding a call", call_id=newest.call_id, backlog=round(backlog, 2))
        self.on_shed(newest.call_id, why)

    async def stop(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch_task
        for s in list(self.streams):
            await s.close()
        self.executor.shutdown(wait=True, cancel_futures=False)

    def current_lag(self) -> float:
        """The recent decode lag of the streams that arrive at about real time: a stream sent faster (a burst,
        a scanner dumping noise) waits behind its own audio, which says nothing about live calls."""
        now = time.monotonic()
        return max((s.stats.recent_lag(now) for s in self.streams if s.paced(now)), default=0.0)

    def admission(self, new_streams: int, active: int | None = None) -> str | None:
        """None when `new_streams` more streams can be decoded in real time, else why not.

        `active` is the number of streams already promised to admitted calls (defaults to the open ones)."""
        if not self.available:
            return None
        busy = len(self.streams) if active is None else max(active, len(self.streams))
        if not self.governor.admitting:
            return f"overloaded: recognition is shedding load (level {self.governor.level.name})"
        limit = self.stream_limit()
        if busy + new_streams > limit:
            return f"at capacity: {busy} of {limit} recognition streams busy"
        lag = self.current_lag()
        if lag > self.max_lag:
            return f"recognition is lagging {lag:.2f}s behind (limit {self.max_lag:.2f}s)"
        return None

    def stream_limit(self) -> int:
        """Streams admitted: the configured ceiling, or fewer when this host measurably decodes fewer."""
        measured = self.capacity.streams()
        return self.max_streams if measured is None else min(self.max_streams, measured)

    def open_stream(
        self, call_id: str, speaker: Speaker, sample_rate: int, language: str, sink: SegmentSink
    ) -> SpeakerStream | None:
        if not self.available:
            return None
        s = SpeakerStream(self, call_id, speaker, sample_rate, language, sink)
        self.streams.add(s)
        s.start()
        return s

    def _stream_closed(self, s: SpeakerStream) -> None:
        self.streams.discard(s)
        self.finished_lags.extend(lag for _, lag in s.stats.lags)
        self.finished_decode_cpu += s.stats.decode_cpu
        self.capacity.add(*s.account())

    def lag_summary(self) -> dict[str, float]:
        """Decode lag (audio received -> decoded) over recent and finished streams, in seconds."""
        vals = sorted([*self.finished_lags, *(lag for s in self.streams for _, lag in s.stats.lags)])
        if not vals:
            return {"p50": 0.0, "p95": 0.0, "max": 0.0}
        return {
            "p50": round(vals[len(vals) // 2], 3),
            "p95": round(vals[int(len(vals) * 0.95)], 3),
            "max": round(vals[-1], 3),
        }

    def status(self) -> dict[str, Any]:
        return {
            "model": str(self.holder.path) if self.holder.path else None,
            "transcribing": self.available,
            "streams": len(self.streams),
            "max_streams": self.max_streams,
            "lag": round(self.current_lag(), 3),
            "lag_summary": self.lag_summary(),
            "decode_cpu_seconds": round(self.finished_decode_cpu + sum(s.stats.decode_cpu for s in self.streams), 3),
            "max_lag": self.max_lag,
            "backlog": round(self.backlog(time.monotonic()), 3),
            "overload_level": self.governor.level.name,
            "shed": self.governor.shed_count,
            "stream_limit": self.stream_limit(),
            "decode_cost": None if self.capacity.cost is None else round(self.capacity.cost, 4),
            "refused": self.refused,
            "recognizers_created": self.pool.created,
            "recognizers_reused": self.pool.reused,
            "recognizers_idle": self.pool.idle_count(),
            "vad": self.vad,
        }
