"""Overload policy for recognition: what to give up, in order, when this host cannot decode in real time.

An admitted call must never fall silently behind (an agent's prompts a minute late are worse than none), so
the engine sheds load explicitly, one step at a time, as its backlog (the age of the oldest audio received
but not yet decoded, over all streams) grows:

1. `NO_PARTIALS`: stop computing partial results (finals still come; prompts wait for the end of a phrase);
2. `GATE_HARDER`: the energy gate needs louder speech and keeps less padding, so less audio is decoded;
   new calls are refused;
3. `SHED`: end the newest call (its phone system gets the protocol's refusal), then wait for the backlog to
   drain before shedding another: the next call is shed only once `shed_cooldown` has passed, and as long as
   the backlog at the last shed (the decodes in flight then hold audio up to that old: the shed shows only once
   they return), *and* the backlog is no lower than it was at the last shed (a backlog that is coming down
   needs time, not another victim).

Each step up needs the backlog above its threshold for `raise_after` seconds; each step down needs it
below `recover_ratio` of the first threshold for `lower_after` seconds.

`Capacity` estimates how many streams this host decodes in real time from what it measured (wall-clock
decode time per second of audio, which also grows when other work slows the decoders), so admission follows
the host as it is now and not a number set for another machine.

Sans-I/O: both are fed times and measurements and return decisions; the engine acts on them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum


class Level(IntEnum):
    NORMAL = 0
    NO_PARTIALS = 1
    GATE_HARDER = 2
    SHED = 3


@dataclass
class Governor:
    max_lag: float  # the backlog (seconds) above which partials stop; twice it hardens the gate, three times sheds
    raise_after: float = 2.0
    lower_after: float = 10.0
    recover_ratio: float = 0.5
    shed_cooldown: float = 5.0
    level: Level = Level.NORMAL
    shed_count: int = 0
    _above_since: float | None = None
    _below_since: float | None = None
    _last_shed: float = -math.inf
    _shed_backlog: float = 0.0  # the backlog when the last call was shed (0 = none shed at this level yet)

    def thresholds(self) -> dict[Level, float]:
        """The backlog above which each level is entered."""
        return {Level.NO_PARTIALS: self.max_lag, Level.GATE_HARDER: 2.0 * self.max_lag, Level.SHED: 3.0 * self.max_lag}

    def observe(self, now: float, backlog: float) -> bool:
        """Take one measurement; True when a call should be shed now."""
        limits = self.thresholds()
        target = max((lvl for lvl, limit in limits.items() if backlog > limit), default=Level.NORMAL)
        if target > self.level:
            self._below_since = None
            if self._above_since is None:
                self._above_since = now
            if now - self._above_since >= self.raise_after:
                self.level = Level(self.level + 1)
                self._above_since = now  # the next step needs its own sustained excess
        elif backlog < self.recover_ratio * limits[Level.NO_PARTIALS] and self.level > Level.NORMAL:
            self._above_since = None
            if self._below_since is None:
                self._below_since = now
            if now - self._below_since >= self.lower_after:
                self.level = Level(self.level - 1)
                self._below_since = now
        else:
            self._above_since = None
            self._below_since = None
        if self.level < Level.SHED:
            self._shed_backlog = 0.0
        elif (
            target == Level.SHED
            and now - self._last_shed >= max(self.shed_cooldown, self._shed_backlog)
            and backlog >= self._shed_backlog
        ):
            # a shed frees CPU only once the decodes in flight return (they hold audio up to the backlog old),
            # and the calls that stay then drain their queues at the host's spare speed: shedding again before
            # that, or while the backlog comes down, ends calls that would have kept up (bench/overload.py
            # showed every admitted call shed 5 s apart without this)
            self._last_shed = now
            self._shed_backlog = backlog
            self.shed_count += 1
            return True
        return False

    @property
    def partials(self) -> bool:
        return self.level < Level.NO_PARTIALS

    @property
    def gate_harder(self) -> bool:
        return self.level >= Level.GATE_HARDER

    @property
    def admitting(self) -> bool:
        return self.level < Level.GATE_HARDER


@dataclass
class Capacity:
    """Streams this host can decode in real time, from measured decode CPU per second of audio."""

    cores: float  # decode threads that can run at once (at most the machine's cores)
    utilisation: float = 0.8  # headroom for the event loop, the coach and bursts
    min_audio: float = 60.0  # seconds of audio measured before the estimate is trusted
    half_life: float = 300.0  # seconds of audio over which older measurements fade
    _cpu: float = 0.0
    _audio: float = 0.0

    def add(self, decode_seconds: float, audio_seconds: float) -> None:
        """A stream decoded `audio_seconds` of its audio (speech and silence) in `decode_seconds` of decoding."""
        if audio_seconds <= 0:
            return
        fade = 0.5 ** (audio_seconds / self.half_life)
        self._cpu = self._cpu * fade + decode_seconds
        self._audio = self._audio * fade + audio_seconds

    @property
    def measured(self) -> bool:
        return self._audio >= self.min_audio

    @property
    def cost(self) -> float | None:
        """Decoding seconds per second of one stream's audio (None until measured)."""
        return self._cpu / self._audio if self.measured else None

    def streams(self) -> int | None:
        """How many streams fit in real time (None until measured)."""
        cost = self.cost
        if cost is None:
            return None
        return max(1, int(self.cores * self.utilisation / max(cost, 1e-6)))
