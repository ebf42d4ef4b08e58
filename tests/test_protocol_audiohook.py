"""Genesys AudioHook v2: server-side session from spec-shaped messages, and the simulator's client."""

from __future__ import annotations

import itertools
import json
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assist.stream.codecs import ulaw_decode, ulaw_encode
from assist.stream.protocols.audiohook import (
    NULL_UUID,
    TRANSITIONS,
    AudioHookClient,
    AudioHookClientError,
    AudioHookServer,
    AudioHookState,
    format_duration,
    parse_duration,
)
from assist.stream.protocols.base import (
    Audio,
    CallStart,
    CallStop,
    Close,
    LocalProtocolError,
    Paused,
    ProtocolError,
    ProtocolEvent,
    SendBytes,
    SendText,
)
from assist.stream.simulate import wav_tracks

SESSION = "e160e428-53e2-487c-977d-96989bf5c99d"
ORG = "d7934305-0972-4844-938e-9060eef73d05"
CONVERSATION = "090eaa2f-72fa-480a-83e0-8667ff89c0ec"
PARTICIPANT = "883efee8-3d6c-4537-b500-6d7ca4b92fa0"
HEADERS = {
    "Audiohook-Organization-Id": ORG,
    "Audiohook-Session-Id": SESSION,
    "Audiohook-Correlation-Id": "30b0e395-84d3-4570-ac13-9a62d8f514c0",
    "X-API-KEY": "api-key-1",
}
STEREO = {"type": "audio", "format": "PCMU", "channels": ["external", "internal"], "rate": 8000}
EXTERNAL = {"type": "audio", "format": "PCMU", "channels": ["external"], "rate": 8000}
INTERNAL = {"type": "audio", "format": "PCMU", "channels": ["internal"], "rate": 8000}
OPEN_PARAMS: dict[str, Any] = {
    "organizationId": ORG,
    "conversationId": CONVERSATION,
    "participant": {
        "id": PARTICIPANT,
        "ani": "+1-555-555-1234",
        "aniName": "John Doe",
        "dnis": "+1-800-555-6789",
    },
    "media": [STEREO, EXTERNAL, INTERNAL],
    "customConfig": {"agentId": "agent-42"},
    "language": "en-US",
}


def client_msg(type_: str, seq: int, params: dict[str, Any] | None = None, *, serverseq: int = 0, **extra: Any) -> str:
    msg = {
        "version": "2",
        "type": type_,
        "id": SESSION,
        "seq": seq,
        "serverseq": serverseq,
        "position": "PT0S",
        "parameters": {} if params is None else params,
        **extra,
    }
    return json.dumps(msg)


def sent(events: list[ProtocolEvent]) -> list[dict[str, Any]]:
    """The JSON server messages among the events."""
    return [json.loads(e.text) for e in events if isinstance(e, SendText)]


def opened_session(params: dict[str, Any] | None = None, **kw: Any) -> tuple[AudioHookServer, CallStart]:
    server = AudioHookServer(HEADERS, **kw)
    events = server.receive_text(client_msg("open", 1, params or OPEN_PARAMS))
    assert len(events) == 1 and isinstance(events[0], CallStart), events
    assert server.accept()
    return server, events[0]


def assert_disconnect(events: list[ProtocolEvent], reason: str, info_part: str | None) -> dict[str, Any]:
    errors = [e for e in events if isinstance(e, ProtocolError)]
    assert errors and errors[0].fatal, events
    [msg] = sent(events)
    assert msg["type"] == "disconnect" and msg["parameters"]["reason"] == reason
    if info_part is not None:
        assert info_part in msg["parameters"]["info"], msg
    else:
        assert "info" not in msg["parameters"]
    assert not [e for e in events if isinstance(e, Close)]  # Close waits for the client's close transaction
    return msg


def test_open_gives_call_start_but_no_opened_until_accept() -> None:
    server = AudioHookServer(HEADERS)
    events = server.receive_text(client_msg("open", 1, OPEN_PARAMS))
    assert events == [
        CallStart(
            external_id=CONVERSATION,
            sample_rate=8000,
            agent_id="agent-42",
            language="en-US",
            customer_phone="+1-555-555-1234",
            speakers=("customer", "agent"),
            meta={
                "protocol": "audiohook",
                "organizationId": ORG,
                "sessionId": SESSION,
                "correlationId": "30b0e395-84d3-4570-ac13-9a62d8f514c0",
                "participant": OPEN_PARAMS["participant"],
                "media": STEREO,
                "customConfig": {"agentId": "agent-42"},
            },
        )
    ]
    [opened] = sent(server.accept())
    assert opened == {
        "version": "2",
        "type": "opened",
        "id": SESSION,
        "seq": 1,
        "clientseq": 1,
        "parameters": {"media": [STEREO], "startPaused": False},
    }
    with pytest.raises(LocalProtocolError, match="accept"):  # only once
        server.accept()


def test_stereo_audio_is_split_in_channel_order_and_positions_count_samples() -> None:
    server, _ = opened_session()
    # 4 sample-frames: external byte then internal byte; external = 0x80 (+32124), internal = 0xFF (0)
    frame = bytes([0x80, 0xFF] * 4)
    assert server.receive_bytes(frame) == [
        Audio("customer", np.full(4, 32124, "<i2").tobytes(), 8000, 0),
        Audio("agent", np.zeros(4, "<i2").tobytes(), 8000, 0),
    ]
    [customer, agent] = server.receive_bytes(bytes([0x00, 0x80] * 3))  # any whole number of sample-frames
    assert (
        isinstance(customer, Audio) and customer.position == 4 and customer.pcm == np.full(3, -32124, "<i2").tobytes()
    )
    assert isinstance(agent, Audio) and agent.position == 4 and agent.speaker == "agent"
    assert server.receive_bytes(b"") == []


def test_reversed_channel_array_is_respected() -> None:
    reversed_stereo = {"type": "audio", "format": "PCMU", "channels": ["internal", "external"], "rate": 8000}
    server, start = opened_session({**OPEN_PARAMS, "media": [reversed_stereo]})
    assert start.meta["media"] is not None
    first, second = server.receive_bytes(bytes([0x80, 0xFF]))
    assert first == Audio("agent", np.array([32124], "<i2").tobytes(), 8000, 0)
    assert second == Audio("customer", np.array([0], "<i2").tobytes(), 8000, 0)


@pytest.mark.parametrize(("offer", "speakers"), [(EXTERNAL, ("customer",)), (INTERNAL, ("agent",))])
def test_mono_offers_are_accepted(offer: dict[str, Any], speakers: tuple[str, ...]) -> None:
    server = AudioHookServer(HEADERS)
    [start] = server.receive_text(client_msg("open", 1, {**OPEN_PARAMS, "media": [offer]}))
    assert isinstance(start, CallStart) and start.speakers == speakers
    [opened] = sent(server.accept())
    assert opened["parameters"]["media"] == [offer]
    [audio] = server.receive_bytes(b"\xff" * 160)
    assert isinstance(audio, Audio) and audio.speaker == speakers[0] and len(audio.pcm) == 320


def test_stereo_pcmu_is_preferred_over_earlier_mono_and_l16() -> None:
    l16 = {"type": "audio", "format": "L16", "channels": ["external", "internal"], "rate": 8000}
    server = AudioHookServer(HEADERS)
    server.receive_text(client_msg("open", 1, {**OPEN_PARAMS, "media": [EXTERNAL, l16, STEREO]}))
    assert sent(server.accept())[0]["parameters"]["media"] == [STEREO]


def test_l16_is_little_endian_interleaved() -> None:
    l16 = {"type": "audio", "format": "L16", "channels": ["external", "internal"], "rate": 8000}
    server, _ = opened_session({**OPEN_PARAMS, "media": [l16]})
    frame = np.array([1000, -1000, 2000, -2000], "<i2").tobytes()
    [c, a] = server.receive_bytes(frame)
    assert c == Audio("customer", np.array([1000, 2000], "<i2").tobytes(), 8000, 0)
    assert a == Audio("agent", np.array([-1000, -2000], "<i2").tobytes(), 8000, 0)
    events = server.receive_bytes(b"\x00" * 6)  # 1.5 stereo L16 sample-frames
    assert_disconnect(events, "error", "6 bytes is not a whole number of 2-channel L16 sample frames (4 bytes each)")


def test_ping_pong_and_close_closed_sequence_numbers() -> None:
    server, _ = opened_session()
    [pong] = sent(server.receive_text(client_msg("ping", 2, serverseq=1)))
    assert (pong["type"], pong["seq"], pong["clientseq"], pong["parameters"]) == ("pong", 2, 2, {})
    events = server.receive_text(client_msg("close", 3, {"reason": "end"}, serverseq=2))
    [closed] = sent(events)
    assert (closed["type"], closed["seq"], closed["clientseq"], closed["parameters"]) == ("closed", 3, 3, {})
    assert events[1:] == [CallStop("end"), Close(1000, "closed")]
    assert server.receive_text(client_msg("ping", 4)) == []  # nothing after closed


def test_no_acceptable_media_disconnects_with_a_clear_reason() -> None:
    bad = [
        {"type": "audio", "format": "PCMU", "channels": ["external"], "rate": 16000},
        {"type": "audio", "format": "OPUS", "channels": ["external"], "rate": 8000},
    ]
    server = AudioHookServer(HEADERS)
    events = server.receive_text(client_msg("open", 1, {**OPEN_PARAMS, "media": bad}))
    assert not [e for e in events if isinstance(e, CallStart)]
    msg = assert_disconnect(events, "error", "no acceptable media offered")
    assert (
        "rate 16000 is not 8000" in msg["parameters"]["info"]
        and "'OPUS' is not PCMU or L16" in msg["parameters"]["info"]
    )
    events = server.receive_text(client_msg("close", 2, {"reason": "disconnect"}, serverseq=1))
    assert [m["type"] for m in sent(events)] == ["closed"]
    assert events[-1] == Close(1000, "closed") and not [e for e in events if isinstance(e, CallStop)]


def test_connection_probe() -> None:
    probe = {
        **OPEN_PARAMS,
        "conversationId": NULL_UUID,
        "participant": {"id": NULL_UUID, "ani": "", "aniName": "", "dnis": ""},
    }
    server = AudioHookServer(HEADERS)
    [start] = server.receive_text(client_msg("open", 1, probe))
    assert isinstance(start, CallStart) and start.probe and start.external_id == NULL_UUID
    assert [m["type"] for m in sent(server.accept())] == ["opened"]
    events = server.receive_text(client_msg("close", 2, {"reason": "end"}, serverseq=1))
    assert [m["type"] for m in sent(events)] == ["closed"]
    assert events[-1] == Close(1000, "closed") and not [e for e in events if isinstance(e, CallStop)]


def test_close_racing_the_admission_is_answered_after_opened() -> None:
    server = AudioHookServer(HEADERS)
    server.receive_text(client_msg("open", 1, OPEN_PARAMS))
    assert server.receive_text(client_msg("close", 2, {"reason": "end"})) == []
    events = server.accept()
    assert [(m["type"], m["seq"]) for m in sent(events)] == [("opened", 1), ("closed", 2)]
    assert events[-2:] == [CallStop("end"), Close(1000, "closed")]


def test_missing_api_key_is_unauthorized_after_open() -> None:
    headers = {k: v for k, v in HEADERS.items() if k != "X-API-KEY"}
    server = AudioHookServer(headers, api_key="api-key-1")
    assert server.auth_error == "missing X-API-KEY header"
    events = server.receive_text(client_msg("open", 1, OPEN_PARAMS))
    assert events[0] == ProtocolError("unauthorized: missing X-API-KEY header", fatal=True)
    assert_disconnect(events, "unauthorized", None)
    assert server.awaiting_close
    with pytest.raises(LocalProtocolError):  # no CallStart came out, so there is nothing to admit
        server.accept()
    events = server.receive_text(client_msg("close", 2, {"reason": "disconnect"}, serverseq=1))
    assert [m["type"] for m in sent(events)] == ["closed"] and events[-1] == Close(1000, "closed")


def test_wrong_api_key_and_bad_signature_are_unauthorized() -> None:
    server = AudioHookServer({**HEADERS, "X-API-KEY": "guess"}, api_key="api-key-1")
    assert_disconnect(server.receive_text(client_msg("open", 1, OPEN_PARAMS)), "unauthorized", None)
    server = AudioHookServer(HEADERS, api_key="api-key-1", client_secret="c2VjcmV0")
    assert server.auth_error is not None and "not signed" in server.auth_error
    assert_disconnect(server.receive_text(client_msg("open", 1, OPEN_PARAMS)), "unauthorized", None)


def test_signed_request_is_authorised() -> None:
    client = AudioHookClient(organization_id=ORG, session_id=SESSION, conversation_id=CONVERSATION)
    headers = client.signed_headers(
        "api-key-1", "c2VjcmV0", host="assist.example.com", request_target="/audiohook", created=1_800_000_000
    )
    headers["Host"] = "assist.example.com"
    server = AudioHookServer(
        headers,
        request_target="/audiohook",
        api_key="api-key-1",
        client_secret="c2VjcmV0",
        now=lambda: 1_800_000_002.0,
    )
    assert server.auth_error is None
    [start] = server.receive_text(client.open())
    assert isinstance(start, CallStart)
    late = AudioHookServer(
        headers,
        request_target="/audiohook",
        api_key="api-key-1",
        client_secret="c2VjcmV0",
        now=lambda: 1_800_000_100.0,
    )
    assert late.auth_error is not None and "s old" in late.auth_error


def test_organization_mismatch_is_unauthorized() -> None:
    server = AudioHookServer({**HEADERS, "Audiohook-Organization-Id": "11111111-2222-3333-4444-555555555555"})
    events = server.receive_text(client_msg("open", 1, OPEN_PARAMS))
    assert isinstance(events[0], ProtocolError) and "organizationId" in events[0].message
    assert_disconnect(events, "unauthorized", None)


@pytest.mark.parametrize(
    ("text", "info"),
    [
        ('{"version": "2", "type": "open"', "not valid JSON"),
        (
            client_msg("open", 1, OPEN_PARAMS).replace('"parameters"', '"params"'),
            "'parameters' object missing",
        ),
        (
            client_msg("open", 1, OPEN_PARAMS).replace('"version": "2"', '"version": "1"'),
            "version '1' is not '2'",
        ),
        (client_msg("open", 1, OPEN_PARAMS).replace('"position": "PT0S"', '"position": "0"'), "position '0'"),
        (client_msg("open", 2, OPEN_PARAMS), "seq 2 is not 1"),
        (client_msg("open", 1, OPEN_PARAMS, serverseq=5), "serverseq 5 is higher than our last seq 0"),
        (client_msg("hello", 1), "'hello' is not a supported client message"),
        (client_msg("open", 1, {**OPEN_PARAMS, "conversationId": "x"}), "conversationId 'x' is not a UUID"),
        (client_msg("open", 1, {**OPEN_PARAMS, "media": "PCMU"}), "media is not a list"),
        (client_msg("close", 1, {"reason": "bored"}), "close reason 'bored'"),
    ],
)
def test_client_errors_disconnect_with_error(text: str, info: str) -> None:
    server = AudioHookServer(HEADERS)
    assert_disconnect(server.receive_text(text), "error", info)


def test_session_id_must_match_the_header() -> None:
    server = AudioHookServer(HEADERS)
    other = client_msg("open", 1, OPEN_PARAMS).replace(SESSION, "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee")
    assert_disconnect(server.receive_text(other), "error", "does not match " + SESSION)


def test_sequence_gap_after_open() -> None:
    server, _ = opened_session()
    assert_disconnect(server.receive_text(client_msg("ping", 3, serverseq=1)), "error", "seq 3 is not 2")


def test_replayed_sequence_number() -> None:
    server, _ = opened_session()
    assert_disconnect(server.receive_text(client_msg("ping", 1, serverseq=1)), "error", "seq 1 is not 2")


def test_oversized_text() -> None:
    server = AudioHookServer(HEADERS, max_message_bytes=500)
    assert_disconnect(server.receive_text(client_msg("open", 1, OPEN_PARAMS) + " " * 500), "error", "exceeds 500")


def test_binary_before_opened_is_an_error() -> None:
    server = AudioHookServer(HEADERS)
    assert_disconnect(server.receive_bytes(b"\xff" * 10), "error", "binary audio frame (10 bytes) before 'opened'")
    server = AudioHookServer(HEADERS)
    server.receive_text(client_msg("open", 1, OPEN_PARAMS))  # not yet accepted
    assert_disconnect(server.receive_bytes(b"\xff" * 10), "error", "before 'opened'")


def test_half_a_stereo_frame_is_an_error() -> None:
    server, _ = opened_session()
    events = server.receive_bytes(b"\xff" * 3)
    assert_disconnect(events, "error", "3 bytes is not a whole number of 2-channel PCMU sample frames (2 bytes each)")
    assert server.receive_bytes(b"\xff" * 4) == []  # ignored while the client closes
    events = server.receive_text(client_msg("close", 2, {"reason": "disconnect"}, serverseq=2))
    assert [m["type"] for m in sent(events)] == ["closed"]
    assert events[-2:] == [CallStop("disconnect"), Close(1000, "closed")]


def test_pause_resume_and_discarded_advance_the_timeline() -> None:
    server, _ = opened_session()
    server.receive_bytes(b"\xff" * 1600)  # 800 sample-frames
    assert server.receive_text(client_msg("paused", 2, serverseq=1)) == [Paused(True)]
    assert_disconnect(server.receive_bytes(b"\xff" * 2), "error", "while paused")

    server, _ = opened_session()
    server.receive_bytes(b"\xff" * 1600)
    server.receive_text(client_msg("paused", 2, serverseq=1))
    resumed = client_msg("resumed", 3, {"start": "PT0.1S", "discarded": "PT2S"}, serverseq=1)
    assert server.receive_text(resumed) == [Paused(False)]
    [c, _a] = server.receive_bytes(b"\xff" * 2)
    assert isinstance(c, Audio) and c.position == 800 + 16000
    server.receive_text(client_msg("discarded", 4, {"start": "PT2.2S", "discarded": "PT0.5S"}, serverseq=1))
    [c, _a] = server.receive_bytes(b"\xff" * 2)
    assert isinstance(c, Audio) and c.position == 800 + 16000 + 1 + 4000


def test_server_pause_resume_update_and_client_error() -> None:
    server, _ = opened_session()
    assert [m["type"] for m in sent(server.pause() + server.resume())] == ["pause", "resume"]
    [updated] = sent(server.receive_text(client_msg("update", 2, {"language": "es-ES"}, serverseq=3)))
    assert updated["type"] == "updated" and updated["clientseq"] == 2
    [err] = server.receive_text(
        client_msg("error", 3, {"code": 408, "message": "Timeout waiting for pong"}, serverseq=4)
    )
    assert err == ProtocolError("client reported error 408: Timeout waiting for pong", fatal=False, code=408)


def test_refuse_is_a_disconnect_error_then_closed() -> None:
    server = AudioHookServer(HEADERS)
    server.receive_text(client_msg("open", 1, OPEN_PARAMS))
    [disconnect] = sent(server.refuse("server at capacity"))
    assert disconnect["parameters"] == {"reason": "error", "info": "server at capacity"}
    assert server.awaiting_close
    assert server.receive_text(client_msg("ping", 2, serverseq=1))  # pings still answered while closing
    events = server.receive_text(client_msg("close", 3, {"reason": "disconnect"}, serverseq=2))
    assert [m["type"] for m in sent(events)] == ["closed"] and events[-1] == Close(1000, "closed")
    assert not [e for e in events if isinstance(e, CallStop)]


def test_server_close_is_disconnect_completed() -> None:
    server, _ = opened_session()
    [disconnect] = sent(server.close("agent hung up"))
    assert disconnect["parameters"] == {"reason": "completed", "info": "agent hung up"}
    events = server.receive_text(client_msg("close", 2, {"reason": "disconnect"}, serverseq=2))
    assert events[1:] == [CallStop("disconnect"), Close(1000, "closed")]


def test_close_timeout_when_the_client_never_closes() -> None:
    server, _ = opened_session()
    server.close("done")
    events = server.close_timeout()
    assert events[1:] == [CallStop("timeout"), Close(1000, "close transaction timeout")]
    with pytest.raises(LocalProtocolError):
        server.close_timeout()


def test_socket_drop_ends_an_admitted_call() -> None:
    server, _ = opened_session()
    assert server.connection_closed() == [CallStop("disconnected")]
    assert AudioHookServer(HEADERS).connection_closed() == []


def test_server_never_sends_binary() -> None:
    server, _ = opened_session()
    events = server.receive_bytes(b"\xff" * 3200) + server.receive_text(client_msg("ping", 2, serverseq=1))
    events += server.pause() + server.close("x")
    assert not [e for e in events if isinstance(e, SendBytes)]


def test_durations() -> None:
    assert parse_duration("PT12.4S") == pytest.approx(12.4)
    assert parse_duration("PT0S") == 0.0
    assert format_duration(0) == "PT0S" and format_duration(1.25) == "PT1.25S"
    with pytest.raises(ValueError):
        parse_duration("12S")


# ------------------------------------------------------------------------------------------- simulator client


def write_wav(path: Path, rate: int, channels: list[np.ndarray]) -> None:
    data = np.stack(channels, axis=1) if len(channels) > 1 else channels[0]
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(len(channels))
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(data.astype("<i2").tobytes())


def tone(freq: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.round(6000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def pump(client: AudioHookClient, server: AudioHookServer, events: list[ProtocolEvent]) -> list[ProtocolEvent]:
    """Deliver the server's text replies to the client and the client's answers back; all server events."""
    out = list(events)
    queue = [e for e in events if isinstance(e, SendText)]
    while queue:
        for reply in client.receive(queue.pop(0).text):
            more = server.receive_text(reply)
            out += more
            queue += [e for e in more if isinstance(e, SendText)]
    return out


def test_client_session_round_trip(tmp_path: Path) -> None:
    wav = tmp_path / "call.wav"
    write_wav(wav, 8000, [tone(300, 1.0, 8000), tone(900, 1.0, 8000)])
    customer, agent = wav_tracks(wav, 8000)
    client = AudioHookClient(organization_id=ORG, conversation_id=CONVERSATION, language="zh-CN")
    server = AudioHookServer(client.headers("k"), api_key="k")
    [start] = server.receive_text(client.open())
    assert isinstance(start, CallStart) and start.external_id == CONVERSATION and start.language == "zh-CN"
    pump(client, server, server.accept())
    assert client.state == "open" and client.selected == client.offers[0]
    events: list[ProtocolEvent] = []
    for k, offset in enumerate(range(0, len(customer), 3200)):  # 200 ms frames
        frame = client.audio(customer[offset : offset + 3200], agent[offset : offset + 3200])
        assert len(frame) == 3200
        events += server.receive_bytes(frame)
        if k == 1:
            events += pump(client, server, server.receive_text(client.ping()))
            assert client.pending_ping is None
    events += pump(client, server, server.receive_text(client.close()))
    assert client.state == "closed"
    assert not [e for e in events if isinstance(e, ProtocolError)], events
    assert events[-2:] == [CallStop("end"), Close(1000, "closed")]
    audio = [e for e in events if isinstance(e, Audio)]
    for speaker, original in (("customer", customer), ("agent", agent)):
        mine = [a for a in audio if a.speaker == speaker]
        assert [a.position for a in mine] == [0, 1600, 3200, 4800, 6400]
        assert b"".join(a.pcm for a in mine) == ulaw_decode(ulaw_encode(original))


def test_client_follows_server_pause_and_reports_discarded_audio() -> None:
    client = AudioHookClient(organization_id=ORG, offers=[EXTERNAL])
    server = AudioHookServer(client.headers("k"))
    server.receive_text(client.open())
    pump(client, server, server.accept())
    server.receive_bytes(client.audio(b"\0" * 3200, None))
    events = pump(client, server, server.pause())
    assert Paused(True) in events and client.paused
    client.skip(8000)  # one second not sent while paused
    events = pump(client, server, server.resume())
    assert Paused(False) in events and not client.paused
    [audio] = server.receive_bytes(client.audio(b"\0" * 320, None))
    assert isinstance(audio, Audio) and audio.position == 1600 + 8000


def test_client_detects_server_protocol_errors() -> None:
    client = AudioHookClient(organization_id=ORG)
    client.open()
    bad = {
        "version": "2",
        "type": "opened",
        "id": client.session_id,
        "seq": 2,
        "clientseq": 1,
        "parameters": {"media": []},
    }
    with pytest.raises(AudioHookClientError, match="server seq 2 is not 1"):
        client.receive(json.dumps(bad))
    foreign = {
        **bad,
        "seq": 1,
        "parameters": {"media": [{"type": "audio", "format": "L16", "channels": ["external"], "rate": 8000}]},
    }
    with pytest.raises(AudioHookClientError, match="not offered"):
        client.receive(json.dumps(foreign))
    client.ping()
    with pytest.raises(AudioHookClientError, match="no 'pong'"):
        client.ping()


def test_client_answers_disconnect_with_close() -> None:
    client = AudioHookClient(organization_id=ORG)
    server = AudioHookServer(client.headers("k"))
    server.receive_text(client.open())
    events = pump(client, server, server.refuse("busy"))
    assert client.disconnect == {"reason": "error", "info": "busy"} and client.state == "closed"
    assert events[-1] == Close(1000, "closed")


# ------------------------------------------------------------------------------------------- hardening


@pytest.mark.parametrize("kind", ["discarded", "resumed"])
def test_a_discarded_duration_beyond_any_call_is_a_client_error(kind: str) -> None:
    """PT100000000S once made a 1,666,667-minute call: durations above 12 h are refused."""
    server, _ = opened_session()
    if kind == "resumed":
        server.receive_text(client_msg("paused", 2, serverseq=1))
    seq = 3 if kind == "resumed" else 2
    events = server.receive_text(client_msg(kind, seq, {"start": "PT1S", "discarded": "PT100000000S"}, serverseq=1))
    assert_disconnect(events, "error", "duration PT100000000S exceeds the 43200 s limit")
    assert server.position == 0


def test_a_position_beyond_any_call_is_a_client_error() -> None:
    server = AudioHookServer(HEADERS)
    text = client_msg("open", 1, OPEN_PARAMS).replace('"position": "PT0S"', '"position": "PT99999999S"')
    assert_disconnect(server.receive_text(text), "error", "exceeds the 43200 s limit")


def test_the_clients_position_places_audio_after_missing_frames() -> None:
    server, _ = opened_session()
    server.receive_bytes(b"\xff" * 1600)  # 800 sample-frames = 0.1 s
    ping = client_msg("ping", 2, serverseq=1).replace('"position": "PT0S"', '"position": "PT0.5S"')
    server.receive_text(ping)  # the client has streamed 0.5 s: 0.4 s of frames never reached us
    [c, a] = server.receive_bytes(b"\xff" * 2)
    assert isinstance(c, Audio) and isinstance(a, Audio) and (c.position, a.position) == (4000, 4000)
    stale = client_msg("ping", 3, serverseq=2).replace('"position": "PT0S"', '"position": "PT0.2S"')
    server.receive_text(stale)  # a position behind what we hold never moves audio back
    [c, _a] = server.receive_bytes(b"\xff" * 2)
    assert isinstance(c, Audio) and c.position == 4001


@pytest.mark.parametrize(
    ("text", "info"),
    [
        ("[" * 30_000 + "]" * 30_000, "nested deeper than 32"),
        (client_msg("open", 1, OPEN_PARAMS).replace('"seq": 1', '"seq": Infinity'), "non-finite number Infinity"),
        (client_msg("open", 1, OPEN_PARAMS).replace('"seq": 1', '"seq": NaN'), "non-finite number NaN"),
        (
            client_msg("open", 1, {**OPEN_PARAMS, "media": [{**STEREO, "channels": [["external"], "internal"]}]}),
            "no acceptable media",
        ),
        (client_msg("close", 1, {"reason": ["end"]}), "close reason ['end']"),
    ],
)
def test_hostile_json_is_a_client_error(text: str, info: str) -> None:
    server = AudioHookServer(HEADERS)
    assert_disconnect(server.receive_text(text), "error", info)


def test_a_wrongly_typed_duration_parameter_is_named() -> None:
    server, _ = opened_session()
    events = server.receive_text(client_msg("discarded", 2, {"start": "PT1S", "discarded": [1]}, serverseq=1))
    assert_disconnect(events, "error", "'discarded.discarded' must be a string, got a list")


def test_fail_disconnects_with_error_and_closes_at_once() -> None:
    server, _ = opened_session()
    events = server.fail("internal error")
    [msg] = sent(events)
    assert msg["type"] == "disconnect" and msg["parameters"] == {"reason": "error", "info": "internal error"}
    assert events[-2:] == [CallStop("error"), Close(1011, "internal error")]
    assert server.state is AudioHookState.CLOSED


def test_audiohook_methods_called_in_the_wrong_state_raise() -> None:
    server = AudioHookServer(HEADERS)
    for call in (server.accept, lambda: server.refuse("busy"), server.pause, server.resume, server.close_timeout):
        with pytest.raises(LocalProtocolError, match="state PREPARING"):
            call()
    server, _ = opened_session()
    server.receive_text(client_msg("close", 2, {"reason": "end"}, serverseq=1))
    assert server.state is AudioHookState.CLOSED
    for call in (server.close, server.pause, lambda: server.fail("x")):
        with pytest.raises(LocalProtocolError, match="state CLOSED"):
            call()
    assert server.connection_closed() == []


def test_audiohook_state_table() -> None:
    assert set(TRANSITIONS) == set(AudioHookState)
    assert TRANSITIONS[AudioHookState.CLOSED] == frozenset()
    assert AudioHookState.ACTIVE not in TRANSITIONS[AudioHookState.DISCONNECTING]
    server = AudioHookServer(HEADERS)
    steps = [server.state]
    server.receive_text(client_msg("open", 1, OPEN_PARAMS))
    steps.append(server.state)
    server.accept()
    steps.append(server.state)
    server.receive_text(client_msg("paused", 2, serverseq=1))
    steps.append(server.state)
    server.close("done")
    steps.append(server.state)
    server.receive_text(client_msg("close", 3, {"reason": "disconnect"}, serverseq=2))
    steps.append(server.state)
    assert [s.name for s in steps] == ["PREPARING", "OPENING", "ACTIVE", "PAUSED", "DISCONNECTING", "CLOSED"]
    for a, b in itertools.pairwise(steps):
        assert b in TRANSITIONS[a]
    with pytest.raises(LocalProtocolError, match="no transition CLOSED -> ACTIVE"):
        server._goto(AudioHookState.ACTIVE)
