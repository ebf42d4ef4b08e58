"""Live calls: the one internal model every phone protocol ends in.

A call has metadata and two timed PCM16 tracks, customer and agent.  Protocol adapters (through the
web layer) call `CallManager.start_call` / `audio` / `end_call`; the manager places audio on the
call's timeline, feeds the recognisers and emits `CallStarted`, `CallUpdated`, `TranscriptSegment`
and `CallEnded` to one sink.  It knows nothing of the coach, the store or the web.

Calls a protocol does not tie to an agent or account (AudioHook, AudioSocket, RTP) are registered or
claimed through `register` / `update` (the dialler/CTI API), before or during the call.

One connection feeds each track.  A further connection joins a live call only as a leg the call was
registered with (an AudioSocket UUID or an RTP port for a speaker no connection feeds yet), or as the
AudioHook session that resumes a call its previous session closed with reason `reconnect` (within
`RECONNECT_GRACE` seconds; the timeline and segment numbering continue).  Any other connection that
names a live call is refused with the protocol's refusal ("call id already live") and counted
(`duplicates_refused`), so nobody can push a call's real audio out by streaming under its id.

Metadata (a protocol's custom parameters, a registration's or update's `meta`) passes the `mask_meta`
function the composition root gives (the coach's ID/bank-card masking) as it arrives, so no event, live
snapshot or stored row ever holds those numbers unmasked.

While the node drains (`draining`, set by the service on SIGTERM or the admin API) a new call or registration is
refused with the protocol's refusal, reason `draining: …`; calls in progress, their further legs and
reconnecting sessions, and calls registered before the drain began are still admitted.  Every refusal is
counted by kind in `refusals` (`refusal_kind`), for the metrics.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from assist import logs
from assist.events import (
    SPEAKERS,
    AudioFrame,
    CallEnded,
    CallRefused,
    CallStarted,
    CallUpdated,
    Speaker,
)
from assist.stream.protocols.base import Audio, CallStart, Refusal
from assist.stream.recognition import AsrEngine, SpeakerStream

log = logs.get(__name__)

Sink = Callable[[Any], None]
MetaMasker = Callable[[dict[str, Any], str | None], dict[str, Any]]  # (meta, call language) -> masked meta
# A gap in a track's positions (lost packets, frames that never arrived) up to this long is filled with
# silence, so the recogniser hears the pause where it happened; a longer jump is logged and left as a
# jump on the timeline (filling it would allocate memory for whatever a peer claims).
MAX_FILL_SECONDS = 2.0
# Protocols whose legs arrive as separate connections, one per speaker, tied to a call by registration.
LEG_PROTOCOLS = ("audiosocket", "rtp")
# Seconds a call stays live after its connection closed with reason `reconnect` (Genesys AudioHook closes
# a session so, then opens a new one for the same conversation): the new session continues the call.
RECONNECT_GRACE = 10.0
DRAINING = "draining: this node is shutting down; connect to another node"
# A refusal's reason (its first words) -> the short kind it is counted under.
REFUSAL_KINDS = (
    ("draining", "draining"),
    ("at capacity", "capacity"),
    ("overloaded", "overload"),
    ("recognition is lagging", "lag"),
    ("call id already live", "duplicate"),
    ("no free RTP ports", "no_rtp_port"),
)


def refusal_kind(why: str) -> str:
    """The kind a refusal is counted under (`REFUSAL_KINDS`), `other` for a reason not listed."""
    return next((kind for prefix, kind in REFUSAL_KINDS if why.startswith(prefix)), "other")


@dataclass
class Registration:
    """What a dialler/CTI told us about a call before (or while) its audio flows."""

    call_id: str
    agent_id: str | None = None
    account_id: str | None = None
    language: str | None = None
    protocol: str | None = None
    customer_phone: str | None = None
    direction: Literal["inbound", "outbound"] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    legs: dict[str, Speaker] = field(default_factory=dict)  # AudioSocket UUID -> speaker
    rtp: dict[Speaker, int] = field(default_factory=dict)  # speaker -> UDP port
    rtp_payload_type: int = 0
    created: float = field(default_factory=time.monotonic)


@dataclass
class Track:
    speaker: Speaker
    rate: int
    offset: float  # call-relative seconds of sample 0 of this track
    next_pos: int = 0
    stream: SpeakerStream | None = None

    @property
    def end_time(self) -> float:
        return self.offset + self.next_pos / self.rate


@dataclass
class LiveCall:
    call_id: str
    protocol: str
    started: CallStarted
    expected: tuple[Speaker, ...]
    start_mono: float = field(default_factory=time.monotonic)
    tracks: dict[Speaker, Track] = field(default_factory=dict)
    connections: int = 0
    ended: bool = False
    end_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # the connections' ways to tell the phone system that we ended the call: (reason, detail)
    hangups: list[Callable[[str, str], None]] = field(default_factory=list)
    end_detail: str | None = None  # why we ended it, in words for the phone system (overload)
    undeclared: set[str] = field(default_factory=set)  # speakers whose audio was dropped (logged once)
    # speakers that arrive as registered legs (separate connections) rather than with the first connection
    leg_speakers: frozenset[Speaker] = frozenset()
    # the connection feeding each track (an opaque token, the driver); audio from any other is dropped
    feeders: dict[Speaker, object] = field(default_factory=dict)
    suspended_at: float | None = None  # monotonic time its last connection closed for a reconnect
    resume_timer: asyncio.Task[None] | None = None  # ends the call when no session resumes it in time
    clock_base: float = 0.0  # call time of position 0 of the current connection's tracks (shared clock)
    reconnects: int = 0


class CallManager:
    def __init__(
        self,
        engine: AsrEngine,
        sink: Sink,
        *,
        default_language: str = "zh-CN",
        rtp_ports: range | None = None,
        reconnect_grace: float = RECONNECT_GRACE,
        mask_meta: MetaMasker | None = None,
    ) -> None:
        self.reconnect_grace = reconnect_grace
        # masks ID/card numbers in metadata as it arrives, before any event, snapshot or row carries it
        # (given by the composition root: the masking rules are the coach's, which this part cannot import)
        self._mask_meta = mask_meta
        self.engine = engine
        self.sink = sink
        self.default_language = default_language
        self.registrations: dict[str, Registration] = {}
        self.live: dict[str, LiveCall] = {}
        self._legs: dict[str, tuple[str, Speaker]] = {}  # AudioSocket UUID -> (call_id, speaker)
        self._rtp: dict[int, tuple[str, Speaker, int]] = {}  # port -> (call_id, speaker, payload type)
        self._free_ports: list[int] = list(rtp_ports) if rtp_ports else []
        self.counters: dict[str, int] = {
            "calls_started": 0,
            "calls_ended": 0,
            "calls_refused": 0,
            "calls_shed": 0,
            "probes": 0,
            "duplicates_refused": 0,
        }
        self.refusals: Counter[str] = Counter()  # refused calls and registrations by `refusal_kind`
        self.ended_call_seconds = 0.0  # call audio (timeline seconds, not per track) of the calls that ended
        self.draining = False  # refuse new calls and registrations (the node is going away)
        self._tasks: set[asyncio.Task[Any]] = set()
        engine.on_shed = self.shed

    def shed(self, call_id: str, why: str) -> None:
        """Recognition is overloaded: end this call now (its phone system is told with the protocol's own
        refusal), so the calls that stay keep up."""
        call = self.live.get(call_id)
        if call is None or call.ended:
            return
        self.counters["calls_shed"] += 1
        log.warning("call shed under overload", call_id=call_id, protocol=call.protocol, reason=why)
        self.sink(CallRefused(call_id=call_id, protocol=call.protocol, reason=why))
        call.end_detail = why
        self._spawn(self.end_call(call_id, "overload"))

    # ---- dialler / CTI API --------------------------------------------------------------------

    def register(
        self,
        *,
        call_id: str | None = None,
        agent_id: str | None = None,
        account_id: str | None = None,
        language: str | None = None,
        protocol: str | None = None,
        customer_phone: str | None = None,
        direction: Literal["inbound", "outbound"] | None = None,
        meta: dict[str, Any] | None = None,
        audiosocket: dict[Speaker, str] | None = None,
        rtp_payload_type: int | None = None,
    ) -> Registration:
        """Register a call ahead of its audio, or claim a live one (then it is an update).  Raises Refusal
        for a new registration while draining, or when no RTP port is left."""
        call_id = call_id or uuid.uuid4().hex
        if self.draining and call_id not in self.live and call_id not in self.registrations:
            self.refusals["draining"] += 1
            log.info("registration refused: draining", call_id=call_id)
            raise Refusal(DRAINING)
        if call_id in self.live:
            self.update(call_id, agent_id=agent_id, account_id=account_id, language=language, meta=meta)
        reg = self.registrations.get(call_id) or Registration(call_id=call_id)
        for k, v in (
            ("agent_id", agent_id),
            ("account_id", account_id),
            ("language", language),
            ("protocol", protocol),
            ("customer_phone", customer_phone),
            ("direction", direction),
        ):
            if v is not None:
                setattr(reg, k, v)
        reg.meta.update(self.mask(meta or {}, reg.language or self.default_language))
        for speaker, leg in (audiosocket or {}).items():
            leg_id = str(uuid.UUID(leg))
            owner = self._legs.get(leg_id)
            if owner and owner[0] != call_id:
                raise ValueError(f"AudioSocket UUID {leg_id} already belongs to call {owner[0]}")
            reg.legs[leg_id] = speaker
            self._legs[leg_id] = (call_id, speaker)
        if rtp_payload_type is not None:
            if rtp_payload_type not in (0, 118):
                raise ValueError(f"rtp payload_type {rtp_payload_type} unsupported: use 0 (PCMU) or 118 (L16/16000)")
            if not reg.rtp:
                if len(self._free_ports) < 2:
                    self.refusals["no_rtp_port"] += 1
                    raise Refusal("no free RTP ports left in the configured range")
                for speaker in SPEAKERS:
                    port = self._free_ports.pop(0)
                    reg.rtp[speaker] = port
                    self._rtp[port] = (call_id, speaker, rtp_payload_type)
            reg.rtp_payload_type = rtp_payload_type
        self.registrations[call_id] = reg
        return reg

    def update(
        self,
        call_id: str,
        *,
        agent_id: str | None = None,
        account_id: str | None = None,
        language: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> CallUpdated | None:
        call = self.live.get(call_id)
        if call is None:
            return None
        st = call.started
        meta = self.mask(meta or {}, language or st.language) or None
        changes = {
            k: v
            for k, v in (("agent_id", agent_id), ("account_id", account_id), ("language", language))
            if v is not None and getattr(st, k) != v
        }
        if not changes and not meta:
            return None
        call.started = st.model_copy(update={**changes, "meta": {**st.meta, **(meta or {})}})
        ev = CallUpdated(call_id=call_id, meta=meta or {}, **changes)
        self.sink(ev)
        return ev

    def mask(self, meta: dict[str, Any], language: str | None) -> dict[str, Any]:
        """`meta` with sensitive numbers masked (as it is when no masker was given)."""
        return self._mask_meta(meta, language) if self._mask_meta is not None and meta else meta

    def leg(self, leg_id: str) -> tuple[str, Speaker] | None:
        return self._legs.get(leg_id)

    def rtp_port(self, port: int) -> tuple[str, Speaker, int] | None:
        return self._rtp.get(port)

    # ---- from protocol adapters -----------------------------------------------------------------

    def start_call(
        self,
        protocol: str,
        start: CallStart,
        *,
        call_id: str | None = None,
        speakers: tuple[Speaker, ...] | None = None,
        conn: object | None = None,
    ) -> LiveCall:
        """Admit a call (or a registered further leg of a live call) and announce it.  `conn` is the
        connection asking (any token unique to it): it becomes the one feeder of its speakers' tracks.

        Raises Refusal when admission control turns it away, or when the call id is already live and
        this connection is not one of its registered legs."""
        call_id = call_id or start.external_id or uuid.uuid4().hex
        speakers = speakers or start.speakers
        existing = self.live.get(call_id)
        if existing is not None:
            if protocol == existing.protocol and (
                existing.suspended_at is not None or self._same_audiohook_conversation(existing, start)
            ):
                self._resume(existing, speakers, conn)
            else:
                self._join(existing, protocol, speakers, conn)
            return existing
        reg = self.registrations.pop(call_id, None)
        expected = tuple(
            sorted(set(speakers) | (set(reg.rtp) if reg else set()) | (set(reg.legs.values()) if reg else set()))
        )
        if self.draining and reg is None:  # a call registered before the drain was sent here: it is taken
            why: str | None = DRAINING
        else:
            busy = sum(len(c.expected) for c in self.live.values())
            why = self.engine.admission(len(expected), active=busy)
            if why:
                self.engine.refused += 1
        if why:
            self._release(call_id)  # its registration is gone: its RTP ports and AudioSocket legs go back
            self.counters["calls_refused"] += 1
            self.refusals[refusal_kind(why)] += 1
            self.sink(CallRefused(call_id=call_id, protocol=protocol, reason=why))
            log.warning("call refused", call_id=call_id, protocol=protocol, reason=why)
            raise Refusal(why)
        language = (reg.language if reg and reg.language else None) or start.language or self.default_language
        ev = CallStarted(
            call_id=call_id,
            protocol=protocol,
            external_id=start.external_id,
            agent_id=(reg.agent_id if reg else None) or start.agent_id,
            account_id=(reg.account_id if reg else None) or start.account_id,
            language=language,
            sample_rate=start.sample_rate,
            customer_phone=(reg.customer_phone if reg else None) or start.customer_phone,
            direction=(reg.direction if reg else None) or start.direction,
            transcribed=self.engine.available,
            meta={**self.mask(start.meta, language), **(reg.meta if reg else {})},
        )
        legs = (set(reg.rtp) | set(reg.legs.values())) if reg else set()
        call = LiveCall(
            call_id=call_id,
            protocol=protocol,
            started=ev,
            expected=expected,
            connections=1,
            leg_speakers=frozenset(legs),
            feeders={s: conn for s in speakers if conn is not None},
        )
        self.live[call_id] = call
        self.counters["calls_started"] += 1
        log.info(
            "call started",
            call_id=call_id,
            protocol=protocol,
            agent_id=ev.agent_id,
            account_id=ev.account_id,
            language=language,
            transcribed=ev.transcribed,
        )
        self.sink(ev)
        return call

    def _join(self, call: LiveCall, protocol: str, speakers: tuple[Speaker, ...], conn: object | None) -> None:
        """A further connection for a live call: admitted only as a registered leg for tracks nobody feeds
        yet; anything else is refused (and counted) so it cannot take over the call's tracks."""
        wanted = set(speakers)
        is_leg = (
            protocol == call.protocol
            and protocol in LEG_PROTOCOLS
            and bool(wanted)
            and wanted <= call.leg_speakers
            and not wanted & set(call.feeders)
        )
        if not is_leg:
            self.counters["duplicates_refused"] += 1
            self.counters["calls_refused"] += 1
            self.refusals["duplicate"] += 1
            log.warning(
                "connection for a call that is already live refused",
                call_id=call.call_id,
                protocol=protocol,
                live_protocol=call.protocol,
                speakers=sorted(wanted),
                fed=sorted(call.feeders),
            )
            raise Refusal("call id already live")
        call.connections += 1
        if conn is not None:
            for speaker in wanted:
                call.feeders[speaker] = conn

    @staticmethod
    def _same_audiohook_conversation(call: LiveCall, start: CallStart) -> bool:
        """An AudioHook `open` for a live AudioHook call of the same organization: Genesys reconnecting may
        open the new session before it closes the old one (with reason `reconnect`)."""
        org = start.meta.get("organizationId")
        return (
            call.protocol == "audiohook"
            and bool(org)
            and start.external_id == call.call_id
            and call.started.meta.get("organizationId") == org
        )

    def _resume(self, call: LiveCall, speakers: tuple[Speaker, ...], conn: object | None) -> None:
        """A new session resumes a call suspended for a reconnect (or takes over from the session it
        replaces): its positions start again at 0, so each track continues where the call's audio left off
        plus the wall-clock time the call had no session; the recognition streams (and their segment
        numbering) carry on, and the old session's audio, if any still comes, is dropped."""
        gap = 0.0 if call.suspended_at is None else max(0.0, time.monotonic() - call.suspended_at)
        base = max((t.end_time for t in call.tracks.values()), default=call.clock_base) + gap
        for track in call.tracks.values():
            track.offset, track.next_pos = base, 0
        call.clock_base = base
        call.suspended_at = None
        if call.resume_timer is not None:
            call.resume_timer.cancel()
            call.resume_timer = None
        call.reconnects += 1
        call.connections += 1
        call.feeders = {s: conn for s in speakers if conn is not None}
        log.info(
            "call resumed by a reconnecting session",
            call_id=call.call_id,
            gap=round(gap, 3),
            resumes_at=round(base, 3),
            reconnects=call.reconnects,
        )

    def audio(self, call: LiveCall, a: Audio, *, shared_clock: bool = True, conn: object | None = None) -> None:
        """Place a protocol's Audio on the call's timeline and hand it to recognition.  Audio from a
        connection (`conn`) other than the one feeding that track is dropped."""
        if call.ended:
            return
        if a.speaker not in call.expected:  # never open a stream for a track the call did not declare
            if a.speaker not in call.undeclared:
                call.undeclared.add(a.speaker)
                log.warning(
                    "audio for a track the call did not declare; dropped",
                    call_id=call.call_id,
                    speaker=a.speaker,
                    declared=list(call.expected),
                )
            return
        if conn is not None and call.feeders.get(a.speaker) is not conn:
            return  # a track this connection does not feed
        track = call.tracks.get(a.speaker)
        if track is None:
            wall = time.monotonic() - call.start_mono - a.position / a.sample_rate
            offset = call.clock_base if shared_clock else max(0.0, wall)
            track = Track(a.speaker, a.sample_rate, offset, next_pos=a.position)
            track.stream = self.engine.open_stream(
                call.call_id, a.speaker, a.sample_rate, call.started.language, self.sink
            )
            call.tracks[a.speaker] = track
        if a.sample_rate != track.rate:
            log.warning(
                "sample rate changed mid-call; audio dropped",
                call_id=call.call_id,
                speaker=a.speaker,
                was=track.rate,
                now=a.sample_rate,
            )
            return
        pcm, pos = self._place(call, track, a)
        if not pcm:
            return
        track.next_pos = pos + len(pcm) // 2
        if track.stream is not None:
            track.stream.feed(
                AudioFrame(
                    call_id=call.call_id,
                    speaker=a.speaker,
                    start=track.offset + pos / track.rate,
                    sample_rate=track.rate,
                    pcm=pcm,
                    received_at=time.monotonic(),
                )
            )

    @staticmethod
    def _place(call: LiveCall, track: Track, a: Audio) -> tuple[bytes, int]:
        """`a`'s samples and position as they join the track: an overlap with what the track already has
        is cut off, a gap of up to MAX_FILL_SECONDS is filled with silence (zero samples)."""
        pcm, pos = a.pcm, a.position
        if pos < track.next_pos:  # overlap with what we already have: keep only the new part
            skip = (track.next_pos - pos) * 2
            return (b"", pos) if skip >= len(pcm) else (pcm[skip:], track.next_pos)
        gap = pos - track.next_pos
        if 0 < gap <= MAX_FILL_SECONDS * track.rate:
            return bytes(2 * gap) + pcm, track.next_pos
        if gap:
            log.info(
                "gap in audio too long to fill with silence",
                call_id=call.call_id,
                speaker=a.speaker,
                seconds=round(gap / track.rate, 2),
                limit=MAX_FILL_SECONDS,
            )
        return pcm, pos

    async def connection_closed(self, call: LiveCall, reason: str, *, conn: object | None = None) -> None:
        """One connection of a call ended; the call ends with its last connection.  Returns at once: the
        connection closes now, while the call's queued audio is decoded and its end published in the
        background (`end_all` waits for those)."""
        if conn is not None:
            for speaker, feeder in list(call.feeders.items()):
                if feeder is conn:
                    del call.feeders[speaker]
        call.connections -= 1
        if call.connections > 0 or call.ended:
            return
        if reason == "reconnect" and self.reconnect_grace > 0:
            call.suspended_at = time.monotonic()
            log.info("call waits for a reconnecting session", call_id=call.call_id, grace=self.reconnect_grace)
            call.resume_timer = asyncio.get_running_loop().create_task(self._reconnect_expired(call))
            return
        self._spawn(self.end_call(call.call_id, reason))

    async def _reconnect_expired(self, call: LiveCall) -> None:
        await asyncio.sleep(self.reconnect_grace)
        if call.suspended_at is not None and not call.ended:
            log.warning("no session resumed the call in time; ended", call_id=call.call_id, grace=self.reconnect_grace)
            call.resume_timer = None
            await self.end_call(call.call_id, "reconnect_timeout")

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def end_call(self, call_id: str, reason: str = "hangup") -> CallEnded | None:
        call = self.live.get(call_id)
        if call is None:
            return None
        async with call.end_lock:
            if call.ended:
                return None
            call.ended = True
            if call.resume_timer is not None and call.resume_timer is not asyncio.current_task():
                call.resume_timer.cancel()
            for hang_up in list(call.hangups):  # the phone system hears of it now, not after the decoding
                hang_up(reason, call.end_detail or reason)
            await asyncio.gather(*(t.stream.close() for t in call.tracks.values() if t.stream is not None))
            duration = max((t.end_time for t in call.tracks.values()), default=0.0)
            ev = CallEnded(call_id=call_id, reason=reason, duration=round(duration, 3))
            self.live.pop(call_id, None)
            self._release(call_id)
            self.counters["calls_ended"] += 1
            self.ended_call_seconds += ev.duration
            log.info("call ended", call_id=call_id, reason=reason, duration=ev.duration)
            self.sink(ev)
            return ev

    def call_seconds(self) -> float:
        """Seconds of call audio handled so far: the ended calls' durations plus how far each live call got."""
        live = sum(max((t.end_time for t in c.tracks.values()), default=0.0) for c in self.live.values())
        return self.ended_call_seconds + live

    def _release(self, call_id: str) -> None:
        for leg_id, (cid, _) in list(self._legs.items()):
            if cid == call_id:
                del self._legs[leg_id]
        for port, (cid, _, _) in list(self._rtp.items()):
            if cid == call_id:
                del self._rtp[port]
                self._free_ports.append(port)

    def cancel_registration(self, call_id: str) -> Registration | None:
        """Drop a registration whose call never started (the dialler ended it first): its RTP ports and
        AudioSocket legs are free again at once.  None when there is no such registration."""
        reg = self.registrations.pop(call_id, None)
        if reg is not None:
            self._release(call_id)
            log.info(
                "registration cancelled before the call started", call_id=call_id, rtp_ports=sorted(reg.rtp.values())
            )
        return reg

    def expire_registrations(self, max_age: float = 3600.0) -> None:
        now = time.monotonic()
        for cid, reg in list(self.registrations.items()):
            if now - reg.created > max_age:
                self.registrations.pop(cid)
                self._release(cid)

    async def end_all(self, reason: str = "shutdown") -> None:
        for cid in list(self.live):
            await self.end_call(cid, reason)
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
