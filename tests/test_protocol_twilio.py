"""Twilio Media Streams: server-side protocol from spec-shaped JSON, and the simulator's encoder."""

from __future__ import annotations

import base64
import json
import wave
from pathlib import Path

import numpy as np
import pytest

from assist.stream.codecs import ulaw_decode, ulaw_encode
from assist.stream.protocols.base import (
    Audio,
    CallStart,
    CallStop,
    Close,
    Dtmf,
    LocalProtocolError,
    ProtocolError,
    ProtocolEvent,
    Speaker,
)
from assist.stream.protocols.twilio import TRANSITIONS, TwilioClient, TwilioServer, TwilioState
from assist.stream.simulate import wav_tracks

CONNECTED = '{ "event": "connected", "protocol": "Call", "version": "1.0.0" }'
START = """{ "event": "start", "sequenceNumber": "1", "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
  "start": { "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
             "accountSid": "AC123c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8",
             "callSid": "CA2f3e4d5c6b7a8f9e0d1c2b3a4f5e6d7c",
             "tracks": ["inbound", "outbound"],
             "customParameters": { "agentId": "a-17", "accountNo": "88231", "language": "zh-CN",
                                   "customerPhone": "+8613800000000", "direction": "inbound" },
             "mediaFormat": { "encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1 } } }"""
# 160 μ-law bytes: 80 x 0xFF (digital zero) then 80 x 0x80 (+32124)
PAYLOAD = base64.b64encode(b"\xff" * 80 + b"\x80" * 80).decode()


def media(seq: int, track: str, chunk: int, timestamp: str = "0", payload: str = PAYLOAD) -> str:
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": str(seq),
            "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
            "media": {"track": track, "chunk": str(chunk), "timestamp": timestamp, "payload": payload},
        }
    )


STOP = json.dumps(
    {
        "event": "stop",
        "sequenceNumber": "6",
        "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
        "stop": {"accountSid": "AC123", "callSid": "CA2f3e4d5c6b7a8f9e0d1c2b3a4f5e6d7c"},
    }
)


def started(inbound_speaker: Speaker = "customer") -> TwilioServer:
    proto = TwilioServer(inbound_speaker=inbound_speaker)
    assert proto.receive_text(CONNECTED) == []
    events = proto.receive_text(START)
    assert len(events) == 1 and isinstance(events[0], CallStart)
    return proto


def test_payload_is_160_bytes_like_twilio_capture() -> None:
    assert len(PAYLOAD) == 216  # 160 bytes of μ-law as in Twilio's own capture


def test_start_carries_the_call_metadata() -> None:
    proto = TwilioServer()
    proto.receive_text(CONNECTED)
    [start] = proto.receive_text(START)
    assert start == CallStart(
        external_id="CA2f3e4d5c6b7a8f9e0d1c2b3a4f5e6d7c",
        sample_rate=8000,
        agent_id="a-17",
        account_id="88231",
        language="zh-CN",
        customer_phone="+8613800000000",
        direction="inbound",
        speakers=("customer", "agent"),
        meta={
            "protocol": "twilio",
            "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
            "accountSid": "AC123c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8",
            "tracks": ["inbound", "outbound"],
            "customParameters": {
                "agentId": "a-17",
                "accountNo": "88231",
                "language": "zh-CN",
                "customerPhone": "+8613800000000",
                "direction": "inbound",
            },
        },
    )
    assert proto.accept() == []


def test_media_is_placed_by_timestamp_per_track() -> None:
    proto = started()
    a = proto.receive_text(media(2, "inbound", 1, timestamp="0"))
    b = proto.receive_text(media(3, "outbound", 1, timestamp="5"))
    c = proto.receive_text(media(4, "inbound", 2, timestamp="40"))  # chunk at 20 ms lost: a 20 ms gap
    expected_pcm = np.array([0] * 80 + [32124] * 80, dtype="<i2").tobytes()
    assert a == [Audio("customer", expected_pcm, 8000, 0)]
    assert b == [Audio("agent", expected_pcm, 8000, 40)]
    assert c == [Audio("customer", expected_pcm, 8000, 320)]
    assert proto.receive_text(STOP.replace('"6"', '"5"')) == [CallStop("stop")]
    assert proto.connection_closed() == []


def test_five_percent_packet_loss_keeps_the_following_audio_in_place(tmp_path: Path) -> None:
    """Drop 5 % of media messages (random, seeded): every frame that does arrive sits where Twilio
    recorded it, not earlier by the duration of the frames lost before it."""
    wav = tmp_path / "call.wav"
    write_wav(wav, 8000, [tone(300, 10.0, 8000), tone(700, 10.0, 8000)])
    customer, agent = wav_tracks(wav, 8000)
    client = TwilioClient()
    rng = np.random.default_rng(5)
    server = TwilioServer()
    arrived: list[tuple[str, int]] = []  # (track, sample position the sender gave it)
    events: list[ProtocolEvent] = []
    for _, message in client.script(customer, agent):
        msg = json.loads(message)
        if msg["event"] == "media":
            if rng.random() < 0.05:
                continue
            arrived.append((msg["media"]["track"], int(msg["media"]["timestamp"]) * 8))
        events += server.receive_text(message)
    audio = [e for e in events if isinstance(e, Audio)]
    assert len(audio) == len(arrived) < 1000  # some were lost
    speakers = {"inbound": "customer", "outbound": "agent"}
    assert [(a.speaker, a.position) for a in audio] == [(speakers[t], p) for t, p in arrived]
    last = [a for a in audio if a.speaker == "customer"][-1]
    assert last.position == 80000 - 160  # the last frame is at 9.98 s, however many were lost


def test_media_without_a_usable_timestamp_follows_the_previous_audio() -> None:
    proto = started()
    proto.receive_text(media(2, "inbound", 1, timestamp="100"))
    err, a = proto.receive_text(media(3, "inbound", 2, timestamp="-5"))
    assert isinstance(err, ProtocolError) and "media.timestamp '-5' unusable" in err.message
    assert isinstance(a, Audio) and a.position == 800 + 160


def test_a_timestamp_jump_beyond_a_minute_is_not_trusted() -> None:
    proto = started()
    proto.receive_text(media(2, "inbound", 1, timestamp="0"))
    err, a = proto.receive_text(media(3, "inbound", 2, timestamp="999999999999"))
    assert isinstance(err, ProtocolError) and "jumps more than 60 s ahead" in err.message
    assert isinstance(a, Audio) and a.position == 160


def test_media_for_a_track_start_did_not_declare_is_dropped() -> None:
    proto = TwilioServer()
    proto.receive_text(START.replace('["inbound", "outbound"]', '["inbound"]'))
    [err] = proto.receive_text(media(2, "outbound", 1, timestamp="0"))
    assert isinstance(err, ProtocolError) and not err.fatal and "did not declare" in err.message
    assert proto.receive_text(media(3, "outbound", 2, timestamp="20")) == []  # counted, reported once
    assert proto.counts["undeclared_track"] == 2


def test_inbound_speaker_can_be_the_agent() -> None:
    proto = started(inbound_speaker="agent")
    [audio] = proto.receive_text(media(2, "inbound", 1))
    assert isinstance(audio, Audio) and audio.speaker == "agent"
    [audio] = proto.receive_text(media(3, "outbound", 1))
    assert isinstance(audio, Audio) and audio.speaker == "customer"


def test_inbound_only_stream_has_one_speaker() -> None:
    proto = TwilioServer()
    [start] = proto.receive_text(START.replace('["inbound", "outbound"]', '["inbound"]'))
    assert isinstance(start, CallStart) and start.speakers == ("customer",)


def test_dtmf_and_mark() -> None:
    proto = started()
    dtmf = (
        '{ "event": "dtmf", "streamSid": "MZ1", "sequenceNumber": "2", '
        '"dtmf": { "track": "inbound_track", "digit": "5" } }'
    )
    assert proto.receive_text(dtmf) == [Dtmf("5", "customer")]
    mark = '{ "event": "mark", "sequenceNumber": "3", "streamSid": "MZ1", "mark": { "name": "prompt-1" } }'
    assert proto.receive_text(mark) == []


def test_socket_close_without_stop_ends_the_call() -> None:
    proto = started()
    assert proto.connection_closed() == [CallStop("disconnected")]


def test_unknown_event_is_logged_and_ignored() -> None:
    proto = started()
    [err] = proto.receive_text('{"event": "transcription", "sequenceNumber": "2"}')
    assert err == ProtocolError("unknown Twilio event 'transcription' ignored", fatal=False)
    assert proto.receive_text(media(3, "inbound", 1))  # still streaming


def test_sequence_gap_is_reported_but_audio_kept() -> None:
    proto = started()
    events = proto.receive_text(media(5, "inbound", 1))
    assert events[0] == ProtocolError(
        "sequenceNumber jumped from 1 to 5 (3 message(s) missing or out of order)", fatal=False
    )
    assert isinstance(events[1], Audio) and events[1].position == 0


def fatal(events: list[ProtocolEvent], code: int, text: str) -> None:
    assert len(events) == 2, events
    err, close = events
    assert isinstance(err, ProtocolError) and err.fatal and err.code == code and text in err.message, err
    assert isinstance(close, Close) and close.code == code


def test_bad_json_is_fatal() -> None:
    proto = TwilioServer()
    fatal(proto.receive_text('{"event": "connected"'), 1007, "not valid JSON")
    assert proto.receive_text(CONNECTED) == []  # nothing after a fatal error


def test_message_without_event_is_fatal() -> None:
    fatal(TwilioServer().receive_text('{"foo": 1}'), 1007, "string 'event' field")


def test_media_before_start_is_fatal() -> None:
    proto = TwilioServer()
    proto.receive_text(CONNECTED)
    fatal(proto.receive_text(media(1, "inbound", 1)), 1008, "'media' received before 'start'")


def test_wrong_media_format_is_fatal() -> None:
    wrong = START.replace('"audio/x-mulaw", "sampleRate": 8000', '"audio/x-l16", "sampleRate": 16000')
    fatal(
        TwilioServer().receive_text(wrong),
        1003,
        "unsupported mediaFormat encoding='audio/x-l16' sampleRate=16000",
    )


def test_binary_frame_is_fatal() -> None:
    fatal(started().receive_bytes(b"\x00" * 10), 1003, "10-byte binary frame")


def test_oversized_message_is_fatal() -> None:
    proto = TwilioServer(max_message_bytes=100)
    fatal(proto.receive_text(CONNECTED + " " * 100), 1009, "exceeds the 100 byte limit")


def test_bad_base64_is_fatal() -> None:
    fatal(started().receive_text(media(2, "inbound", 1, payload="!!!notbase64")), 1007, "not valid base64")


def test_start_without_call_sid_is_fatal() -> None:
    fatal(TwilioServer().receive_text('{"event":"start","start":{}}'), 1007, "'start.callSid' is missing")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[" * 30_000 + "]" * 30_000, "nested deeper than 32"),
        ('{"event": "media", "sequenceNumber": Infinity}', "non-finite number Infinity"),
        ('{"event": "media", "sequenceNumber": NaN}', "non-finite number NaN"),
        ('{"event": "connected", "x": 1e999}', "out of range"),
    ],
)
def test_non_finite_numbers_and_deep_nesting_are_invalid_json(text: str, error: str) -> None:
    fatal(TwilioServer().receive_text(text), 1007, error)


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("track", ["inbound"], "'media.track' must be a string, got a list"),
        ("payload", {"x": 1}, "'media.payload' must be a string, got an object"),
    ],
)
def test_a_field_of_the_wrong_type_is_named(field: str, value: object, error: str) -> None:
    msg = json.loads(media(2, "inbound", 1, timestamp="0"))
    msg["media"][field] = value
    fatal(started().receive_text(json.dumps(msg)), 1007, error)


def test_start_fields_of_the_wrong_type_are_named() -> None:
    start = json.loads(START)
    start["start"]["callSid"] = ["CA1"]
    fatal(TwilioServer().receive_text(json.dumps(start)), 1007, "'start.callSid' must be a string, got a list")
    start["start"]["callSid"] = "CA1"
    start["start"]["tracks"] = [["inbound"]]
    fatal(TwilioServer().receive_text(json.dumps(start)), 1007, "'start.tracks' entries must be strings, got list")


def test_refuse_and_close() -> None:
    assert started().refuse("server busy") == [Close(1013, "server busy")]
    assert started().close("done") == [Close(1000, "done")]


def test_fail_ends_a_started_call_with_the_given_code() -> None:
    assert started().fail("internal error") == [CallStop("error"), Close(1011, "internal error")]
    assert TwilioServer().fail("no media within 10 s", 1008) == [Close(1008, "no media within 10 s")]


def test_methods_called_in_the_wrong_state_raise() -> None:
    with pytest.raises(LocalProtocolError, match=r"accept\(\) called in state NEW"):
        TwilioServer().accept()
    with pytest.raises(LocalProtocolError, match="refuse"):
        TwilioServer().refuse("busy")
    closed = started()
    closed.close()
    for call in (closed.accept, closed.close, lambda: closed.fail("x"), closed.close_timeout):
        with pytest.raises(LocalProtocolError):
            call()
    assert closed.connection_closed() == []  # the transport may vanish in any state


def test_state_table() -> None:
    assert set(TRANSITIONS) == set(TwilioState)
    assert TRANSITIONS[TwilioState.CLOSED] == frozenset()
    proto = started()
    assert proto.state is TwilioState.STARTED
    proto.receive_text(STOP)
    assert proto.state is TwilioState.STOPPED
    proto.state = TwilioState.CLOSED
    with pytest.raises(LocalProtocolError, match="no transition CLOSED -> STARTED"):
        proto._goto(TwilioState.STARTED)


# ------------------------------------------------------------------------------------------- simulator


def write_wav(path: Path, rate: int, channels: list[np.ndarray]) -> None:
    data = np.stack(channels, axis=1).astype("<i2") if len(channels) > 1 else channels[0].astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(len(channels))
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(data.tobytes())


def tone(freq: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.round(8000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def dominant_hz(pcm: bytes, rate: int) -> float:
    x = np.frombuffer(pcm, dtype="<i2").astype(float)
    return float(np.argmax(np.abs(np.fft.rfft(x))) * rate / len(x))


def test_simulator_stream_round_trips_through_the_server(tmp_path: Path) -> None:
    wav = tmp_path / "call.wav"
    write_wav(wav, 16000, [tone(300, 0.5, 16000), tone(700, 0.5, 16000)])  # left customer, right agent
    customer, agent = wav_tracks(wav, 8000)
    client = TwilioClient(custom_parameters={"agentId": "a-1", "accountId": "acc-9", "language": "ko-KR"})
    server = TwilioServer()
    events = []
    times = []
    for at, message in client.script(customer, agent):
        times.append(at)
        events += server.receive_text(message)
    assert times == sorted(times) and times[-1] == pytest.approx(0.5)
    start = events[0]
    assert isinstance(start, CallStart)
    assert (start.external_id, start.agent_id, start.account_id, start.language) == (
        client.call_sid,
        "a-1",
        "acc-9",
        "ko-KR",
    )
    assert not [e for e in events if isinstance(e, ProtocolError)]
    assert events[-1] == CallStop("stop")
    audio = [e for e in events if isinstance(e, Audio)]
    assert [a.speaker for a in audio[:4]] == [
        "customer",
        "agent",
        "customer",
        "agent",
    ]  # interleaved per 20 ms
    for speaker, original, hz in (("customer", customer, 300), ("agent", agent, 700)):
        mine = [a for a in audio if a.speaker == speaker]
        assert [a.position for a in mine] == list(range(0, 4000, 160))
        joined = b"".join(a.pcm for a in mine)
        assert joined == ulaw_decode(ulaw_encode(original))
        error = np.abs(np.frombuffer(joined, "<i2").astype(int) - np.frombuffer(original, "<i2").astype(int))
        assert error.max() <= 8000 / 32 + 5
        assert dominant_hz(joined, 8000) == pytest.approx(hz, abs=2)
