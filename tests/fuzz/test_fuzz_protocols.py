"""Hypothesis properties for the five sans-I/O phone protocols: any script of wire input (valid messages,
structured mutations, garbage, our own calls at random moments) keeps the contract checked by
`tests.fuzz.harness.Run` (no exception but LocalProtocolError for our misuse, Close codes from CloseCode,
well-formed Audio between CallStart and CallStop, nothing after Close, bounded sizes)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from assist.stream.protocols.audiofork import AudioForkServer
from assist.stream.protocols.audiohook import AudioHookServer
from assist.stream.protocols.audiosocket import AudioSocketServer
from assist.stream.protocols.rtp import RtpReceiver
from assist.stream.protocols.twilio import TwilioServer
from tests.fuzz import strategies as fs
from tests.fuzz.harness import run_script


@given(fs.twilio_script(), st.booleans())
def test_twilio_keeps_the_contract(steps: list[fs.Step], refuse: bool) -> None:
    run_script(TwilioServer(), steps, refuse=refuse)


@given(fs.audiohook_script(), st.booleans(), st.booleans())
def test_audiohook_keeps_the_contract(steps: list[fs.Step], refuse: bool, with_headers: bool) -> None:
    proto = AudioHookServer(fs.audiohook_headers() if with_headers else None)
    run_script(proto, steps, refuse=refuse)


@given(fs.audiofork_script(), st.booleans())
def test_audiofork_keeps_the_contract(steps: list[fs.Step], refuse: bool) -> None:
    run_script(AudioForkServer(), steps, refuse=refuse)


@given(fs.audiosocket_script(), st.booleans())
def test_audiosocket_keeps_the_contract(steps: list[fs.Step], refuse: bool) -> None:
    run_script(AudioSocketServer(max_payload=1024), steps, refuse=refuse)


@given(st.sampled_from([0, 8, 118]).flatmap(lambda pt: st.tuples(st.just(pt), fs.rtp_script(pt))), st.booleans())
def test_rtp_keeps_the_contract(case: tuple[int, list[fs.Step]], refuse: bool) -> None:
    payload_type, steps = case
    run_script(RtpReceiver(payload_type=payload_type), steps, refuse=refuse)
