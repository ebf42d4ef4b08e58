"""Hypothesis strategies for every ingress: scripts of wire input for the five phone protocols, and JSON
bodies / query strings / client messages for the HTTP API and the browser socket.

Each protocol script mixes valid messages (built with the protocol's own client encoder, so the fuzzer
reaches the deep states), *structured* mutations of them (a field deleted, retyped, made huge, deeply
nested, non-finite, unicode; sequence numbers wrong; messages repeated or out of order), raw garbage,
and calls our own side makes (close, fail) at random moments.
"""

from __future__ import annotations

import json
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from assist.stream.protocols.audiofork import AudioForkClient
from assist.stream.protocols.audiohook import AudioHookClient, format_duration, mono_offers, stereo_offers
from assist.stream.protocols.audiosocket import encode_frame
from assist.stream.protocols.base import Source
from assist.stream.protocols.rtp import RTCP_BYE, build_rtp
from assist.stream.protocols.twilio import TwilioClient


@dataclass(frozen=True)
class Feed:
    """Something that arrived on the wire (`at`/`source` matter to RTP only)."""

    data: str | bytes
    at: float | None = None
    source: Source | None = None


@dataclass(frozen=True)
class Local:
    """A call our own side makes on the protocol object (close, fail, close_timeout)."""

    name: str


Step = Feed | Local

# ------------------------------------------------------------------------------------ JSON values

# Values a peer may put where we expect something else: every JSON type, extremes, unicode, non-finite
# numbers (json.dumps writes them as NaN / Infinity, which strict parsers must refuse).
_HUGE = st.sampled_from([1_000, 70_000]).map(lambda n: "x" * n)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([-1, 0, 2**31, 2**63, 2**64 + 1, -(2**63), 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            "1e309",
            "NaN",
            "\u0000",
            "\ud7ff\ufffd",
            "😀" * 5,
            "ＡＢＣ",
            "١٢٣",
            "PT1S",
            "00000000-0000-0000-0000-000000000000",
            "inbound",
            "customer",
            "audio/x-mulaw",
        ]
    ),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def nested(depth: int, leaf: Any = 0) -> Any:
    """`leaf` wrapped in `depth` lists (built in a loop: deep values must not need recursion here)."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


NASTY = st.one_of(
    JSON_VALUES,
    _HUGE,
    st.integers(min_value=20, max_value=400).map(nested),  # json.dumps recurses: stay below its limit
    st.integers(min_value=1, max_value=6).map(lambda n: {"a": nested(n)}),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON value (dict keys and list indices), the root excluded."""
    out: list[tuple[Any, ...]] = []
    stack: list[tuple[tuple[Any, ...], Any]] = [(prefix, value)]
    while stack:
        path, node = stack.pop()
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in children:
            out.append((*path, key))
            stack.append(((*path, key), child))
    return sorted(out, key=repr)


@st.composite
def mutated(draw: st.DrawFn, message: dict[str, Any]) -> str:
    """`message` with one to three structured mutations, serialised (NaN/Infinity allowed)."""
    msg = json.loads(json.dumps(message))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(msg)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = msg
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        op = draw(st.sampled_from(["delete", "replace", "replace", "wrap", "stringify", "number"]))
        if op == "delete":
            del parent[key]
        elif op == "replace":
            parent[key] = draw(NASTY)
        elif op == "wrap":
            parent[key] = [parent[key]] if draw(st.booleans()) else {"v": parent[key]}
        elif op == "stringify":
            parent[key] = str(parent[key])
        else:  # a number where there was anything (sequence numbers, rates, positions)
            parent[key] = draw(st.integers(min_value=-5, max_value=2**40) | st.floats())
    text = json.dumps(msg, ensure_ascii=draw(st.booleans()))
    if draw(st.integers(0, 9)) == 0:  # raw-text damage: truncated or with junk appended
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] if draw(st.booleans()) else text + draw(st.text(max_size=5))
    return text


GARBAGE_TEXT = st.one_of(
    st.text(max_size=200),
    st.integers(min_value=30, max_value=5000).map(lambda n: "[" * n + "]" * n),
    st.integers(min_value=30, max_value=5000).map(lambda n: '{"a":' * n + "0" + "}" * n),
    st.sampled_from(
        [
            "NaN",
            "[Infinity]",
            '{"event": -Infinity}',
            "1" * 5000,
            "{}",
            "[]",
            "null",
            '"x"',
            "",
            '{"event": "media"',
            "\ufeff{}",
        ]
    ),
)
GARBAGE_BYTES = st.binary(max_size=400)
LOCAL = st.sampled_from(["close", "fail", "close_timeout", "connection_closed"]).map(Local)


def _script(
    valid: Sequence[str | bytes],
    messages: list[dict[str, Any]],
    *,
    text: bool,
    extra: st.SearchStrategy[Step] | None = None,
) -> st.SearchStrategy[list[Step]]:
    """A script: optionally the valid prefix, then valid messages in any order (repeats and omissions
    included), mutations of them, garbage, and our own calls."""
    pieces: list[st.SearchStrategy[Step]] = [
        st.sampled_from(valid).map(Feed),
        st.sampled_from(messages).flatmap(mutated).map(Feed),
        GARBAGE_BYTES.map(Feed),
    ]
    if text:
        pieces.append(GARBAGE_TEXT.map(Feed))
    if extra is not None:
        pieces.append(extra)
    # Our own calls are rarer: most scripts must get deep before someone closes them.
    body = st.lists(st.one_of(*pieces) | st.one_of(*pieces) | LOCAL, max_size=14)

    @st.composite
    def build(draw: st.DrawFn) -> list[Step]:
        prefix = [Feed(m) for m in valid[: draw(st.integers(0, 2))]]
        return prefix + draw(body)

    return build()


# ------------------------------------------------------------------------------------ Twilio


def twilio_script() -> st.SearchStrategy[list[Step]]:
    client = TwilioClient(
        call_sid="CA" + "1" * 32,
        stream_sid="MZ" + "2" * 32,
        account_sid="AC" + "3" * 32,
        custom_parameters={"agentId": "a-1", "accountNo": "88", "direction": "inbound"},
    )
    valid = [
        client.connected(),
        client.start(),
        client.media("inbound", b"\xff" * 160),
        client.media("outbound", b"\x7f" * 160),
        client.media("inbound", b"\x00" * 160),
        client.dtmf("5"),
        client.stop(),
    ]
    messages = [json.loads(m) for m in valid]
    return _script(valid, messages, text=True)


# ------------------------------------------------------------------------------------ AudioHook

_AH_SESSION = "5f3e0000-0000-4000-8000-000000000001"


def audiohook_headers() -> dict[str, str]:
    return {"Audiohook-Session-Id": _AH_SESSION, "Audiohook-Organization-Id": "5f3e0000-0000-4000-8000-0000000000aa"}


@st.composite
def audiohook_script(draw: st.DrawFn) -> list[Step]:
    """AudioHook needs consecutive client seq numbers to get past `open`: templates are numbered in
    script order (unless the draw says not to), then some are mutated (which may break seq again)."""
    client = AudioHookClient(
        session_id=_AH_SESSION,
        organization_id="5f3e0000-0000-4000-8000-0000000000aa",
        offers=draw(st.sampled_from([stereo_offers(), mono_offers(), []])),
        custom_config={"agentId": "a-1"},
    )
    templates = {
        "open": json.loads(client.open()),
        "ping": json.loads(client.ping()),
        "paused": json.loads(client._message("paused")),
        "resumed": json.loads(client._message("resumed", {"start": "PT1S", "discarded": "PT0.5S"})),
        "discarded": json.loads(client._message("discarded", {"start": "PT1S", "discarded": "PT2S"})),
        "update": json.loads(client._message("update", {"language": "en-US"})),
        "error": json.loads(client._message("error", {"code": 408, "message": "late"})),
        "close": json.loads(client.close()),
    }
    kinds = draw(st.lists(st.sampled_from([*templates, "audio", "audio", "audio", "garbage", "local"]), max_size=16))
    if draw(st.integers(0, 3)):
        kinds = ["open", *kinds]
    renumber = draw(st.integers(0, 4)) > 0
    seq = 0
    samples = 0
    out: list[Step] = []
    for kind in kinds:
        if kind == "audio":
            size = draw(st.sampled_from([0, 1, 2, 3, 160, 320, 321, 640]) | st.integers(0, 2000))
            out.append(Feed(draw(st.binary(min_size=size, max_size=size))))
            samples += size // 2
            continue
        if kind == "garbage":
            out.append(Feed(draw(GARBAGE_TEXT | GARBAGE_BYTES)))
            continue
        if kind == "local":
            out.append(draw(LOCAL))
            continue
        msg = json.loads(json.dumps(templates[kind]))
        seq += 1
        if renumber:
            msg["seq"] = seq
            msg["position"] = format_duration(samples / 8000)
        if draw(st.integers(0, 4)) == 0:
            out.append(Feed(draw(mutated(msg))))
        else:
            out.append(Feed(json.dumps(msg)))
    return out


# ------------------------------------------------------------------------------------ AudioFork


def audiofork_script() -> st.SearchStrategy[list[Step]]:
    @st.composite
    def build(draw: st.DrawFn) -> list[Step]:
        client = AudioForkClient(
            sample_rate=draw(st.sampled_from([8000, 16000])),
            channels=draw(st.sampled_from([1, 2])),
            call_id="c-1",
            agent_id="a-1",
            account_id="88",
        )
        valid: list[str | bytes] = [
            client.metadata(),
            b"\x01\x02" * 160,
            b"\x01\x02\x03",
            b"",
            client.dtmf("7"),
            client.stop(),
        ]
        messages = [
            json.loads(client.metadata()),
            {"type": "dtmf", "data": {"digit": "1", "speaker": "agent"}},
            {"type": "stop"},
        ]
        frames = st.integers(0, 1500).flatmap(lambda n: st.binary(min_size=n, max_size=n)).map(Feed)
        return draw(_script(valid, messages, text=True, extra=frames))

    return build()


# ------------------------------------------------------------------------------------ AudioSocket

_KINDS = st.sampled_from([0x00, 0x01, 0x02, 0x03, 0x10, 0x10, 0x10, 0x11, 0xFF]) | st.integers(0, 255)


@st.composite
def audiosocket_frame(draw: st.DrawFn) -> bytes:
    kind = draw(_KINDS)
    if kind == 0x01 and draw(st.booleans()):
        payload = uuid.UUID(int=draw(st.integers(0, 3))).bytes  # a few UUIDs: repeats and switches
    elif kind == 0x03:
        payload = draw(st.sampled_from([b"5", b"#", b"", b"12", b"\xff", b"5\x00"]))
    else:
        payload = draw(st.binary(max_size=700))
    if draw(st.integers(0, 7)) == 0:  # a header whose length lies, or announces far too much
        length = draw(st.integers(0, 0xFFFF))
        return struct.pack(">BH", kind, length) + payload
    return encode_frame(kind, payload)


@st.composite
def audiosocket_script(draw: st.DrawFn) -> list[Step]:
    """Frames (valid, lying lengths, garbage), concatenated and cut into TCP reads at random points."""
    frames = draw(st.lists(audiosocket_frame() | GARBAGE_BYTES.filter(lambda b: len(b) < 40), max_size=14))
    if draw(st.integers(0, 3)):
        frames.insert(0, encode_frame(0x01, uuid.UUID(int=1).bytes))
    stream = b"".join(frames)
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    reads = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    steps: list[Step] = [Feed(r) for r in reads if r]
    if draw(st.integers(0, 4)) == 0:
        steps.insert(draw(st.integers(0, len(steps))), draw(LOCAL))
    return steps


# ------------------------------------------------------------------------------------ RTP

_ADDRS: list[Source] = [("127.0.0.1", 40000), ("127.0.0.1", 40001), ("10.0.0.9", 40000)]


@st.composite
def rtp_datagram(draw: st.DrawFn, payload_type: int) -> bytes:
    kind = draw(st.sampled_from(["rtp", "rtp", "rtp", "rtcp", "garbage", "truncated"]))
    if kind == "rtcp":
        parts = []
        for _ in range(draw(st.integers(1, 3))):
            pt = draw(st.sampled_from([200, 201, 202, RTCP_BYE, 204]) | st.integers(192, 223))
            body = draw(st.sampled_from([struct.pack(">I", 0x1234), b""]) | st.binary(max_size=40))
            words = (len(body) + 3) // 4
            body = body.ljust(4 * words, b"\0")
            if draw(st.integers(0, 5)) == 0:
                words = draw(st.integers(0, 0xFFFF))  # a length that runs past the datagram
            parts.append(struct.pack(">BBH", 0x80 | draw(st.integers(0, 31)), pt, words) + body)
        return b"".join(parts)
    if kind == "garbage":
        return draw(GARBAGE_BYTES)
    pt = draw(st.sampled_from([payload_type, payload_type, payload_type, 101, 0, 8, 118]) | st.integers(0, 127))
    if pt == 101:
        payload = (
            bytes([draw(st.integers(0, 20)), 0x80, 0, 160]) if draw(st.booleans()) else draw(st.binary(max_size=6))
        )
    else:
        payload = draw(st.binary(max_size=400))
    data = build_rtp(
        payload,
        payload_type=pt,
        seq=draw(st.integers(0, 6) | st.integers(0, 0xFFFF)),
        timestamp=draw(st.integers(0, 6).map(lambda k: k * 160) | st.integers(0, 0xFFFFFFFF)),
        ssrc=draw(st.sampled_from([0x1234, 0x1234, 0x1234, 0x5678]) | st.integers(0, 0xFFFFFFFF)),
        marker=draw(st.booleans()),
        csrcs=tuple(draw(st.lists(st.integers(0, 0xFFFFFFFF), max_size=3))),
        extension=draw(st.none() | st.binary(max_size=8).map(lambda b: b.ljust((len(b) + 3) // 4 * 4, b"\0"))),
        padding=draw(st.integers(0, 4)),
    )
    if kind == "truncated":
        data = data[: draw(st.integers(0, len(data)))]
    elif draw(st.integers(0, 9)) == 0:  # damage a header byte (version, padding, CSRC count, extension flag)
        index = draw(st.integers(0, min(len(data), 16) - 1))
        data = data[:index] + bytes([draw(st.integers(0, 255))]) + data[index + 1 :]
    return data


@st.composite
def rtp_script(draw: st.DrawFn, payload_type: int) -> list[Step]:
    steps: list[Step] = []
    at = 0.0
    for _ in range(draw(st.integers(0, 24))):
        if draw(st.integers(0, 12)) == 0:
            steps.append(draw(LOCAL))
            continue
        at += draw(st.sampled_from([0.0, 0.02, 0.02, 0.02, 1.5]) | st.floats(0, 100))
        source = draw(st.sampled_from([_ADDRS[0], _ADDRS[0], _ADDRS[0], _ADDRS[1], _ADDRS[2]]) | st.none())
        timed = draw(st.integers(0, 5)) > 0
        steps.append(Feed(draw(rtp_datagram(payload_type)), at if timed else None, source))
    return steps


# ------------------------------------------------------------------------------------ HTTP / browser


def json_body(valid: dict[str, Any]) -> st.SearchStrategy[str]:
    """A request body: the valid one mutated, any JSON value, or raw garbage text."""
    return st.one_of(
        mutated(valid),
        JSON_VALUES.map(lambda v: json.dumps(v)),
        NASTY.map(lambda v: json.dumps(v)),
        GARBAGE_TEXT,
    )
