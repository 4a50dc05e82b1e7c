"""metrics=: counts of logins, failures, throttling, sessions, 401s and 503s, and the
authentication time, read through a real Prometheus text scrape and OpenTelemetry."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import webtest

from nullptr_auth import AuthMiddleware, errors
from nullptr_auth.metrics import Metrics, metrics_app
from nullptr_auth.stores._cache import MISS

from .conftest import PASSWORD, MakeAuth, login
from .services import scratch_store, with_query

prometheus_client = pytest.importorskip("prometheus_client")  # the test extra has it
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402


def scrape(client: webtest.TestApp) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``GET /metrics`` as Prometheus reads it: sample name and labels to value."""
    answer = client.get("/metrics")
    assert answer.content_type.startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


@pytest.fixture
def metered(make_auth: MakeAuth) -> tuple[AuthMiddleware, webtest.TestApp]:
    auth = make_auth(registration=True, metrics=Metrics(), transports=["headers", "bearer"])
    auth.accounts.create("alice", PASSWORD)
    assert auth.metrics is not None
    return auth, webtest.TestApp(metrics_app(auth, auth.metrics))


def test_a_scrape_counts_what_happened(metered: tuple[AuthMiddleware, webtest.TestApp]) -> None:
    _, client = metered
    headers = login(client)
    login(client)
    client.post_json("/session", {"username": "alice", "password": "wrong password"}, status=401)
    client.post_json("/session", {"username": "nobody", "password": PASSWORD}, status=401)
    client.get("/app", headers=headers)
    client.get("/app", headers={**headers, "Token": "forged"}, status=401)
    client.delete("/session/others", headers=headers, status=204)
    client.delete("/session", headers=headers, status=204)
    client.post_json("/user/register", {"username": "bob", "password": PASSWORD})
    seen = scrape(client)
    assert seen[("nullptr_auth_logins_total", ())] == 2
    assert seen[("nullptr_auth_login_failures_total", (("reason", "wrong-password"),))] == 1
    assert seen[("nullptr_auth_login_failures_total", (("reason", "unknown-user"),))] == 1
    assert seen[("nullptr_auth_sessions_started_total", ())] == 3  # two logins, a registration
    assert seen[("nullptr_auth_sessions_ended_total", ())] == 2  # the other one, then this one
    assert seen[("nullptr_auth_responses_total", (("status", "401"),))] == 3
    assert seen[("nullptr_auth_responses_total", (("status", "503"),))] == 0
    # /app twice, DELETE /session/others and /session; logins and /metrics authenticate nobody
    assert seen[("nullptr_auth_authentication_seconds_count", ())] == 4
    assert seen[("nullptr_auth_authentication_seconds_sum", ())] > 0
    assert seen[("nullptr_auth_authentication_seconds_bucket", (("le", "+Inf"),))] == 4


def test_throttled_attempts_and_503s(metered: tuple[AuthMiddleware, webtest.TestApp]) -> None:
    auth, client = metered
    for _ in range(6):
        client.post_json(
            "/session", {"username": "alice", "password": "wrong password"}, expect_errors=True
        )

    def down(*args: object, **kwargs: object) -> object:
        raise errors.StoreUnavailable()

    auth.store.find_session = down  # type: ignore[method-assign]
    client.get("/app", headers={"Username": "alice", "Token": login_token(auth)}, status=503)
    seen = scrape(client)
    assert seen[("nullptr_auth_throttled_total", ())] == 1
    assert seen[("nullptr_auth_login_failures_total", (("reason", "throttled"),))] == 1
    assert seen[("nullptr_auth_responses_total", (("status", "503"),))] == 1


def login_token(auth: AuthMiddleware) -> str:
    return str(auth.sessions.start(auth.accounts.get("alice")))


def test_counting_from_many_threads_loses_nothing() -> None:
    """No lock: each counter is an itertools.count, whose step is atomic."""
    metrics = Metrics()
    from nullptr_auth.events import Event

    event = Event("login.succeeded", None, None, None, None, None, None)  # type: ignore[arg-type]

    def work() -> None:
        for _ in range(5000):
            metrics.on_event(event)
            metrics.authenticated(0.000001)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = metrics.counts()
    assert counts["logins"] == 40000
    assert sum(counts["authentication_buckets"]) == 40000
    assert counts["authentication_seconds"] == pytest.approx(0.04)


@pytest.mark.parametrize(
    ("kind", "query"), [("sqlite", ""), ("redis", "cache=on"), ("postgres", "cache=on")]
)
def test_the_cache_hit_ratio_of_a_real_store(
    make_auth: MakeAuth, tmp_path: Path, kind: str, query: str
) -> None:
    with scratch_store(kind, tmp_path) as url:
        auth = make_auth(with_query(url, "cache", "on") if query else url, metrics=Metrics())
        auth.accounts.create("alice", PASSWORD)
        assert auth.metrics is not None
        client = webtest.TestApp(metrics_app(auth, auth.metrics))
        headers = login(client)
        _serving(auth)
        before = scrape(client)
        for _ in range(3):
            client.get("/app", headers=headers)
        seen = scrape(client)
    hits = seen[("nullptr_auth_session_cache_hits_total", ())]
    misses = seen[("nullptr_auth_session_cache_misses_total", ())]
    assert hits - before[("nullptr_auth_session_cache_hits_total", ())] == 3
    assert misses >= 1  # the first read after the login went to the store
    assert seen[("nullptr_auth_session_cache_hit_ratio", ())] == hits / (hits + misses)
    assert seen[("nullptr_auth_session_cache_entries", ())] == 1
    assert seen[("nullptr_auth_session_cache_bytes", ())] > 0


def _serving(auth: AuthMiddleware) -> None:
    """Wait until the store's cache serves (Redis and PostgreSQL: their channel is up),
    then read the one session once so that it is cached."""
    cache = auth.store.cache  # type: ignore[attr-defined]
    (session,) = auth.sessions.list()
    deadline = time.monotonic() + 10
    while cache.peek(session.id) is MISS:
        assert time.monotonic() < deadline, "the cache never served"
        auth.store.find_session(session.id)
        time.sleep(0.01)


def test_a_store_with_its_cache_off_exports_no_ratio(make_auth: MakeAuth, tmp_path: Path) -> None:
    with scratch_store("sqlite", tmp_path) as url:
        auth = make_auth(f"{url}?cache=off", metrics=Metrics())  # with_query drops a /
        auth.accounts.create("alice", PASSWORD)
        assert auth.metrics is not None
        assert auth.store.cache_stats() is None  # type: ignore[attr-defined]
        client = webtest.TestApp(metrics_app(auth, auth.metrics))
        client.get("/app", headers=login(client))
        names = {name for name, _ in scrape(client)}
    assert not any(name.startswith("nullptr_auth_session_cache") for name in names)


def test_no_cache_no_ratio(metered: tuple[AuthMiddleware, webtest.TestApp]) -> None:
    _, client = metered
    assert not any(name.startswith("nullptr_auth_session_cache") for name, _ in scrape(client))


def test_metrics_must_be_a_metrics(make_auth: MakeAuth) -> None:
    with pytest.raises(TypeError, match="metrics must be"):
        make_auth(metrics={"logins": 0})


def test_opentelemetry_reads_the_same_counts(make_auth: MakeAuth) -> None:
    sdk = pytest.importorskip("opentelemetry.sdk.metrics")
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    provider = sdk.MeterProvider(metric_readers=[reader])
    metrics = Metrics()
    metrics.register_otel(provider.get_meter("nullptr_auth"))
    auth = make_auth(metrics=metrics)
    auth.accounts.create("alice", PASSWORD)
    client = webtest.TestApp(auth)
    client.get("/app", headers=login(client))
    points: dict[str, Any] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                points[metric.name] = [
                    (dict(p.attributes), p.value) for p in metric.data.data_points
                ]
    assert points["nullptr_auth.logins"] == [({}, 1)]
    assert ({"le": "+Inf"}, 1) in points["nullptr_auth.authentication.duration.bucket"]
    provider.shutdown()


def test_serve_metrics_without_the_extra_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    from nullptr_auth import cli

    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    assert cli.main(["--database", "memory://", "serve", "--port", "0", "--metrics"]) == 1
    assert "pip install nullptr_auth[prometheus]" in capsys.readouterr().err
