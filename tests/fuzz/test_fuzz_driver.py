"""The real protocol objects under the real ProtocolDriver, with fakes at its edges (the recording call
manager and wire of tests/test_protocol_driver.py): whatever a fuzz script sends, the driver never hits
its internal-error path (an exception from the protocol), sends nothing after its Close, and ends the
call at most once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from assist.stream.protocols.audiofork import AudioForkServer
from assist.stream.protocols.audiohook import AudioHookServer
from assist.stream.protocols.audiosocket import AudioSocketServer
from assist.stream.protocols.base import PhoneProtocol
from assist.stream.protocols.rtp import RtpReceiver
from assist.stream.protocols.twilio import TwilioServer
from assist.web.phone.driver import ProtocolDriver
from tests.fuzz import strategies as fs
from tests.test_protocol_driver import FakeCalls, Wire

INGRESS: dict[str, tuple[Callable[[], PhoneProtocol[Any]], st.SearchStrategy[list[fs.Step]]]] = {
    "twilio": (TwilioServer, fs.twilio_script()),
    "audiohook": (lambda: AudioHookServer(fs.audiohook_headers()), fs.audiohook_script()),
    "audiofork": (AudioForkServer, fs.audiofork_script()),
    "audiosocket": (AudioSocketServer, fs.audiosocket_script()),
    "rtp": (RtpReceiver, fs.rtp_script(0)),
}


async def drive(proto: PhoneProtocol[Any], steps: list[fs.Step], refuse: bool) -> None:
    calls, wire = FakeCalls(refuse_with="busy" if refuse else None), Wire()
    driver = ProtocolDriver(
        proto, "fuzz", calls, send_text=wire.send_text, send_bytes=wire.send_bytes, close=wire.close
    )
    with capture_logs() as logs:
        for step in steps:
            if isinstance(step, fs.Feed):
                await driver.receive(step.data, at=step.at, source=step.source)
        await driver.connection_lost()
    errors = [entry for entry in logs if entry["log_level"] in ("error", "critical")]
    assert not errors, errors
    closes = [i for i, action in enumerate(wire.actions) if action[0] == "close"]
    assert len(closes) <= 1 and (not closes or closes[0] == len(wire.actions) - 1), wire.actions[-5:]
    assert len(calls.ended) <= 1, calls.ended


@given(st.sampled_from(sorted(INGRESS)).flatmap(lambda name: st.tuples(st.just(name), INGRESS[name][1])), st.booleans())
def test_driver_never_fails_internally(case: tuple[str, list[fs.Step]], refuse: bool) -> None:
    name, steps = case
    asyncio.run(drive(INGRESS[name][0](), steps, refuse))
