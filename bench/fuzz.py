"""The fuzz suite's long run: the same hypothesis strategies and invariants as tests/fuzz, many more inputs.

    python bench/fuzz.py --inputs 100000                 # every ingress, 100,000 generated inputs each
    python bench/fuzz.py --inputs 5000 --only twilio rtp # some ingresses
    python bench/fuzz.py --inputs 20000 --http-inputs 2000 --seed 7

Ingresses: the five phone protocols (sans-I/O objects checked by tests.fuzz.harness), the real driver with
each protocol behind it, every JSON API route and query, /login, and the browser socket (a real server on
loopback, tests.fuzz.live).  For each: inputs run, failures (the first one, shrunk, is printed by
hypothesis), seconds and inputs per second.  Exit status 1 when any ingress failed.

One "input" is one hypothesis example: a whole script (up to ~24 messages / datagrams / reads) for a
protocol, one request for an HTTP route, up to five messages on one socket for /ws.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import given, seed, settings
from hypothesis import strategies as st

from assist.stream.protocols.audiofork import AudioForkServer
from assist.stream.protocols.audiohook import AudioHookServer
from assist.stream.protocols.audiosocket import AudioSocketServer
from assist.stream.protocols.rtp import RtpReceiver
from assist.stream.protocols.twilio import TwilioServer
from tests.fuzz import profiles
from tests.fuzz import strategies as fs
from tests.fuzz.harness import run_script
from tests.fuzz.live import LiveServer, path_segment
from tests.fuzz.test_fuzz_driver import INGRESS, drive

QUERY_PATHS = [
    "/api/accounts/acct-fuzz-1/dial-check",
    "/api/accounts/{id}/dial-check",
    "/api/calls",
    "/api/outbox",
    "/api/outbox/metrics",
    "/api/outbox/{n}",
    "/api/calls/{id}",
    "/api/calls/{id}/summary",
    "/api/accounts/{id}",
]

profiles.load()  # registers the profiles; "long" is the parent of every run below


@dataclass
class Result:
    name: str
    inputs: int
    failure: str | None
    seconds: float


# Hypothesis keeps every example of a run in memory (~700 MB after 5,000 protocol scripts): a long run is
# cut into chunks of this many examples, each its own hypothesis run with its own seed.
CHUNK = 5_000


def run(name: str, strategy: st.SearchStrategy[Any], body: Callable[[Any], None], n: int, seed_value: int) -> Result:
    count = 0

    def prop(example: Any) -> None:
        nonlocal count
        count += 1
        body(example)

    start = time.perf_counter()
    failure = None
    for chunk, first in enumerate(range(0, n, CHUNK)):
        size = min(CHUNK, n - first)
        profile = settings(settings.get_profile("long"), max_examples=size)
        test = seed(seed_value * 1_000_003 + chunk)(profile(given(strategy)(prop)))
        try:
            test()
        except Exception as exc:  # the property failed (hypothesis re-raises the shrunk example's error)
            failure = f"{type(exc).__name__}: {str(exc)[:400]}"
            break
    return Result(name, count, failure, time.perf_counter() - start)


def protocol_ingresses() -> dict[str, tuple[st.SearchStrategy[Any], Callable[[Any], None]]]:
    def rtp(case: tuple[int, list[fs.Step]]) -> None:
        run_script(RtpReceiver(payload_type=case[0]), case[1])

    def via_driver(case: tuple[str, list[fs.Step]]) -> None:
        asyncio.run(drive(INGRESS[case[0]][0](), case[1], refuse=False))

    return {
        "twilio": (fs.twilio_script(), lambda s: run_script(TwilioServer(), s)),
        "audiohook": (fs.audiohook_script(), lambda s: run_script(AudioHookServer(fs.audiohook_headers()), s)),
        "audiofork": (fs.audiofork_script(), lambda s: run_script(AudioForkServer(), s)),
        "audiosocket": (fs.audiosocket_script(), lambda s: run_script(AudioSocketServer(max_payload=1024), s)),
        "rtp": (st.sampled_from([0, 8, 118]).flatmap(lambda pt: st.tuples(st.just(pt), fs.rtp_script(pt))), rtp),
        "driver": (
            st.sampled_from(sorted(INGRESS)).flatmap(lambda n: st.tuples(st.just(n), INGRESS[n][1])),
            via_driver,
        ),
    }


def http_ingresses(live: LiveServer) -> dict[str, tuple[st.SearchStrategy[Any], Callable[[Any], None]]]:
    from tests.fuzz import test_fuzz_http as h  # the routes table, reply checker and /ws property

    out: dict[str, tuple[st.SearchStrategy[Any], Callable[[Any], None]]] = {}
    for name, route in h.ROUTES.items():

        def call(case: tuple[str, str | None], route: h.Route = route) -> None:
            ident, body = case
            h.exchange(live, route.method, route.template.replace("{id}", path_segment(ident)), body)

        out[f"http:{name}"] = (st.tuples(h.IDS, route.body if route.body is not None else st.none()), call)

    def ws(texts: list[str]) -> None:
        h.test_browser_socket_answers_bad_messages_with_4xx_errors.hypothesis.inner_test(live, texts)  # type: ignore[attr-defined]

    out["ws:client-messages"] = (st.lists(h.CLIENT_TEXT.filter(h.sendable), min_size=1, max_size=5), ws)

    # The GET queries (dial-check at/language, limits, ids), outbox retry ids and /login form bodies: the
    # pytest properties' own bodies, driven with the long run's example counts.
    def inner(test: Any) -> Callable[..., None]:
        fn: Callable[..., None] = test.hypothesis.inner_test
        return fn

    queries = inner(h.test_queries_get_a_4xx_saying_why)
    out["http:queries"] = (
        st.tuples(
            st.dictionaries(st.sampled_from(["at", "language", "limit", "x"]), h.QUERY_VALUES, max_size=3),
            st.sampled_from(QUERY_PATHS),
            h.IDS,
            st.integers(min_value=0, max_value=10**30),
        ),
        lambda case: queries(live, *case),
    )
    retry = inner(h.test_outbox_retry_of_any_id)
    out["http:outbox-retry"] = (st.integers(min_value=0, max_value=10**30), lambda n: retry(live, n))
    form = inner(h.test_login_form_bodies)
    out["http:login-form"] = (
        st.dictionaries(st.sampled_from(["name", "password", "next", "x"]), st.text(max_size=60), max_size=4),
        lambda body: form(live, body),
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=100_000, help="generated inputs per protocol ingress")
    parser.add_argument("--http-inputs", type=int, default=None, help="per HTTP/WS ingress (default: --inputs)")
    parser.add_argument("--only", nargs="*", default=None, help="ingress names (or prefixes like http:)")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (a run is reproducible)")
    args = parser.parse_args()

    def wanted(name: str) -> bool:
        return args.only is None or any(name == o or name.startswith(o) for o in args.only)

    results: list[Result] = []
    for name, (strategy, body) in protocol_ingresses().items():
        if wanted(name):
            results.append(run(name, strategy, body, args.inputs, args.seed))
            print(_line(results[-1]), flush=True)
    live: LiveServer | None = None
    try:
        names = [n for n in ("http:", "ws:") if wanted(n) or any(o.startswith(n) for o in args.only or [])]
        if names:
            live = LiveServer()
            for name, (strategy, body) in http_ingresses(live).items():
                if wanted(name):
                    results.append(run(name, strategy, body, args.http_inputs or args.inputs, args.seed))
                    print(_line(results[-1]), flush=True)
            assert live.healthy(), "/healthz is not 200 after the run"
    finally:
        if live is not None:
            live.stop()
    total = sum(r.inputs for r in results)
    failed = [r for r in results if r.failure]
    print(f"total: {total} inputs, {len(failed)} failing ingress(es), {sum(r.seconds for r in results):.0f} s")
    return 1 if failed else 0


def _line(r: Result) -> str:
    rate = r.inputs / r.seconds if r.seconds else 0.0
    status = "ok" if r.failure is None else f"FAILED {r.failure}"
    return f"{r.name:22} {r.inputs:8d} inputs  {r.seconds:8.1f} s  {rate:8.0f}/s  {status}"


if __name__ == "__main__":
    sys.exit(main())
