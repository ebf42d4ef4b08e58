"""Asterisk AudioSocket TLV stream: byte-level frames, partial reads, errors, and the simulator's legs."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from assist.stream.protocols.audiosocket import (
    TRANSITIONS,
    AudioSocketClient,
    AudioSocketServer,
    AudioSocketState,
    encode_frame,
    with_speaker,
)
from assist.stream.protocols.base import (
    Audio,
    CallStart,
    CallStop,
    Close,
    Dtmf,
    LocalProtocolError,
    ProtocolError,
    ProtocolEvent,
    SendBytes,
    Speaker,
)
from assist.stream.simulate import wav_tracks

CALL_UUID = "40b5ee57-0bd2-4c0d-a4e1-2e0a8f7b6d51"
UUID_FRAME = bytes.fromhex("010010" + "40b5ee570bd24c0da4e12e0a8f7b6d51")
SLIN = bytes(range(256)) + bytes(range(64))  # 320 bytes = 160 samples, 20 ms at 8 kHz
AUDIO_FRAME = bytes.fromhex("100140") + SLIN  # type 0x10, length 0x0140 = 320
DTMF_FRAME = bytes.fromhex("03000135")  # "5"
HANGUP = bytes.fromhex("000000")


def test_whole_call_in_one_read() -> None:
    server = AudioSocketServer()
    events = server.receive_data(UUID_FRAME + AUDIO_FRAME + AUDIO_FRAME + DTMF_FRAME + HANGUP)
    assert events == [
        CallStart(external_id=CALL_UUID, sample_rate=8000, speakers=("customer",), meta={"protocol": "audiosocket"}),
        Audio("customer", SLIN, 8000, 0),
        Audio("customer", SLIN, 8000, 160),
        Dtmf("5", "customer"),
        CallStop("hangup"),
        Close(1000, "hangup"),
    ]
    assert server.receive_data(AUDIO_FRAME) == []  # nothing after hangup
    assert server.connection_closed() == []


def test_frames_split_across_reads_are_reassembled() -> None:
    stream = UUID_FRAME + AUDIO_FRAME + AUDIO_FRAME + HANGUP
    server = AudioSocketServer()
    events: list[ProtocolEvent] = []
    for i in range(len(stream)):  # worst case: one byte per TCP read
        events += server.receive_data(stream[i : i + 1])
    assert [type(e).__name__ for e in events] == ["CallStart", "Audio", "Audio", "CallStop", "Close"]
    assert [e.position for e in events if isinstance(e, Audio)] == [0, 160]


def test_length_beyond_what_arrived_waits_for_more() -> None:
    server = AudioSocketServer()
    server.receive_data(UUID_FRAME)
    assert server.receive_data(AUDIO_FRAME[:100]) == []
    assert server.receive_data(AUDIO_FRAME[100:]) == [Audio("customer", SLIN, 8000, 0)]


def fatal(events: list[ProtocolEvent], text: str) -> None:
    err = events[0]
    assert isinstance(err, ProtocolError) and err.fatal and text in err.message, events
    assert events[1] == SendBytes(HANGUP)
    assert isinstance(events[-1], Close)


def test_audio_before_uuid_is_fatal() -> None:
    server = AudioSocketServer()
    events = server.receive_data(AUDIO_FRAME)
    fatal(events, "audio (0x10, 320 bytes) before the UUID (0x01) frame")
    assert len(events) == 3  # no CallStop: no call had started
    assert server.receive_data(UUID_FRAME) == []


def test_oversized_length_is_fatal_without_waiting_for_the_payload() -> None:
    server = AudioSocketServer(max_payload=4096)
    server.receive_data(UUID_FRAME)
    events = server.receive_data(bytes.fromhex("10ffff") + b"\0" * 10)
    fatal(events, "announces 65535 payload bytes, above the 4096 byte limit")
    assert events[2] == CallStop("protocol-error")


def test_uuid_frame_of_wrong_length_is_fatal() -> None:
    fatal(AudioSocketServer().receive_data(bytes.fromhex("010004deadbeef")), "must carry 16 bytes, got 4")


def test_unknown_type_is_skipped_and_reported_once() -> None:
    server = AudioSocketServer()
    server.receive_data(UUID_FRAME)
    slin16 = bytes.fromhex("110280") + b"\0" * 640
    events = server.receive_data(slin16 + slin16 + AUDIO_FRAME)
    assert len(events) == 2
    assert isinstance(events[0], ProtocolError) and not events[0].fatal
    assert "frame type 0x11 (slin16" in events[0].message
    assert events[1] == Audio("customer", SLIN, 8000, 0)


@pytest.mark.parametrize(
    ("frame", "fatal_", "code", "stop", "text"),
    [
        (bytes.fromhex("ff000102"), True, 2, "error", "0x02 (frame forwarding error)"),
        (bytes.fromhex("ff000104"), True, 4, "error", "0x04 (memory error)"),
        (bytes.fromhex("ff000101"), False, 1, "hangup", "0x01 (caller hung up)"),
        (bytes.fromhex("ff0000"), True, None, "error", "no code"),
    ],
)
def test_error_frame_ends_the_call(frame: bytes, fatal_: bool, code: int | None, stop: str, text: str) -> None:
    server = AudioSocketServer()
    server.receive_data(UUID_FRAME)
    err, call_stop, close = server.receive_data(frame)
    assert isinstance(err, ProtocolError) and err.fatal == fatal_ and err.code == code
    assert err.message == f"Asterisk sent an error frame: {text}"
    assert call_stop == CallStop(stop) and close == Close(1000, "peer error")


def test_odd_slin_byte_is_carried_to_the_next_frame() -> None:
    server = AudioSocketServer()
    server.receive_data(UUID_FRAME)
    events = server.receive_data(bytes.fromhex("100003") + bytes.fromhex("010002"))
    assert isinstance(events[0], ProtocolError) and not events[0].fatal and "leaves an odd byte" in events[0].message
    assert events[1] == Audio("customer", bytes.fromhex("0100"), 8000, 0)
    assert server.receive_data(bytes.fromhex("100001") + b"\x00") == [Audio("customer", bytes.fromhex("0200"), 8000, 1)]


def test_eof_inside_a_frame() -> None:
    server = AudioSocketServer()
    server.receive_data(UUID_FRAME + AUDIO_FRAME[:50])
    err, stop = server.connection_closed()
    assert isinstance(err, ProtocolError) and "50 byte(s) of an incomplete frame dropped" in err.message
    assert stop == CallStop("disconnected")


def test_refuse_and_close_send_only_hangup() -> None:
    server = AudioSocketServer()
    server.receive_data(UUID_FRAME)
    assert server.refuse("busy") == [SendBytes(HANGUP), Close(1000, "busy")]
    server = AudioSocketServer()
    server.receive_data(UUID_FRAME)
    assert server.close("done") == [SendBytes(HANGUP), CallStop("done"), Close(1000, "done")]
    assert AudioSocketServer.audio_frame(SLIN) == AUDIO_FRAME  # the only other thing a server may send


def test_second_uuid_is_ignored() -> None:
    server = AudioSocketServer()
    server.receive_data(UUID_FRAME)
    assert server.receive_data(UUID_FRAME) == []
    [err] = server.receive_data(encode_frame(0x01, bytes(16)))
    assert isinstance(err, ProtocolError) and not err.fatal and "second UUID frame" in err.message


def test_agent_leg_and_remapping() -> None:
    events = AudioSocketServer(speaker="agent").receive_data(UUID_FRAME + AUDIO_FRAME + DTMF_FRAME)
    assert [getattr(e, "speaker", None) for e in events[1:]] == ["agent", "agent"]
    remapped = with_speaker(AudioSocketServer().receive_data(UUID_FRAME + AUDIO_FRAME + DTMF_FRAME), "agent")
    assert remapped == events


# ------------------------------------------------------------------------------------------- simulator


def test_simulator_leg_round_trip(tmp_path: Path) -> None:
    wav = tmp_path / "call.wav"
    rng = np.random.default_rng(3)
    left = rng.integers(-3000, 3000, 8000 // 2 + 80, dtype=np.int16)  # 0.51 s: last frame is short
    right = rng.integers(-3000, 3000, 8000 // 2 + 80, dtype=np.int16)
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.stack([left, right], axis=1).astype("<i2").tobytes())
    tracks = wav_tracks(wav, 8000)
    legs: tuple[Speaker, Speaker] = ("customer", "agent")
    for speaker, pcm in zip(legs, tracks, strict=True):
        client = AudioSocketClient()
        server = AudioSocketServer(speaker=speaker)
        frames = list(client.script(pcm))
        assert frames[0][1][:3] == bytes.fromhex("010010") and frames[-1][1] == HANGUP
        assert all(f[:3] == bytes.fromhex("100140") for _, f in frames[1:-2])  # 320-byte 20 ms frames
        assert [t for t, _ in frames[1:3]] == [0.02, 0.04]
        events = server.receive_data(b"".join(f for _, f in frames))
        start = events[0]
        assert isinstance(start, CallStart) and start.external_id == client.call_uuid
        audio = [e for e in events if isinstance(e, Audio)]
        assert b"".join(a.pcm for a in audio) == pcm
        assert [a.position for a in audio] == list(range(0, 4080, 160))
        assert all(a.speaker == speaker for a in audio)
        assert events[-2:] == [CallStop("hangup"), Close(1000, "hangup")]


def test_fail_hangs_up() -> None:
    server = AudioSocketServer()
    server.receive_data(UUID_FRAME)
    assert server.fail("no media within 10 s", 1008) == [
        SendBytes(HANGUP),
        CallStop("error"),
        Close(1008, "no media within 10 s"),
    ]


def test_audiosocket_wrong_state_calls_and_state_table() -> None:
    assert set(TRANSITIONS) == set(AudioSocketState) and TRANSITIONS[AudioSocketState.ENDED] == frozenset()
    server = AudioSocketServer()
    for call in (server.accept, lambda: server.refuse("busy"), server.close_timeout):
        with pytest.raises(LocalProtocolError, match="state WAITING"):
            call()
    server.receive(UUID_FRAME)
    assert server.state is AudioSocketState.STREAMING and server.accept() == []
    server.receive(HANGUP)
    assert server.state is AudioSocketState.ENDED
    for call in (server.accept, server.close, lambda: server.fail("x")):
        with pytest.raises(LocalProtocolError, match="state ENDED"):
            call()
    with pytest.raises(LocalProtocolError, match="has no text frames"):
        server.receive("hello")
    assert server.connection_closed() == []
