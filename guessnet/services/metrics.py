"""The server's vital signs in the Prometheus text format (``/metrics`` on the web port).

Each server process has its own ``Metrics``: a private ``CollectorRegistry`` (several servers in
one test process never share counters) with the official ``prometheus_client`` types.  The
request path only increments counters and observes one histogram per message; gauges that
describe the present (players connected, rooms, threads) are read when scraped.  Every name
starts with ``guessnet_``, and every label takes its values from a fixed set (message types
from the protocol's allowlist, close reasons, port names): peers cannot grow the label space.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections.abc import Callable
from typing import get_args

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from guessnet import wire
from guessnet.games.guess import Outcome
from guessnet.wire.closing import Close

CONTENT_TYPE = CONTENT_TYPE_LATEST
# seconds: a guess takes ~0.1 ms of CPU; a login's scrypt ~50 ms
REQUEST_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                   0.25, 0.5, 1.0, 2.5)


class Metrics:
    """Counters the services increment; ``exposition`` renders them all."""

    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series
        self.registry = registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=registry)  # CPU seconds, resident memory, open files
        Gauge("guessnet_threads", "Threads of the server process",
              registry=registry).set_function(threading.active_count)
        # per message type: counted on the request path without prometheus_client's lock per
        # value (four of them per request); turned into a counter and a histogram when scraped
        self._requests = _RequestTally(REQUEST_BUCKETS)
        registry.register(self._requests)
        # received(kind, seconds): one client message of type ``kind`` handled in ``seconds``
        self.received = self._requests.add
        self._sent_closed = self._sent_reported = 0
        self._sent_lock = threading.Lock()
        self._live_sent: Callable[[], int] = lambda: 0
        registry.register(_SentCollector(self))
        # counted at every guess: a plain tally, not prometheus_client's four calls and lock
        self.guesses = _Tally("guessnet_guesses", "Guesses accepted (a try used)")
        # counted at every round's end: tallies too
        self.rounds = _Tally("guessnet_rounds", "Guessing rounds ended, by outcome", "outcome",
                             get_args(Outcome))
        self.games_stored = _Tally("guessnet_games_stored",
                                   "Games (rounds and matches) written to the store")
        # counted at every connection's end (a class leaving at once: a tally, every reason
        # shown from the start)
        self.disconnects = _Tally("guessnet_disconnects", "Player connections closed, by "
                                  "reason", "reason", tuple(reason.value for reason in Close))
        for tally in (self.guesses, self.rounds, self.games_stored, self.disconnects):
            registry.register(tally)
        self.games_journaled = Counter(
            "guessnet_games_journaled", "Games kept in the journal because the store failed",
            registry=registry)
        self.handshake_failures = Counter(
            "guessnet_tls_handshake_failures", "TLS handshakes that failed or timed out, by port",
            ["port"], registry=registry)
        self.handshakes_shed = Counter(
            "guessnet_tls_handshakes_shed", "Connections closed before or during their TLS "
            "handshake to let a newcomer in (silent, or keeping the handshake waiting), by port",
            ["port"], registry=registry)
        self.slow_readers = Counter(
            "guessnet_slow_readers_dropped", "Players disconnected for not reading their "
            "messages (outbox over --outbox-kb)", registry=registry)
        self.evictions = Counter(
            "guessnet_evictions", "Players closed by the server: kicked, or replaced by a "
            "login elsewhere", registry=registry)
        self.login_failures = Counter("guessnet_login_failures",
                                      "Logins refused for a wrong name or password",
                                      registry=registry)
        self.login_throttled = Counter("guessnet_login_throttled",
                                       "Logins refused by the throttle", registry=registry)
        for kind in wire.PLAYER_TO_SERVER:  # every series exists from the start
            self._requests.add_kind(kind)
        for port in ("player", "admin", "web"):
            self.handshake_failures.labels(port)
            self.handshakes_shed.labels(port)

    def gauge(self, name: str, text: str, read: Callable[[], float]) -> None:
        """A gauge read from ``read`` when scraped (players connected, rooms)."""
        Gauge(name, text, registry=self.registry).set_function(read)

    def count_sent(self, live: Callable[[], int]) -> None:
        """``live()``: messages queued so far to the connections still open."""
        self._live_sent = live

    def sent_total(self) -> int:
        """Never less than last reported: a connection closing moves its count from the
        live sum to the closed one, and a scrape in between must not see it go back."""
        with self._sent_lock:
            self._sent_reported = max(self._sent_reported,
                                      self._sent_closed + self._live_sent())
            return self._sent_reported

    def closed(self, reason: Close, sent: int) -> None:
        """A player connection ended for ``reason`` (one of the connection's own reasons)
        after ``sent`` messages were queued to it."""
        with self._sent_lock:
            self._sent_closed += sent
        self.disconnects.inc(reason.value)
        if reason is Close.SLOW_READER:
            self.slow_readers.inc()
        elif reason.eviction:
            self.evictions.inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _SentCollector(Collector):
    """``guessnet_messages_sent_total``, summed when scraped: counting in the request path
    would take a lock per message; each outbox already counts under its own."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> list[Metric]:
        return [CounterMetricFamily("guessnet_messages_sent", SENT_HELP)]

    def collect(self) -> list[Metric]:
        return [CounterMetricFamily("guessnet_messages_sent", SENT_HELP,
                                    value=self._metrics.sent_total())]


class _Tally(Collector):
    """A counter incremented on the request path under one small lock, rendered when
    scraped (the same series as ``prometheus_client``'s ``Counter``); with a ``label``, one
    series per value in ``values`` (a fixed set), ``inc(value)``."""

    def __init__(self, name: str, text: str, label: str | None = None,
                 values: tuple[str, ...] = ("",)) -> None:
        self._name, self._text, self._label = name, text, label
        self._lock = threading.Lock()
        self.counts = dict.fromkeys(values, 0)

    def inc(self, value: str = "", amount: int = 1) -> None:
        with self._lock:
            self.counts[value] += amount

    def describe(self) -> list[Metric]:
        return [CounterMetricFamily(self._name, self._text,
                                    labels=[self._label] if self._label else None)]

    def collect(self) -> list[Metric]:
        if self._label is None:
            return [CounterMetricFamily(self._name, self._text, value=self.counts[""])]
        family = CounterMetricFamily(self._name, self._text, labels=[self._label])
        with self._lock:
            counts = list(self.counts.items())
        for value, count in counts:
            family.add_metric([value], count)
        return [family]


class _RequestTally(Collector):
    """``guessnet_messages_received_total`` and the ``guessnet_request_seconds`` histogram,
    by message type: one small lock per update, rendered when scraped."""

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self._bounds = buckets
        self._lock = threading.Lock()
        self._counts: dict[str, list[int]] = {}  # per type: a count per bucket, then +Inf
        self._sums: dict[str, float] = {}

    def add_kind(self, kind: str) -> None:
        with self._lock:
            self._counts_of(kind)

    def add(self, kind: str, seconds: float) -> None:
        slot = bisect.bisect_left(self._bounds, seconds)
        with self._lock:
            counts = self._counts.get(kind)
            if counts is None:
                counts = self._counts_of(kind)
            counts[slot] += 1
            self._sums[kind] += seconds

    def _counts_of(self, kind: str) -> list[int]:
        """``kind``'s bucket counts, made on first use (with the lock held)."""
        counts = self._counts.get(kind)
        if counts is None:
            counts = self._counts[kind] = [0] * (len(self._bounds) + 1)
            self._sums[kind] = 0.0
        return counts

    def describe(self) -> list[Metric]:
        return [CounterMetricFamily("guessnet_messages_received", RECEIVED_HELP, labels=["type"]),
                HistogramMetricFamily("guessnet_request_seconds", SECONDS_HELP,
                                      labels=["type"])]

    def collect(self) -> list[Metric]:
        received = CounterMetricFamily("guessnet_messages_received", RECEIVED_HELP,
                                       labels=["type"])
        seconds = HistogramMetricFamily("guessnet_request_seconds", SECONDS_HELP,
                                        labels=["type"])
        with self._lock:
            tallies = [(kind, list(counts), self._sums[kind])
                       for kind, counts in self._counts.items()]
        for kind, counts, total in tallies:
            cumulative = list(itertools.accumulate(counts))
            received.add_metric([kind], cumulative[-1])
            seconds.add_metric([kind], [
                *((floatToGoString(bound), count)  # type: ignore[no-untyped-call]
                  for bound, count in zip(self._bounds, cumulative[:-1], strict=True)),
                ("+Inf", cumulative[-1])], total)
        return [received, seconds]


RECEIVED_HELP = "Messages received from clients, by type"
SECONDS_HELP = "Time to handle one client message, by type"
SENT_HELP = "Messages queued to players (a room broadcast counts once per member)"
