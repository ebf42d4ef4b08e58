"""RTP receiver: RFC 3550 headers from real bytes, timeline from timestamps, loss/reorder/SSRC, sender."""

from __future__ import annotations

import re
import struct
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
)
from assist.stream.protocols.rtp import TRANSITIONS, RtpReceiver, RtpSender, RtpState, build_rtp, parse_rtp
from assist.stream.simulate import wav_tracks

# a real PCMU packet header: V=2, no padding/extension/CSRC, M=0, PT=0, seq=1, ts=160, SSRC=0xdeadbeef
HEADER = bytes.fromhex("80000001000000a0deadbeef")
PCMU_20MS = bytes([0xFF] * 80 + [0x80] * 80)


def pcmu(seq: int, ts: int, ssrc: int = 0xDEADBEEF, payload: bytes = PCMU_20MS, pt: int = 0) -> bytes:
    return struct.pack(">BBHII", 0x80, pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


def audio(events: list[ProtocolEvent]) -> list[Audio]:
    return [e for e in events if isinstance(e, Audio)]


def feed(rx: RtpReceiver, packets: list[bytes]) -> list[ProtocolEvent]:
    out: list[ProtocolEvent] = []
    for p in packets:
        out += rx.receive_data(p)
    return out


# ------------------------------------------------------------------------------------------- header parsing


def test_parse_a_real_header() -> None:
    packet = parse_rtp(HEADER + PCMU_20MS)
    assert (packet.marker, packet.payload_type, packet.seq, packet.timestamp, packet.ssrc) == (
        False,
        0,
        1,
        160,
        0xDEADBEEF,
    )
    assert packet.payload == PCMU_20MS


def test_parse_csrc_extension_padding_and_marker() -> None:
    # V=2 P=1 X=1 CC=2 | M=1 PT=118 | seq 0x1234 | ts | ssrc | 2 CSRCs | ext BEDE len 1 + 4 bytes
    # | payload | 3 bytes of padding
    data = (
        bytes.fromhex("b2f6123400000140cafebabe")
        + bytes.fromhex("0000000100000002")
        + bytes.fromhex("bede0001aabbccdd")
        + bytes.fromhex("00010002")
        + bytes.fromhex("000003")
    )
    packet = parse_rtp(data)
    assert (packet.marker, packet.payload_type, packet.seq, packet.timestamp) == (True, 118, 0x1234, 320)
    assert packet.csrcs == (1, 2)
    assert packet.payload == bytes.fromhex("00010002")
    assert (
        build_rtp(
            bytes.fromhex("00010002"),
            payload_type=118,
            seq=0x1234,
            timestamp=320,
            ssrc=0xCAFEBABE,
            marker=True,
            csrcs=(1, 2),
            extension=bytes.fromhex("aabbccdd"),
            padding=3,
        )
        == data
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (bytes.fromhex("8000000100"), "datagram of 5 bytes is shorter than the 12-byte RTP header"),
        (bytes.fromhex("40000001000000a0deadbeef"), "RTP version 1 (expected 2)"),
        (bytes.fromhex("82000001000000a0deadbeef00000001"), "too short for 2 CSRC identifiers"),
        (
            bytes.fromhex("90000001000000a0deadbeefbede0002aabbccdd"),
            "header extension of 2 words runs past the end",
        ),
        (bytes.fromhex("90000001000000a0deadbeefbe"), "too short for the RTP header extension"),
        (bytes.fromhex("a0000001000000a0deadbeef0005"), "invalid padding count 5 for a payload of 2 bytes"),
        (bytes.fromhex("a0000001000000a0deadbeef0000"), "invalid padding count 0"),
    ],
)
def test_malformed_datagrams(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_rtp(data)
    rx = RtpReceiver()
    [err] = rx.receive_data(data)
    assert isinstance(err, ProtocolError) and not err.fatal and message in err.message


# ------------------------------------------------------------------------------------------- timeline


def test_first_packet_gives_a_minimal_call_start_and_audio_at_zero() -> None:
    rx = RtpReceiver(speaker="agent")
    events = rx.receive_data(HEADER + PCMU_20MS)
    assert events == [
        CallStart(
            external_id=None,
            sample_rate=8000,
            speakers=("agent",),
            meta={"protocol": "rtp", "ssrc": 0xDEADBEEF, "payload_type": 0},
        ),
        Audio("agent", ulaw_decode(PCMU_20MS), 8000, 0),
    ]


def test_positions_come_from_timestamps_relative_to_the_first_packet() -> None:
    rx = RtpReceiver()
    events = feed(rx, [pcmu(100, 5000), pcmu(101, 5160), pcmu(102, 5320)])
    assert [a.position for a in audio(events)] == [0, 160, 320]
    # silence suppression: the sender skips 1 s of timestamps without losing a sequence number
    [a] = audio(rx.receive_data(pcmu(103, 5320 + 160 + 8000)))
    assert a.position == 8480


def test_loss_leaves_a_gap_after_the_reorder_window() -> None:
    rx = RtpReceiver(reorder_packets=3)
    events = feed(rx, [pcmu(1, 0), pcmu(2, 160)])
    events += feed(rx, [pcmu(4, 480), pcmu(5, 640), pcmu(6, 800)])  # seq 3 lost
    assert [a.position for a in audio(events)] == [0, 160]  # 4..6 held, waiting for 3
    events = rx.receive_data(pcmu(7, 960))  # fourth packet held: 3 is declared lost
    assert [a.position for a in audio(events)] == [480, 640, 800, 960]
    assert rx.counts["lost"] == 1
    assert rx.receive_data(pcmu(3, 320)) == [
        ProtocolError("late or duplicate packet seq 3 dropped (1 so far)", fatal=False)
    ]


def test_reordering_inside_the_window_is_fixed() -> None:
    rx = RtpReceiver()
    events = feed(rx, [pcmu(1, 0), pcmu(3, 320), pcmu(4, 480), pcmu(2, 160), pcmu(5, 640)])
    assert [a.position for a in audio(events)] == [0, 160, 320, 480, 640]
    assert "lost" not in rx.counts


def test_duplicates_are_dropped() -> None:
    rx = RtpReceiver()
    events = feed(rx, [pcmu(1, 0), pcmu(2, 160), pcmu(2, 160), pcmu(4, 480), pcmu(4, 480)])
    errors = [e for e in events if isinstance(e, ProtocolError)]
    assert [e.message for e in errors] == [
        "late or duplicate packet seq 2 dropped (1 so far)",
        "duplicate packet seq 4 dropped (1 so far)",
    ]
    assert [a.position for a in audio(events)] == [0, 160]


def test_sequence_and_timestamp_wrap_around() -> None:
    rx = RtpReceiver()
    ts0 = 0xFFFFFFFF - 200
    events = feed(rx, [pcmu(65534, ts0), pcmu(65535, ts0 + 160), pcmu(0, ts0 + 320), pcmu(1, ts0 + 480)])
    assert [a.position for a in audio(events)] == [0, 160, 320, 480]
    events = feed(rx, [pcmu(3, ts0 + 800), pcmu(2, ts0 + 640)])  # reorder across the wrap too
    assert [a.position for a in audio(events)] == [640, 800]


def test_other_payload_types_are_counted_and_dropped_without_breaking_the_sequence() -> None:
    rx = RtpReceiver()
    events = feed(rx, [pcmu(1, 0), pcmu(2, 160, pt=8), pcmu(3, 320)])
    assert [a.position for a in audio(events)] == [0, 320]
    [err] = [e for e in events if isinstance(e, ProtocolError)]
    assert err.message == "payload type 8 dropped (expected 0 PCMU/8000) (1 so far)" and not err.fatal
    more = feed(rx, [pcmu(seq, seq * 160, pt=8) for seq in range(4, 13)])  # occurrences 2..10
    assert [e.message for e in more if isinstance(e, ProtocolError)] == [
        "payload type 8 dropped (expected 0 PCMU/8000) (10 so far)"
    ]
    assert rx.counts["pt8"] == 10


ASTERISK = ("10.0.0.5", 16384)
STRANGER = ("203.0.113.9", 40000)


def test_the_leg_locks_onto_its_first_source() -> None:
    """One packet from another address with a new SSRC neither interrupts nor replaces the stream."""
    rx = RtpReceiver()
    events = rx.receive_data(pcmu(1, 0), at=100.0, source=ASTERISK)
    events += rx.receive_data(pcmu(2, 160), at=100.02, source=ASTERISK)
    [err] = rx.receive_data(pcmu(9000, 777777, ssrc=0x11111111), at=100.03, source=STRANGER)
    assert isinstance(err, ProtocolError) and not err.fatal and "203.0.113.9:40000" in err.message
    assert rx.receive_data(pcmu(9001, 777937, ssrc=0x11111111), at=100.04, source=STRANGER) == []
    events += rx.receive_data(pcmu(3, 320), at=100.04, source=ASTERISK)
    assert [a.position for a in audio(events)] == [0, 160, 320]
    assert rx.counts["foreign_source"] == 2 and rx.source == ASTERISK and rx.ssrc == 0xDEADBEEF


def test_a_new_ssrc_from_the_locked_address_is_dropped_while_the_old_one_streams() -> None:
    rx = RtpReceiver()
    feed(rx, [pcmu(1, 0), pcmu(2, 160)])
    [err] = rx.receive_data(pcmu(9000, 777777, ssrc=0x11111111))
    assert isinstance(err, ProtocolError) and "SSRC 0x11111111 while 0xdeadbeef streams dropped" in err.message
    assert audio(rx.receive_data(pcmu(3, 320)))[0].position == 320


def test_ssrc_change_after_silence_continues_the_track_and_old_ssrc_is_dropped() -> None:
    rx = RtpReceiver()
    events = rx.receive_data(pcmu(1, 0), at=100.0) + rx.receive_data(pcmu(2, 160), at=100.02)
    events += rx.receive_data(pcmu(9000, 777777, ssrc=0x11111111), at=100.02)  # not quiet yet: dropped
    events += rx.receive_data(pcmu(9000, 777777, ssrc=0x11111111), at=101.5)  # re-bridged after 1.5 s
    assert [e.message for e in events if isinstance(e, ProtocolError)][-1].startswith(
        "SSRC changed from 0xdeadbeef to 0x11111111 after 1.5 s of silence"
    )
    events += rx.receive_data(pcmu(9001, 777777 + 160, ssrc=0x11111111), at=101.52)
    assert [a.position for a in audio(events)] == [0, 160, 12000, 12160]
    [err] = rx.receive_data(pcmu(3, 320), at=101.53)  # a straggler of the old source
    assert isinstance(err, ProtocolError) and "previous SSRC 0xdeadbeef" in err.message


def test_ssrc_change_with_arrival_time_keeps_wall_clock_gap() -> None:
    rx = RtpReceiver()
    rx.receive_data(pcmu(1, 0), at=100.0)
    [_, a] = rx.receive_data(pcmu(50, 1234, ssrc=0x22222222), at=103.0)  # 3 s later, new source
    assert isinstance(a, Audio) and a.position == 24000


def test_compound_rtcp_sr_then_bye_ends_the_call() -> None:
    """ffmpeg's goodbye: a Sender Report and a BYE in one datagram (RFC 3550 §6.1)."""
    rx = RtpReceiver()
    feed(rx, [pcmu(1, 0), pcmu(2, 160)])
    sender_report = bytes.fromhex("80c80006deadbeef") + bytes(20)
    bye = bytes.fromhex("81cb0001deadbeef")
    assert rx.receive_data(sender_report + bye) == [CallStop("rtcp-bye")]


def test_compound_rtcp_with_sdes_and_a_bye_naming_several_sources() -> None:
    rx = RtpReceiver()
    feed(rx, [pcmu(1, 0)])
    receiver_report = bytes.fromhex("80c90001deadbeef")
    sdes = bytes.fromhex("81ca0003deadbeef") + b"\x01\x03abc" + bytes(3)  # CNAME "abc", end, padded to 8
    bye = bytes.fromhex("82cb000211111111deadbeef")
    assert rx.receive_data(receiver_report + sdes + bye) == [CallStop("rtcp-bye")]


def test_rtcp_bye_before_media_is_ignored() -> None:
    rx = RtpReceiver()
    [err] = rx.receive_data(bytes.fromhex("81cb0001deadbeef"), source=ASTERISK)
    assert isinstance(err, ProtocolError) and "BYE before media" in err.message
    [start, a] = rx.receive_data(pcmu(1, 0), source=ASTERISK)  # the call still starts
    assert isinstance(start, CallStart) and isinstance(a, Audio)
    assert rx.counts["bye_ignored"] == 1


def test_rtcp_bye_from_another_source_or_ssrc_is_ignored() -> None:
    rx = RtpReceiver()
    rx.receive_data(pcmu(1, 0), source=ASTERISK)
    rx.receive_data(bytes.fromhex("81cb0001deadbeef"), source=STRANGER)  # right SSRC, wrong address
    rx.receive_data(bytes.fromhex("81cb000111111111"), source=ASTERISK)  # right address, other SSRC
    assert rx.counts["foreign_source"] == 1 and rx.counts["bye_ignored"] == 1
    assert audio(rx.receive_data(pcmu(2, 160), source=ASTERISK))[0].position == 160


def test_rtp_wrong_state_calls_and_state_table() -> None:
    assert set(TRANSITIONS) == set(RtpState) and TRANSITIONS[RtpState.ENDED] == frozenset()
    rx = RtpReceiver()
    with pytest.raises(LocalProtocolError, match="accept"):
        rx.accept()
    rx.receive_data(pcmu(1, 0))
    assert rx.state is RtpState.STREAMING and rx.accept() == []
    assert rx.fail("internal error") == [CallStop("error"), Close(1011, "internal error")]
    assert rx.state is RtpState.ENDED
    for call in (rx.accept, rx.close, lambda: rx.fail("x"), rx.close_timeout):
        with pytest.raises(LocalProtocolError):
            call()
    assert rx.connection_closed() == []


def test_sequence_restart_resynchronises() -> None:
    rx = RtpReceiver()
    feed(rx, [pcmu(5000, 0), pcmu(5001, 160)])
    events = rx.receive_data(pcmu(10, 99999))  # same SSRC, sequence and clock restarted
    assert isinstance(events[0], ProtocolError) and "jumped back to 10" in events[0].message
    [a] = audio(events)
    assert a.position == 320


def test_overlapping_timestamps_are_trimmed() -> None:
    rx = RtpReceiver()
    events = feed(rx, [pcmu(1, 0), pcmu(2, 80)])  # second packet starts half-way into the first
    first, second = audio(events)
    assert (second.position, len(second.pcm)) == (160, 160)
    assert second.pcm == first.pcm[160:]  # its last 80 samples


def test_l16_big_endian_at_16k() -> None:
    rx = RtpReceiver(payload_type=118)
    be = bytes.fromhex("0001fffe7fff")  # 1, -2, 32767 big-endian
    events = rx.receive_data(build_rtp(be, payload_type=118, seq=7, timestamp=0, ssrc=1))
    assert isinstance(events[0], CallStart) and events[0].sample_rate == 16000
    assert audio(events) == [Audio("customer", np.array([1, -2, 32767], "<i2").tobytes(), 16000, 0)]
    [err, a] = rx.receive_data(build_rtp(be + b"\x01", payload_type=118, seq=8, timestamp=3, ssrc=1))
    assert isinstance(err, ProtocolError) and "odd" in err.message and isinstance(a, Audio) and a.position == 3


def test_telephone_event_dtmf() -> None:
    rx = RtpReceiver()
    rx.receive_data(pcmu(1, 0))
    event5 = bytes([5, 0x0A, 0x00, 0xA0])
    end5 = bytes([5, 0x8A, 0x01, 0x40])
    events = feed(
        rx,
        [
            build_rtp(event5, payload_type=101, seq=2, timestamp=160, ssrc=0xDEADBEEF, marker=True),
            build_rtp(event5, payload_type=101, seq=3, timestamp=160, ssrc=0xDEADBEEF),
            build_rtp(end5, payload_type=101, seq=4, timestamp=160, ssrc=0xDEADBEEF),
            pcmu(5, 480),
        ],
    )
    assert [e for e in events if isinstance(e, Dtmf)] == [Dtmf("5", "customer")]
    assert [a.position for a in audio(events)] == [480]


def test_rtcp_bye_ends_the_stream_and_other_rtcp_is_ignored() -> None:
    rx = RtpReceiver()
    feed(rx, [pcmu(1, 0), pcmu(3, 320)])  # 3 held waiting for 2
    sender_report = bytes.fromhex("80c80006deadbeef") + bytes(20)
    assert rx.receive_data(sender_report) == []
    events = rx.receive_data(bytes.fromhex("81cb0001deadbeef"))
    assert [a.position for a in audio(events)] == [320]  # flushed
    assert events[-1] == CallStop("rtcp-bye")
    [err] = rx.receive_data(pcmu(4, 480))
    assert isinstance(err, ProtocolError) and "after the stream ended" in err.message


def test_connection_closed_flushes_and_stops() -> None:
    rx = RtpReceiver()
    feed(rx, [pcmu(1, 0), pcmu(3, 320)])
    events = rx.connection_closed()
    assert [a.position for a in audio(events)] == [320] and events[-1] == CallStop("ended")
    assert RtpReceiver().connection_closed() == []


def test_refuse_says_nothing_close_flushes() -> None:
    rx = RtpReceiver()
    feed(rx, [pcmu(1, 0), pcmu(3, 320)])
    assert rx.refuse("busy") == []
    events = rx.close("done")
    assert [a.position for a in audio(events)] == [320] and events[-1] == Close(1000, "done")


def test_constructor_checks_codec_and_rate() -> None:
    with pytest.raises(ValueError, match="not static"):
        RtpReceiver(payload_type=96)
    with pytest.raises(ValueError, match="is L16/16000"):
        RtpReceiver(payload_type=118, sample_rate=8000)
    assert RtpReceiver(payload_type=96, codec="L16", sample_rate=8000).sample_rate == 8000


# ------------------------------------------------------------------------------------------- simulator


def write_wav(path: Path, rate: int, channels: list[np.ndarray]) -> None:
    data = np.stack(channels, axis=1) if len(channels) > 1 else channels[0]
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(len(channels))
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(data.astype("<i2").tobytes())


def test_sender_headers() -> None:
    sender = RtpSender(0, ssrc=0x01020304, seq=65535, timestamp=0xFFFFFFF0)
    first = parse_rtp(sender.packet(b"\0" * 320))
    second = parse_rtp(sender.packet(b"\0" * 320))
    assert (first.marker, first.seq, first.timestamp, first.ssrc, len(first.payload)) == (
        True,
        65535,
        0xFFFFFFF0,
        0x01020304,
        160,
    )
    assert (second.marker, second.seq, second.timestamp) == (False, 0, 0x90)  # both wrapped
    assert sender.bye() == bytes.fromhex("81cb000101020304")
    randoms = {RtpSender(0).ssrc for _ in range(4)}
    assert len(randoms) > 1


@pytest.mark.parametrize(("pt", "rate"), [(0, 8000), (118, 16000)])
def test_simulator_stream_round_trip_with_loss_and_reordering(tmp_path: Path, pt: int, rate: int) -> None:
    wav = tmp_path / "call.wav"
    rng = np.random.default_rng(11)
    write_wav(wav, rate, [rng.integers(-9000, 9000, rate // 2, dtype=np.int16)])
    [pcm] = wav_tracks(wav, rate)
    datagrams = [d for _, d in RtpSender(pt).script(pcm)]
    assert len(datagrams) == 25 + 1  # 0.5 s of 20 ms packets + BYE
    # the network swaps packets 3 and 4 and loses packet 10
    datagrams[3], datagrams[4] = datagrams[4], datagrams[3]
    del datagrams[10]
    rx = RtpReceiver(payload_type=pt)
    events = feed(rx, datagrams)
    assert events[-1] == CallStop("rtcp-bye")
    got = audio(events)
    frame = rate // 50
    assert [a.position for a in got] == [k * frame for k in range(25) if k != 10]
    expected = ulaw_decode(ulaw_encode(pcm)) if pt == 0 else pcm
    for a in got:
        assert a.pcm == expected[2 * a.position : 2 * (a.position + frame)]
