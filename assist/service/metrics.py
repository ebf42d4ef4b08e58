"""Prometheus metrics of one running service, in the text format GET /metrics serves (docs/scale.md, "Metrics").

Each service has its own `CollectorRegistry`, never prometheus_client's global default one: the tests run many
services in one process, and a node's numbers must be its own.  Most values are read from the parts when
Prometheus scrapes (`_ServiceCollector`: the call manager, the recognition engine, the outbox worker, the
loop-stall monitor), so nothing is counted twice and the parts know nothing of Prometheus; what can only be seen
as it happens (an event reaching a browser) is observed where it happens (`Metrics.sent_to_browser`).

The outbox lives in the database every node shares: `assist_outbox_*` gauges are the same on every node (take
their `max`, not their `sum`), while `assist_outbox_deliveries_total` counts this node's own attempts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from assist.events import utcnow
from assist.store.outbox import STATUSES
from assist.stream.calls import REFUSAL_KINDS
from assist.stream.overload import Level
from assist.sync.api import outbox_depth

if TYPE_CHECKING:
    from assist.service.context import Context

# an event's creation to its WebSocket send: the coach, the store write and the browser queue (tens of ms when
# all is well; bench/RESULTS.md §5)
BROWSER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DELIVERY_RESULTS = ("delivered", "retry", "dead")


class Metrics:
    """One service's registry: process metrics, the service's own (read at scrape time), and the browser
    latency histogram."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)  # process_cpu_seconds_total, memory, open files
        self.event_to_browser = Histogram(
            "assist_event_to_browser_seconds",
            "Seconds from a live event's creation (a transcript segment when recognised, a prompt when the "
            "coach raised it) to its WebSocket send to a browser, by event type",
            ["type"],
            buckets=BROWSER_BUCKETS,
            registry=self.registry,
        )
        self._service: _ServiceCollector | None = None

    def track(self, ctx: Context) -> None:
        """Read the running service's parts at every scrape (once, at start-up)."""
        if self._service is None:
            self._service = _ServiceCollector(ctx)
            self.registry.register(self._service)

    def sent_to_browser(self, ev: Any) -> None:
        """An event was just sent to a browser: observe how long it took since it was created."""
        at = getattr(ev, "at", None)
        kind = getattr(ev, "type", None)
        if at is not None and isinstance(kind, str):
            self.event_to_browser.labels(kind).observe(max(0.0, (utcnow() - at).total_seconds()))

    async def render(self) -> bytes:
        """The scrape: the outbox numbers are read from the database first (asynchronously), then everything
        is rendered in the text exposition format."""
        if self._service is not None:
            self._service.outbox = await outbox_depth(self._service.ctx.db)
        return generate_latest(self.registry)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


class _ServiceCollector(Collector):
    """The service's own metrics, read from its parts when scraped."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.outbox: dict[str, Any] | None = None  # set by Metrics.render just before the scrape

    def describe(self) -> list[Metric]:
        return []  # read at scrape time; nothing to check for clashes at registration

    def collect(self) -> Iterator[Metric]:
        yield from self._calls()
        yield from self._recognition()
        yield from self._outbox()
        yield from self._loop()
        yield _gauge(
            "assist_draining", "1 while this node drains (refuses new calls, not ready)", float(self.ctx.drain.active)
        )
        hub = self.ctx.browser_hub
        yield _gauge(
            "assist_browser_connections",
            "Sidebars and consoles connected to this node (their WebSockets)",
            float(len(getattr(hub, "connections", ()))),
        )

    def _calls(self) -> Iterator[Metric]:
        calls = self.ctx.calls
        yield _gauge(
            "assist_live_calls", "Calls in progress on this node", float(len(calls.live) + len(self.ctx.demo_calls))
        )
        yield _counter("assist_calls_started", "Calls admitted", float(calls.counters["calls_started"]))
        yield _counter("assist_calls_ended", "Calls ended", float(calls.counters["calls_ended"]))
        yield _counter(
            "assist_calls_shed", "Calls ended under recognition overload", float(calls.counters["calls_shed"])
        )
        refused = CounterMetricFamily(
            "assist_calls_refused",
            "New calls and call registrations refused, by reason (capacity, overload, lag, duplicate, draining, "
            "no_rtp_port)",
            labels=["reason"],
        )
        kinds = dict.fromkeys((kind for _, kind in REFUSAL_KINDS), 0)
        kinds.update(calls.refusals)
        for kind, n in sorted(kinds.items()):
            refused.add_metric([kind], float(n))
        yield refused
        yield _counter(
            "assist_call_seconds",
            "Seconds of call audio handled (each call's timeline once, whatever its tracks); "
            "rate(process_cpu_seconds_total) / rate(assist_call_seconds_total) is the CPU a call-second costs",
            calls.call_seconds(),
        )
        yield _counter(
            "assist_summaries_failed",
            "Call summaries that could not be written at call end",
            float(self.ctx.coach.counters.get("summaries_failed", 0)),
        )

    def _recognition(self) -> Iterator[Metric]:
        engine = self.ctx.engine
        now_backlog = engine.backlog(time.monotonic())
        streams = float(len(engine.streams))
        yield _gauge("assist_live_streams", "Recognition streams open (one per speaker of a call)", streams)
        yield _gauge("assist_stream_limit", "Recognition streams this node admits now", float(engine.stream_limit()))
        yield _gauge(
            "assist_decode_lag_seconds",
            "Largest decode lag (audio received to decoded) over the open streams in the last 10 s",
            engine.current_lag(),
        )
        yield _gauge(
            "assist_decode_backlog_seconds",
            "Age of the oldest audio received but not yet decoded (the overload policy's measure)",
            now_backlog,
        )
        yield _gauge(
            "assist_overload_level",
            f"Recognition overload level: {', '.join(f'{lvl.value} = {lvl.name}' for lvl in Level)}",
            float(engine.governor.level),
        )
        yield _counter(
            "assist_decode_cpu_seconds",
            "CPU seconds the decode threads spent in vosk",
            engine.finished_decode_cpu + sum(s.stats.decode_cpu for s in list(engine.streams)),
        )
        yield _gauge("assist_transcribing", "1 when a speech model is loaded", float(engine.available))

    def _outbox(self) -> Iterator[Metric]:
        depth = self.outbox or {"by_status": dict.fromkeys(STATUSES, 0), "open": 0, "oldest_open_age_seconds": 0.0}
        items = GaugeMetricFamily(
            "assist_outbox_items",
            "Outbox items by status (the shared database: the same on every node)",
            labels=["status"],
        )
        for status, n in sorted(depth["by_status"].items()):
            items.add_metric([status], float(n))
        yield items
        yield _gauge("assist_outbox_depth", "Outbox items still to deliver (held, pending, in flight)", depth["open"])
        yield _gauge(
            "assist_outbox_oldest_age_seconds",
            "Seconds since the call of the oldest undelivered outbox item ended (0 when none is open)",
            depth["oldest_open_age_seconds"],
        )
        worker = self.ctx.sync_worker
        deliveries = CounterMetricFamily(
            "assist_outbox_deliveries",
            "Delivery attempts this node's outbox worker made, by CRM target and result (delivered, retry, dead)",
            labels=["target", "result"],
        )
        results = {(t, r): 0 for t in worker.adapters for r in DELIVERY_RESULTS}
        results.update(worker.results)
        for (target, result), n in sorted(results.items()):
            deliveries.add_metric([target, result], float(n))
        yield deliveries

    def _loop(self) -> Iterator[Metric]:
        mon = self.ctx.looplag
        yield _counter(
            "assist_loop_stalls",
            f"Event-loop wake-ups later than {mon.stall_threshold * 1000:g} ms (the loop was blocked)",
            float(mon.stalls),
        )
        yield _counter("assist_loop_stall_seconds", "Seconds the stalls were late, in total", mon.stall_seconds)
        yield _gauge("assist_loop_lag_max_seconds", "Longest event-loop stall since start", mon.max_lag)
        yield _counter("assist_gc_pause_seconds", "Seconds spent in garbage collections", mon.gc_total)
