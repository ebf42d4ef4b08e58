"""mod_audio_fork (drachtio) stream: metadata frame, L16 LE binary frames, control messages, simulator."""

from __future__ import annotations

import base64
import itertools
import json
import wave
from pathlib import Path

import numpy as np
import pytest

from assist.stream.protocols.audiofork import (
    SUBPROTOCOL,
    TRANSITIONS,
    AudioForkClient,
    AudioForkServer,
    AudioForkState,
    basic_auth_header,
    check_basic_auth,
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
    SendText,
)
from assist.stream.simulate import wav_channels, wav_tracks

METADATA = (
    '{"callId":"fs-7f3a","agentId":"a-17","accountId":"88231","language":"zh-CN",'
    '"customerPhone":"+8613800000000","direction":"inbound","sampleRate":8000,"channels":2,"queue":"collections"}'
)


def streaming(metadata: str = METADATA) -> AudioForkServer:
    server = AudioForkServer()
    events = server.receive_text(metadata)
    assert isinstance(events[0], CallStart), events
    return server


def first_error(events: list[ProtocolEvent]) -> ProtocolError:
    return next(e for e in events if isinstance(e, ProtocolError))


def error_replies(events: list[ProtocolEvent]) -> list[str]:
    return [json.loads(e.text)["data"]["reason"] for e in events if isinstance(e, SendText)]


def test_subprotocol_name() -> None:
    assert SUBPROTOCOL == "audio.drachtio.org"


def test_metadata_frame_starts_the_call() -> None:
    server = AudioForkServer()
    assert server.receive_text(METADATA) == [
        CallStart(
            external_id="fs-7f3a",
            sample_rate=8000,
            agent_id="a-17",
            account_id="88231",
            language="zh-CN",
            customer_phone="+8613800000000",
            direction="inbound",
            speakers=("customer", "agent"),
            meta={"protocol": "audiofork", "channels": 2, "queue": "collections"},
        )
    ]
    assert server.accept() == []


def test_stereo_frames_channel0_customer_channel1_agent() -> None:
    server = streaming()
    # L16 LE interleaved: (c=1, a=-1), (c=2, a=-2) -> bytes 01 00 ff ff 02 00 fe ff
    frame = bytes.fromhex("0100ffff0200feff")
    assert server.receive_bytes(frame) == [
        Audio("customer", bytes.fromhex("01000200"), 8000, 0),
        Audio("agent", bytes.fromhex("fffffeff"), 8000, 0),
    ]
    # frames of varying size keep counting samples
    both = server.receive_bytes(bytes(4 * 160))
    assert [(a.speaker, a.position, len(a.pcm)) for a in both if isinstance(a, Audio)] == [
        ("customer", 2, 320),
        ("agent", 2, 320),
    ]


def test_mono_16k_agent_only() -> None:
    server = streaming('{"callId":"x","sampleRate":16000,"channels":1,"speaker":"agent"}')
    [audio] = server.receive_bytes(bytes.fromhex("e803" * 320))
    assert audio == Audio("agent", bytes.fromhex("e803" * 320), 16000, 0)


def test_split_sample_is_reported_and_joined_with_the_next_frame() -> None:
    server = streaming()
    events = server.receive_bytes(bytes.fromhex("0100ffff02"))  # 5 bytes: one frame + 1 byte
    assert events[0] == ProtocolError(
        "binary frame of 5 bytes is an odd number of bytes for L16; 1 byte(s) kept for the next frame",
        fatal=False,
    )
    assert error_replies(events) == [first_error(events).message]
    assert events[2:] == [
        Audio("customer", bytes.fromhex("0100"), 8000, 0),
        Audio("agent", bytes.fromhex("ffff"), 8000, 0),
    ]
    events = server.receive_bytes(bytes.fromhex("00feff"))  # completes (2, -2): nothing lost, alignment kept
    assert events == [
        Audio("customer", bytes.fromhex("0200"), 8000, 1),
        Audio("agent", bytes.fromhex("feff"), 8000, 1),
    ]


def test_stereo_frame_that_is_not_whole_sample_frames() -> None:
    server = streaming()
    events = server.receive_bytes(bytes.fromhex("0100ffff0200"))  # 6 bytes: 1.5 stereo frames
    assert "not a whole number of 4-byte stereo frames; 2 byte(s) kept" in first_error(events).message
    assert next(e for e in events if isinstance(e, Audio)).pcm == bytes.fromhex("0100")


def test_dtmf_stop_and_graceful_shutdown() -> None:
    server = streaming()
    assert server.receive_text('{"type":"dtmf","digit":"7"}') == [Dtmf("7")]
    assert server.receive_text('{"type":"dtmf","data":{"digit":"#","speaker":"customer"}}') == [Dtmf("#", "customer")]
    assert server.receive_text('{"type":"stop"}') == [CallStop("stop")]
    assert server.receive_bytes(b"\x00\x00") == []  # nothing after stop
    other = streaming()
    assert other.receive_bytes(b"") == [CallStop("graceful-shutdown")]
    assert other.connection_closed() == []


def test_socket_drop_ends_the_call() -> None:
    assert streaming().connection_closed() == [CallStop("disconnected")]
    assert AudioForkServer().connection_closed() == []


def test_unknown_and_malformed_control_messages_are_not_fatal() -> None:
    server = streaming()
    events = server.receive_text('{"type":"transfer"}')
    assert events[0] == ProtocolError("unknown message type 'transfer' ignored", fatal=False)
    assert error_replies(events) == ["unknown message type 'transfer' ignored"]
    events = server.receive_text("not json")
    assert not first_error(events).fatal and "not valid JSON" in first_error(events).message
    assert "dtmf message without" in first_error(server.receive_text('{"type":"dtmf"}')).message
    assert server.receive_bytes(bytes(4))  # still streaming


def fatal(events: list[ProtocolEvent], code: int, text: str) -> None:
    err, reply, close = events
    assert isinstance(err, ProtocolError) and err.fatal and text in err.message, err
    assert isinstance(reply, SendText) and json.loads(reply.text) == {
        "type": "error",
        "data": {"reason": err.message},
    }
    assert close == Close(code)


def test_audio_before_metadata() -> None:
    fatal(
        AudioForkServer().receive_bytes(b"\x00" * 320),
        1008,
        "binary audio frame (320 bytes) before the metadata",
    )


def test_bad_metadata() -> None:
    fatal(AudioForkServer().receive_text("callId=7"), 1007, "metadata) is not valid JSON")
    fatal(AudioForkServer().receive_text("[1, 2]"), 1007, "not a JSON object")
    fatal(
        AudioForkServer().receive_text('{"sampleRate":44100,"channels":1}'),
        1003,
        "sampleRate must be 8000 or 16000, got 44100",
    )
    fatal(AudioForkServer().receive_text('{"channels":1}'), 1003, "sampleRate must be 8000 or 16000, got None")
    fatal(
        AudioForkServer().receive_text('{"sampleRate":8000,"channels":3}'),
        1003,
        "channels must be 1 or 2, got 3",
    )
    fatal(
        AudioForkServer().receive_text('{"sampleRate":8000,"channels":1,"speaker":"bot"}'),
        1007,
        "speaker must be",
    )


def test_bad_direction_is_ignored_with_a_warning() -> None:
    events = AudioForkServer().receive_text('{"sampleRate":8000,"channels":1,"direction":"sideways"}')
    assert isinstance(events[0], CallStart) and events[0].direction is None
    assert events[1] == ProtocolError("metadata direction 'sideways' ignored (inbound|outbound)", fatal=False)


def test_oversized_text() -> None:
    server = AudioForkServer(max_message_bytes=64)
    fatal(server.receive_text(METADATA), 1009, "exceeds the 64 byte limit")


def test_refuse_and_close() -> None:
    server = streaming()
    assert server.refuse("too many calls") == [
        SendText('{"type": "error", "data": {"reason": "too many calls"}}'),
        Close(1013, "too many calls"),
    ]
    assert streaming().close("bye") == [Close(1000, "bye")]


def test_basic_auth() -> None:
    good = {"Authorization": "Basic " + base64.b64encode(b"fs:s3cret").decode()}
    assert basic_auth_header("fs", "s3cret") == good["Authorization"]
    assert check_basic_auth(good, "fs", "s3cret") is None
    assert check_basic_auth({}, None, None) is None
    assert check_basic_auth({}, "fs", "s3cret") == "missing Authorization header (HTTP Basic auth is required)"
    assert (
        check_basic_auth({"authorization": "Bearer x"}, "fs", "s3cret") == "Authorization scheme 'Bearer' is not Basic"
    )
    assert (
        check_basic_auth({"authorization": "Basic ***"}, "fs", "s3cret")
        == "Authorization Basic credentials are not valid base64 UTF-8"
    )
    nocolon = {"authorization": "Basic " + base64.b64encode(b"fs").decode()}
    assert "no ':'" in (check_basic_auth(nocolon, "fs", "s3cret") or "")
    assert (
        check_basic_auth({"authorization": basic_auth_header("fs", "guess")}, "fs", "s3cret")
        == "wrong user name or password"
    )


# ------------------------------------------------------------------------------------------- simulator


def write_wav(path: Path, rate: int, channels: list[np.ndarray]) -> None:
    data = np.stack(channels, axis=1) if len(channels) > 1 else channels[0]
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(len(channels))
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(data.astype("<i2").tobytes())


def test_simulator_frames_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    left = rng.integers(-20000, 20000, 16000, dtype=np.int16)
    right = rng.integers(-20000, 20000, 16000, dtype=np.int16)
    wav = tmp_path / "call.wav"
    write_wav(wav, 16000, [left, right])
    assert wav_channels(wav) == (16000, [left.astype("<i2").tobytes(), right.astype("<i2").tobytes()])
    customer, agent = wav_tracks(wav, 16000)  # 16 kHz kept as is
    client = AudioForkClient(sample_rate=16000, channels=2, agent_id="a-1", account_id="acc", language="zh-CN")
    server = AudioForkServer()
    events: list[ProtocolEvent] = []
    sizes = []
    for _at, frame in client.script(customer, agent):
        if isinstance(frame, bytes):
            sizes.append(len(frame))
            events += server.receive_bytes(frame)
        else:
            events += server.receive_text(frame)
    assert sizes[:4] == [1280, 2560, 3840, 1280]  # 20, 40, 60, 20 ms of 16 kHz stereo
    start = events[0]
    assert isinstance(start, CallStart)
    assert (start.external_id, start.agent_id, start.account_id, start.sample_rate) == (
        client.call_id,
        "a-1",
        "acc",
        16000,
    )
    assert events[-1] == CallStop("stop")
    assert not [e for e in events if isinstance(e, ProtocolError)]
    for speaker, original in (("customer", customer), ("agent", agent)):
        mine = [e for e in events if isinstance(e, Audio) and e.speaker == speaker]
        assert b"".join(a.pcm for a in mine) == original  # L16 is lossless
        positions = [a.position for a in mine]
        assert positions[0] == 0 and all(b > a for a, b in itertools.pairwise(positions))
        assert all(a.position + len(a.pcm) // 2 == b.position for a, b in itertools.pairwise(mine))


def test_simulator_mono_8k(tmp_path: Path) -> None:
    wav = tmp_path / "mono.wav"
    write_wav(wav, 8000, [np.arange(-400, 400, dtype=np.int16)])
    [customer] = wav_tracks(wav, 8000)
    client = AudioForkClient(sample_rate=8000, channels=1)
    server = AudioForkServer()
    events: list[ProtocolEvent] = []
    for _at, frame in client.script(customer, None):
        events += server.receive_bytes(frame) if isinstance(frame, bytes) else server.receive_text(frame)
    start = events[0]
    assert isinstance(start, CallStart) and start.speakers == ("customer",)
    assert b"".join(e.pcm for e in events if isinstance(e, Audio)) == customer


# ------------------------------------------------------------------------------------------- hardening


@pytest.mark.parametrize(
    ("metadata", "code", "error"),
    [
        ("[" * 30_000 + "]" * 30_000, 1007, "nested deeper than 32"),
        ('{"sampleRate": Infinity, "channels": 2}', 1007, "non-finite number Infinity"),
        ('{"sampleRate": NaN, "channels": 2}', 1007, "non-finite number NaN"),
        ('{"sampleRate": [8000], "channels": 2}', 1003, "sampleRate must be 8000 or 16000, got [8000]"),
        ('{"sampleRate": 8000, "channels": 1, "speaker": ["agent"]}', 1007, "speaker must be"),
    ],
)
def test_hostile_metadata_is_refused_with_a_clear_error(metadata: str, code: int, error: str) -> None:
    fatal(AudioForkServer().receive_text(metadata), code, error)


def test_hostile_control_messages_are_not_fatal() -> None:
    server = streaming()
    assert "nested deeper" in first_error(server.receive_text("[" * 30_000 + "]" * 30_000)).message
    assert "non-finite" in first_error(server.receive_text('{"type": "dtmf", "digit": NaN}')).message
    [dtmf] = server.receive_text('{"type": "dtmf", "digit": "5", "speaker": ["agent"]}')
    assert dtmf == Dtmf("5", None)


def test_fail_sends_an_error_then_closes() -> None:
    events = streaming().fail("internal error")
    assert events[0] == CallStop("error") and events[-1] == Close(1011, "internal error")
    assert error_replies(events) == ["internal error"]


def test_audiofork_wrong_state_calls_and_state_table() -> None:
    assert set(TRANSITIONS) == set(AudioForkState) and TRANSITIONS[AudioForkState.CLOSED] == frozenset()
    server = AudioForkServer()
    for call in (server.accept, lambda: server.refuse("busy"), server.close_timeout):
        with pytest.raises(LocalProtocolError, match="state WAITING"):
            call()
    server = streaming()
    assert server.state is AudioForkState.STREAMING and server.accept() == []
    server.receive_text('{"type": "stop"}')
    assert server.state is AudioForkState.STOPPED
    server.close()
    for call in (server.accept, server.close, lambda: server.fail("x")):
        with pytest.raises(LocalProtocolError, match="state CLOSED"):
            call()
    with pytest.raises(LocalProtocolError, match="no transition CLOSED -> STREAMING"):
        server._goto(AudioForkState.STREAMING)
