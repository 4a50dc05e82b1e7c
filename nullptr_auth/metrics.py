"""Metrics of one or more middlewares, counted off the hot path, exported on demand.

``AuthMiddleware(..., metrics=Metrics())`` counts logins, failed logins by reason,
throttled attempts (``429``), sessions started and ended, the ``401`` and ``503``
answers, and the time authentication takes per request. Nothing is exported until
asked, through the extra of your choice:

* ``pip install nullptr_auth[prometheus]``: ``metrics.register_prometheus()`` (or a
  ``registry=``); ``nullptr-auth serve --metrics`` shows them on ``/metrics``;
* ``pip install nullptr_auth[otel]``: ``metrics.register_otel(meter)`` with a meter of
  the OpenTelemetry API; every instrument is an observable one, read at collection.

Counting costs a request no lock and no allocation beyond the counter's own int: each
counter is an :func:`itertools.count`, whose ``next()`` is one atomic step in C, and the
authentication time goes into one bucket's counter plus a per-thread sum (each thread
writes only its own entry). Exporters read the counts when scraped. A store with a
session cache (SQLite, and Redis or PostgreSQL with ``?cache=on``) offers
``cache_stats()``, read at scrape time like the rest: its hit ratio, hits, misses,
entries and bytes are exported (``nullptr_auth_session_cache_hit_ratio`` and so on).
A store whose ``cache_stats()`` answers ``None`` (its cache off) exports none.

Prometheus names: ``nullptr_auth_logins_total``,
``nullptr_auth_login_failures_total{reason}``, ``nullptr_auth_throttled_total``,
``nullptr_auth_sessions_started_total``, ``nullptr_auth_sessions_ended_total``,
``nullptr_auth_responses_total{status}`` (401, 503),
``nullptr_auth_authentication_seconds`` (a histogram).
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from ._counters import counted
from .events import Event

FAILURE_REASONS = (
    "unknown-user",
    "wrong-password",
    "disabled",
    "incorrect-credentials",
    "throttled",
)
STATUSES = (401, 503)
BUCKETS = (
    0.00001,
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.05,
    0.25,
)
_PROMETHEUS = "nullptr_auth[prometheus] (prometheus_client)"
_OTEL = "nullptr_auth[otel] (opentelemetry-api)"


class Metrics:
    """The counters; pass one to :class:`~nullptr_auth.AuthMiddleware` as ``metrics=``.

    :param buckets: the upper bounds of the authentication-time histogram, in seconds.
    """

    def __init__(self, buckets: Sequence[float] = BUCKETS) -> None:
        self.buckets = tuple(sorted(buckets))
        self._logins = itertools.count()
        self._failures = {reason: itertools.count() for reason in FAILURE_REASONS}
        self._throttled = itertools.count()
        self._started = itertools.count()
        self._ended = itertools.count()
        self._statuses = {status: itertools.count() for status in STATUSES}
        self._bucket_counts = [itertools.count() for _ in range(len(self.buckets) + 1)]
        self._sums: dict[int, float] = {}  # thread id -> that thread's total seconds
        self._caches: list[Callable[[], Sequence[int] | None]] = []

    def __repr__(self) -> str:
        return f"<Metrics logins={counted(self._logins)}>"

    # -- counting (the middleware calls these) -----------------------------------------
    def authenticated(self, seconds: float) -> None:
        """One request's authentication took ``seconds``."""
        next(self._bucket_counts[bisect.bisect_left(self.buckets, seconds)])
        thread = threading.get_ident()
        self._sums[thread] = self._sums.get(thread, 0.0) + seconds

    def answered(self, status: int) -> None:
        """The middleware answered a request itself with ``status``."""
        counter = self._statuses.get(status)
        if counter is not None:
            next(counter)
        elif status == 429:
            next(self._throttled)

    def on_event(self, event: Event) -> None:
        """An audit event (the middleware adds this hook): logins, failures, sessions."""
        name = event.event
        if name == "login.succeeded":
            next(self._logins)
            next(self._started)
        elif name == "login.failed" and event.reason in self._failures:
            next(self._failures[event.reason])
        elif name == "user.registered":
            next(self._started)
        elif name == "logout" or (name == "session.rejected" and event.reason == "expired"):
            next(self._ended)
        elif name == "session.ended":
            for _ in range(int(event.details.get("count") or 1)):
                next(self._ended)

    def watch_cache(self, store: object) -> None:
        """Export the hit ratio of ``store``'s session cache, if it has one: its
        ``cache_stats()`` answers ``(hits, misses, entries, bytes)``, or ``None``."""
        stats = getattr(store, "cache_stats", None)
        if callable(stats):
            self._caches.append(stats)

    # -- reading (the exporters call these) --------------------------------------------
    def counts(self) -> dict[str, Any]:
        """Every count as plain values, read now."""
        return {
            "logins": counted(self._logins),
            "login_failures": {r: counted(c) for r, c in self._failures.items()},
            "throttled": counted(self._throttled),
            "sessions_started": counted(self._started),
            "sessions_ended": counted(self._ended),
            "responses": {s: counted(c) for s, c in self._statuses.items()},
            "authentication_buckets": [counted(c) for c in self._bucket_counts],
            "authentication_seconds": sum(self._sums.copy().values()),
            "cache": self._cache_counts(),
        }

    def _cache_counts(self) -> tuple[int, int, int, int] | None:
        """Hits, misses, entries and bytes over every watched cache that is on."""
        found = [stats for stats in (read() for read in self._caches) if stats is not None]
        if not found:
            return None
        hits, misses, entries, size = (sum(column) for column in zip(*found, strict=True))
        return hits, misses, entries, size

    # -- exporters ---------------------------------------------------------------------
    def register_prometheus(self, registry: Any = None) -> Any:
        """Register a collector of these counts (with ``prometheus_client``'s default
        registry unless ``registry`` is given); returns the collector.

        :raises ImportError: naming the extra to install.
        """
        try:
            import prometheus_client  # type: ignore[import-not-found, unused-ignore]
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(f"pip install {_PROMETHEUS}") from exc
        collector = _PrometheusCollector(self)
        (registry or prometheus_client.REGISTRY).register(collector)
        return collector

    def register_otel(self, meter: Any) -> list[Any]:
        """Create observable instruments on an OpenTelemetry ``meter``; returns them.

        :raises ImportError: naming the extra to install.
        """
        try:
            from opentelemetry.metrics import Observation  # type: ignore[import-not-found, unused-ignore]
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(f"pip install {_OTEL}") from exc
        return _otel_instruments(self, meter, Observation)


def metrics_app(app: Any, metrics: Metrics, path: str = "/metrics") -> Any:
    """A WSGI application answering ``path`` with the Prometheus text of ``metrics``
    (on a registry of its own) and handing every other request to ``app``.

    :raises ImportError: naming the extra to install.
    """
    prometheus_client, registry = _own_registry(metrics)
    exposition = prometheus_client.make_wsgi_app(registry)

    def dispatch(environ: Any, start_response: Any) -> Any:
        if environ.get("PATH_INFO") == path:
            return exposition(environ, start_response)
        return app(environ, start_response)

    return dispatch


def metrics_asgi_app(app: Any, metrics: Metrics, path: str = "/metrics") -> Any:
    """:func:`metrics_app` for ASGI: ``path`` of an ``http`` scope gets the Prometheus
    text, everything else (lifespan and websocket included) goes to ``app``.

    :raises ImportError: naming the extra to install.
    """
    prometheus_client, registry = _own_registry(metrics)
    exposition = prometheus_client.make_asgi_app(registry)

    async def dispatch(scope: Any, receive: Any, send: Any) -> None:
        chosen = exposition if scope["type"] == "http" and scope["path"] == path else app
        await chosen(scope, receive, send)

    return dispatch


def _own_registry(metrics: Metrics) -> tuple[Any, Any]:
    """prometheus_client and a registry holding only ``metrics`` (not the process's)."""
    try:
        import prometheus_client  # type: ignore[import-not-found, unused-ignore]
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"pip install {_PROMETHEUS}") from exc
    registry = prometheus_client.CollectorRegistry()
    metrics.register_prometheus(registry)
    return prometheus_client, registry


class _PrometheusCollector:
    """Reads :class:`Metrics` at scrape time into prometheus_client's metric families."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> list[Any]:
        return []  # families are made at scrape time; no check at registration

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (  # type: ignore[import-not-found, unused-ignore]
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        counts = self._metrics.counts()
        for name, help_text in [
            ("logins", "Successful logins."),
            ("throttled", "Attempts answered 429 TOO_MANY_ATTEMPTS."),
            ("sessions_started", "Sessions started (logins and registrations)."),
            ("sessions_ended", "Sessions ended (logout, ended by the user, found expired)."),
        ]:
            yield CounterMetricFamily(f"nullptr_auth_{name}", help_text, value=counts[name])
        failures = CounterMetricFamily(
            "nullptr_auth_login_failures", "Failed logins by reason.", labels=["reason"]
        )
        for reason, value in counts["login_failures"].items():
            failures.add_metric([reason], value)
        yield failures
        responses = CounterMetricFamily(
            "nullptr_auth_responses",
            "Answers of the middleware itself, by status (401, 503).",
            labels=["status"],
        )
        for status, value in counts["responses"].items():
            responses.add_metric([str(status)], value)
        yield responses
        yield HistogramMetricFamily(
            "nullptr_auth_authentication_seconds",
            "Time to authenticate a request (transports, signature, store, CSRF).",
            buckets=_cumulative(self._metrics.buckets, counts["authentication_buckets"]),
            sum_value=counts["authentication_seconds"],
        )
        cache = counts["cache"]
        if cache is not None:
            hits, misses, entries, size = cache
            yield CounterMetricFamily("nullptr_auth_session_cache_hits", "Cache hits.", value=hits)
            yield CounterMetricFamily(
                "nullptr_auth_session_cache_misses", "Cache misses.", value=misses
            )
            yield GaugeMetricFamily(
                "nullptr_auth_session_cache_hit_ratio",
                "Hits over lookups of the session cache.",
                value=hits / (hits + misses) if hits + misses else 0.0,
            )
            yield GaugeMetricFamily(
                "nullptr_auth_session_cache_entries", "Sessions in the cache.", value=entries
            )
            yield GaugeMetricFamily(
                "nullptr_auth_session_cache_bytes",
                "Estimated bytes the cached sessions weigh.",
                value=size,
            )


def _cumulative(bounds: Sequence[float], counts: Sequence[int]) -> list[tuple[str, float]]:
    total = 0
    result = []
    for bound, count in zip([*map(repr, bounds), "+Inf"], counts, strict=True):
        total += count
        result.append((bound, float(total)))
    return result


def _otel_instruments(metrics: Metrics, meter: Any, observation: Any) -> list[Any]:
    def reading(pick: Callable[[dict[str, Any]], Iterable[tuple[float, dict[str, str]]]]) -> Any:
        return lambda options: [observation(v, a) for v, a in pick(metrics.counts())]

    def one(name: str) -> Any:
        return reading(lambda c: [(c[name], {})])

    instruments = [
        meter.create_observable_counter(f"nullptr_auth.{name}", callbacks=[one(name)])
        for name in ("logins", "throttled", "sessions_started", "sessions_ended")
    ]
    instruments.append(
        meter.create_observable_counter(
            "nullptr_auth.login_failures",
            callbacks=[
                reading(lambda c: [(v, {"reason": r}) for r, v in c["login_failures"].items()])
            ],
        )
    )
    instruments.append(
        meter.create_observable_counter(
            "nullptr_auth.responses",
            callbacks=[
                reading(lambda c: [(v, {"status": str(s)}) for s, v in c["responses"].items()])
            ],
        )
    )
    instruments += [
        meter.create_observable_counter(
            "nullptr_auth.authentication.duration.bucket",
            unit="{request}",
            callbacks=[
                reading(
                    lambda c: [
                        (v, {"le": b})
                        for b, v in _cumulative(metrics.buckets, c["authentication_buckets"])
                    ]
                )
            ],
        ),
        meter.create_observable_counter(
            "nullptr_auth.authentication.duration.sum",
            unit="s",
            callbacks=[reading(lambda c: [(c["authentication_seconds"], {})])],
        ),
    ]
    if metrics._caches:
        instruments.append(
            meter.create_observable_gauge(
                "nullptr_auth.session_cache.hit_ratio",
                callbacks=[reading(lambda c: _hit_ratio(c["cache"]))],
            )
        )
    return instruments


def _hit_ratio(cache: tuple[int, int, int, int] | None) -> list[tuple[float, dict[str, str]]]:
    """OpenTelemetry's reading of the ratio: none while every watched cache is off."""
    if cache is None:
        return []
    hits, misses = cache[0], cache[1]
    return [(hits / (hits + misses) if hits + misses else 0.0, {})]
