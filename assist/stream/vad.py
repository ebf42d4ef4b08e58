"""Energy voice-activity gate in front of the recogniser.

A two-party call is mostly silence on each channel, and a vosk recogniser costs about as much on
silence as on speech.  The gate passes speech plus padding (a pre-roll before the first loud frame,
a tail after the last one) and holds back the rest.

Speech has stopped after `hangover` seconds of quiet: a closing run ends exactly there (an empty
marker when its audio went out earlier), and the caller finishes the utterance.  The decoder needs
only the first `tail` seconds of that quiet (the word's end and some silence after it); the rest of
a pause is held like silence, and if speech resumes before the hangover ends, the last `pre_roll`
seconds of it go to the decoder first, as at any onset (a pause up to tail + pre-roll long reaches
the decoder whole).

A frame is speech when it is louder than `min_dbfs` and `above_floor_db` above the channel's noise
floor; the floor is the quietest 20 ms frame of the last `floor_window` seconds (minimum
statistics), so it learns a noisy line within that window, and speech, which always has quiet gaps
between words, does not drag it up.

Sans-I/O and synchronous: `push(pcm, start)` returns the runs of audio to decode, each with the
call-relative time of its first sample, so the caller can keep the recogniser's timeline mapped.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

FRAME_MS = 20
FRAME_S = FRAME_MS / 1000
FULL_SCALE_MS = 32768.0 * 32768.0  # mean square of a full-scale square wave: 0 dBFS


@dataclass(slots=True)
class Run:
    start: float  # call-relative seconds of pcm[0]
    pcm: bytes
    closes: bool = False  # the gate closed after this run: the utterance is over
    power: float | None = None  # mean square of the samples, when already known (the gate measures it)

    def joined(self, later: Run) -> Run:
        """This run followed directly by `later` (their powers weighted by length; an empty run has none)."""
        if not later.pcm:
            power = self.power
        elif not self.pcm:
            power = later.power
        elif self.power is None or later.power is None:
            power = None
        else:
            power = (self.power * len(self.pcm) + later.power * len(later.pcm)) / (len(self.pcm) + len(later.pcm))
        return Run(self.start, self.pcm + later.pcm, later.closes, power)


class EnergyGate:
    def __init__(
        self,
        sample_rate: int,
        *,
        pre_roll: float = 0.3,
        hangover: float = 0.5,
        tail: float | None = 0.2,
        min_dbfs: float = -50.0,
        above_floor_db: float = 9.0,
        floor_window: float = 5.0,
    ) -> None:
        self.rate = sample_rate
        self.frame_bytes = sample_rate * FRAME_MS // 1000 * 2
        self.pre_roll_frames = max(1, round(pre_roll * 1000 / FRAME_MS))
        self.hangover_frames = max(1, round(hangover * 1000 / FRAME_MS))
        # None: the decoder gets the whole hangover
        tail_frames = self.hangover_frames if tail is None else max(1, round(tail * 1000 / FRAME_MS))
        self.tail_frames = min(self.hangover_frames, tail_frames)
        self.min_dbfs = min_dbfs
        self.above_floor_db = above_floor_db
        self.noise_floor = -60.0  # until the first frame
        self._block_frames = 1000 // FRAME_MS  # floor minima are kept per second
        self._blocks: deque[float] = deque(maxlen=max(1, round(floor_window)))
        self._blocks_min = float("inf")  # min(self._blocks)
        self._block_min = float("inf")
        self._block_n = 0
        self._pending = b""  # bytes not yet making a whole frame
        self._pending_start = 0.0
        self._preroll: deque[tuple[float, bytes, float]] = deque(maxlen=self.pre_roll_frames)  # (t, frame, ms)
        self._open = False
        self._quiet = 0  # consecutive quiet frames while open
        self.frames_in = 0
        self.frames_out = 0

    def _is_speech(self, db: float) -> bool:
        return db > self.min_dbfs and db > self.noise_floor + self.above_floor_db

    def _track_floor(self, db: float) -> None:
        """Minimum statistics: the quietest frame of the last `floor_window` seconds."""
        self._block_min = min(self._block_min, db)
        self._block_n += 1
        if self._block_n == self._block_frames:
            self._blocks.append(self._block_min)
            self._blocks_min = min(self._blocks)  # once a second, not per frame
            self._block_min, self._block_n = float("inf"), 0
        self.noise_floor = min(self._blocks_min, self._block_min)

    def push(self, pcm: bytes, start: float) -> list[Run]:
        """Gate `pcm` (PCM16 LE, call-relative `start`): the runs to decode, in order."""
        data, t0 = self._whole_frames(pcm, start)
        if not data:
            return []
        runs = _Runs()
        size = self.frame_bytes
        for i, ms in enumerate(self._mean_squares(data)):
            self._gate_frame(runs, t0 + i * FRAME_S, data[i * size : (i + 1) * size], ms)
        runs.flush()
        return runs.out

    def _whole_frames(self, pcm: bytes, start: float) -> tuple[bytes, float]:
        """The whole frames buffered so far with `pcm`, and the time of their first sample; the rest waits."""
        if not self._pending:
            self._pending_start = start
        data = self._pending + pcm
        whole = len(data) - len(data) % self.frame_bytes
        self._pending = data[whole:]
        t0 = self._pending_start
        self._pending_start = t0 + whole / 2 / self.rate
        return data[:whole], t0

    def _mean_squares(self, data: bytes) -> list[float]:
        """The mean square of each frame's samples."""
        n = self.frame_bytes // 2
        frames = np.frombuffer(data, dtype="<i2").astype(np.float32).reshape(-1, n)
        return (np.einsum("ij,ij->i", frames, frames) / n).tolist()

    def _gate_frame(self, runs: _Runs, t: float, frame: bytes, ms: float) -> None:
        """One 20 ms frame through the gate: passed on, held as pre-roll, or closing the utterance."""
        self.frames_in += 1
        db = 10.0 * math.log10(max(ms, 1e-3) / FULL_SCALE_MS)
        self._track_floor(db)
        speech = self._is_speech(db)
        if self._open and not (speech and self._quiet > self.tail_frames):
            self._while_open(runs, t, frame, ms, speech)
        elif speech:  # an onset, or speech resuming after a pause longer than the tail
            self._onset(runs, t, frame, ms)
        else:
            self._preroll.append((t, frame, ms))

    def _while_open(self, runs: _Runs, t: float, frame: bytes, ms: float, speech: bool) -> None:
        """Speech, or quiet within the tail, goes on; a pause past the tail is held like silence; quiet past
        the hangover closes the utterance."""
        self._quiet = 0 if speech else self._quiet + 1
        if self._quiet > self.hangover_frames:
            self._open = False
            runs.flush(closes=True, at=t)
            self._preroll.append((t, frame, ms))
        elif self._quiet > self.tail_frames:
            self._preroll.append((t, frame, ms))
        else:
            runs.add(t, frame, ms)
            self.frames_out += 1

    def _onset(self, runs: _Runs, t: float, frame: bytes, ms: float) -> None:
        """Speech starts: the pre-roll goes to the decoder first, then this frame."""
        self._open = True
        self._quiet = 0
        runs.flush()
        for held in self._preroll:
            runs.add(*held)
        self.frames_out += len(self._preroll) + 1
        self._preroll.clear()
        runs.add(t, frame, ms)


class _Runs:
    """The runs one `push` emits, and the run being built (frames with their summed mean squares)."""

    def __init__(self) -> None:
        self.out: list[Run] = []
        self.start: float | None = None
        self.parts: list[bytes] = []
        self.power = 0.0  # sum of the frames' mean squares

    def add(self, t: float, frame: bytes, ms: float) -> None:
        if self.start is None:
            self.start = t
        self.parts.append(frame)
        self.power += ms

    def flush(self, closes: bool = False, at: float = 0.0) -> None:
        """Emit the run being built; `closes`: speech stopped at `at`, whatever the tail passed."""
        if self.parts and self.start is not None:
            ends_at_close = abs(self.start + len(self.parts) * FRAME_S - at) < 1e-6
            self.out.append(
                Run(self.start, b"".join(self.parts), closes and ends_at_close, self.power / len(self.parts))
            )
            if closes and not ends_at_close:
                self.out.append(Run(at, b"", closes=True))
        elif closes:
            self.out.append(Run(at, b"", closes=True))  # the speech was passed on earlier: just mark the end
        self.start, self.parts, self.power = None, [], 0.0
