"""Audio on the call's timeline: protocol positions through the real CallManager into the recognition
streams, with lost packets, huge jumps and tracks the call never declared.

The engine is the real AsrEngine with the decoding swapped for a recorder (no model needed): what is
checked is exactly the AudioFrames a recogniser would be fed.
"""

from __future__ import annotations

import json
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from structlog.testing import capture_logs

from assist.events import AudioFrame, Speaker
from assist.stream.calls import MAX_FILL_SECONDS, CallManager
from assist.stream.protocols.base import Audio, CallStart, ProtocolEvent
from assist.stream.protocols.rtp import RtpReceiver, RtpSender
from assist.stream.protocols.twilio import TwilioClient, TwilioServer
from assist.stream.recognition import AsrEngine, SegmentSink, SpeakerStream
from assist.stream.simulate import wav_tracks


class RecordingStream(SpeakerStream):
    """A SpeakerStream that records the frames it is fed instead of decoding them."""

    def start(self) -> None:
        self.frames: list[AudioFrame] = []

    def feed(self, frame: AudioFrame) -> None:
        self.frames.append(frame)

    async def close(self) -> None:
        return None


class RecordingEngine(AsrEngine):
    def __init__(self) -> None:
        super().__init__(None, workers=1)
        self.opened: dict[Speaker, RecordingStream] = {}

    @property
    def available(self) -> bool:
        return True

    def admission(self, new_streams: int, active: int | None = None) -> str | None:
        return None

    def open_stream(
        self, call_id: str, speaker: Speaker, sample_rate: int, language: str, sink: SegmentSink
    ) -> SpeakerStream | None:
        stream = RecordingStream(self, call_id, speaker, sample_rate, language, sink)
        stream.start()
        self.opened[speaker] = stream
        return stream


@pytest.fixture
def engine() -> Iterator[RecordingEngine]:
    e = RecordingEngine()
    yield e
    e.executor.shutdown()


def tone(freq: float, seconds: float, rate: int = 8000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.round(8000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def write_wav(path: Path, channels: list[np.ndarray], rate: int = 8000) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(len(channels))
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.stack(channels, axis=1).astype("<i2").tobytes())


def run(manager: CallManager, events: list[ProtocolEvent]) -> None:
    call = None
    for ev in events:
        if isinstance(ev, CallStart):
            call = manager.start_call("test", ev)
        elif isinstance(ev, Audio):
            assert call is not None
            manager.audio(call, ev, shared_clock=True)


def joined(stream: RecordingStream) -> np.ndarray:
    """The stream's samples laid end to end, checked to be contiguous on the timeline."""
    rate = stream.rate
    at = stream.frames[0].start
    for f in stream.frames:
        assert f.start == pytest.approx(at), "frames must follow each other without holes"
        at += len(f.pcm) / 2 / rate
    return np.frombuffer(b"".join(f.pcm for f in stream.frames), "<i2")


async def test_twilio_with_5_percent_loss_keeps_every_frame_in_place_and_fills_the_gaps(
    tmp_path: Path, engine: RecordingEngine
) -> None:
    wav = tmp_path / "call.wav"
    write_wav(wav, [tone(300, 10.0), tone(700, 10.0)])
    customer, agent = wav_tracks(wav, 8000)
    client, server = TwilioClient(), TwilioServer()
    rng = np.random.default_rng(15)
    lost: dict[str, list[int]] = {"inbound": [], "outbound": []}
    events: list[ProtocolEvent] = []
    for _, message in client.script(customer, agent):
        msg = json.loads(message)
        if msg["event"] == "media" and rng.random() < 0.05:
            lost[msg["media"]["track"]].append(int(msg["media"]["timestamp"]) * 8)
            continue
        events += server.receive_text(message)
    run(CallManager(engine, lambda ev: None), events)
    got = joined(engine.opened["customer"])
    sent = np.frombuffer(customer, "<i2")
    assert len(got) == len(sent)  # 10 s in, 10 s on the timeline, however many frames were lost
    assert lost["inbound"], "the pattern must lose some customer frames"
    for start in lost["inbound"]:
        assert not got[start : start + 160].any()  # silence where a frame was lost
    keep = np.ones(len(sent), bool)
    for start in lost["inbound"]:
        keep[start : start + 160] = False
    # every frame that arrived sits exactly where it was sent (μ-law round trip error aside)
    assert np.abs(got[keep].astype(int) - sent[keep].astype(int)).max() <= 8000 / 32 + 5


async def test_rtp_packet_loss_is_filled_with_silence(engine: RecordingEngine) -> None:
    sender, receiver = RtpSender(0), RtpReceiver(reorder_packets=0)
    pcm = tone(440, 1.0).tobytes()
    events: list[ProtocolEvent] = []
    for k, (_, datagram) in enumerate(sender.script(pcm)):
        if k in (10, 11, 30):  # three 20 ms packets lost
            continue
        events += receiver.receive_data(datagram)
    run(CallManager(engine, lambda ev: None), events)
    got = joined(engine.opened["customer"])
    assert len(got) == 8000
    assert not got[1600:1760].any() and not got[4800:4960].any()


async def test_a_huge_jump_is_not_filled_and_is_logged(engine: RecordingEngine) -> None:
    manager = CallManager(engine, lambda ev: None)
    call = manager.start_call("test", CallStart(external_id="c", sample_rate=8000, speakers=("customer",)))
    pcm = b"\x01\x00" * 160
    manager.audio(call, Audio("customer", pcm, 8000, 0))
    with capture_logs() as logs:
        manager.audio(call, Audio("customer", pcm, 8000, 10**12))  # a peer claiming 3,000 years later
    frames = engine.opened["customer"].frames
    assert [len(f.pcm) for f in frames] == [320, 320]  # nothing allocated for the gap
    [line] = [e for e in logs if e["event"] == "gap in audio too long to fill with silence"]
    assert line["limit"] == MAX_FILL_SECONDS
    manager.audio(call, Audio("customer", pcm, 8000, 10**12 + 200))  # small gaps after it are filled again
    assert len(frames[-1].pcm) == 2 * (40 + 160)


async def test_no_stream_opens_for_a_track_the_call_did_not_declare(engine: RecordingEngine) -> None:
    manager = CallManager(engine, lambda ev: None)
    call = manager.start_call("test", CallStart(external_id="c", sample_rate=8000, speakers=("customer",)))
    pcm = b"\x01\x00" * 160
    with capture_logs() as logs:
        for k in range(3):
            manager.audio(call, Audio("agent", pcm, 8000, 160 * k))
    assert "agent" not in engine.opened and "agent" not in call.tracks
    assert [e["event"] for e in logs] == ["audio for a track the call did not declare; dropped"]
