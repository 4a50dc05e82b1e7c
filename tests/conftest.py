"""Fixtures shared by the whole suite: a cheap hasher, a frozen clock, a wrapped app.

The HTTP contract runs against both middlewares: in the modules of :data:`CONTRACT`,
every test that builds one (through ``make_auth``) runs once with
:class:`nullptr_auth.AuthMiddleware` (``wsgi``) and once with
:class:`nullptr_auth.asgi.AuthMiddleware` (``asgi``, on an event loop in this process,
behind the bridges of ``asgi_bridge.py``); in those of :data:`SERVED`, also behind
uvicorn, hypercorn and granian (marked ``servers``). The few tests about WSGI itself
(the environ, ``wsgi.input``, PEP 3333) stay WSGI-only: :data:`WSGI_ONLY` says why.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import argon2
import pytest
import webtest

from nullptr_auth import AuthMiddleware

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

CHEAP_HASHER = argon2.PasswordHasher.from_parameters(argon2.profiles.CHEAPEST)
SECRET_KEY = "test-secret-key-of-at-least-32-bytes"
PASSWORD = "correct horse battery"
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


class FrozenClock:
    """Time that moves only when a test moves it."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class RecordingApp:
    """The wrapped application: answers with what it saw and keeps the environ."""

    def __init__(self) -> None:
        self.calls: list[WSGIEnvironment] = []
        self.bodies: list[bytes] = []

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        self.calls.append(environ)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        self.bodies.append(environ["wsgi.input"].read(length) if length else b"")
        user = environ.get("nullptr_auth.user")
        body = json.dumps(
            {
                "path": environ.get("PATH_INFO"),
                "remote_user": environ.get("REMOTE_USER"),
                "user": None if user is None else {"id": user.id, "username": user.username},
            }
        ).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    @property
    def environ(self) -> WSGIEnvironment:
        return self.calls[-1]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def downstream() -> RecordingApp:
    return RecordingApp()


MakeAuth = Callable[..., AuthMiddleware]

CONTRACT = {
    "test_account_endpoints",
    "test_audit",
    "test_authentication",
    "test_bad_input",
    "test_caching",
    "test_cookies",
    "test_events",
    "test_expiry",
    "test_login",
    "test_metrics",
    "test_paths",
    "test_session_management",
    "test_session_policies",
    "test_sessions_elsewhere",
    "test_throttle",
    "test_transports",
}
"""The modules whose tests run against both middlewares."""
SERVED = CONTRACT - {
    "test_audit",  # records and throttles by the test's REMOTE_ADDR: a socket's is 127.0.0.1
    "test_throttle",
    "test_events",  # the events carry the test's REMOTE_ADDR: a socket's is 127.0.0.1
    "test_bad_input",  # hundreds of cases, each on every store: in process only
}
"""The modules that also run behind each real ASGI server (``tox -e asgi-servers``)."""
NOT_SERVED = {
    # How much of the body the middleware reads is checked in process (the bridge hands
    # it over message by message); behind a server, the server reads its socket ahead of
    # the application (kernel buffers, hypercorn's early "100 Continue").
    "test_a_declared_oversize_body_is_refused_unread",
    "test_a_chunked_oversize_body_is_refused_at_the_limit",
    # The client's address comes from the socket: 127.0.0.1, never the test's REMOTE_ADDR.
    "test_list_shows_the_callers_live_sessions",
    "test_labels_go_from_login_to_the_list_and_the_cli",
}
WSGI_ONLY = {
    # what reaches a WSGI application: REMOTE_USER upstream, PEP 3333's validator,
    # the environ's keys, the iterable the application returned
    "test_no_headers_is_anonymous": "an upstream REMOTE_USER (ASGI has none)",
    "test_a_trusted_upstream_remote_user_is_kept": "an upstream REMOTE_USER",
    "test_an_upstream_remote_user_is_replaced_when_authenticated": "an upstream REMOTE_USER",
    "test_identity_keys_set_upstream_are_overwritten": "environ keys set upstream",
    "test_an_upstream_auth_type_is_removed_from_an_anonymous_request": "an upstream AUTH_TYPE",
    "test_the_response_stream_is_not_buffered_or_wrapped": "the WSGI iterable itself",
    "test_every_answer_passes_the_pep_3333_validator": "PEP 3333",
    "test_a_streamed_authenticated_answer_is_not_buffered_or_wrapped": "the WSGI iterable",
    # Not about WSGI, but about timing: 8 threads logging one user in from one address
    # stay below login-strict's ceiling of 5 in flight only while webtest's own work
    # dominates each request; under ASGI the checks overlap more, and the 6th
    # concurrent login is refused as the throttle's reservations say it must be.
    "test_concurrent_logins_of_one_user_are_never_throttled": "timing of 8 threads, see above",
}
"""Tests of WSGI itself, by name, and why they have no ASGI counterpart here."""
WSGI_ONLY_CASES = {"test_require_auth": ("callable-true", "callable-false")}
"""Cases of a test: a ``require_auth`` callable reads the environ (ASGI: the scope)."""
NOT_SERVED_CASES = {
    "test_refused_pairs_are_invalid_sessions": ("token-trailing-space",),
    "test_odd_header_values_are_401_not_500": ("nul-in", "crlf-in", "huge-"),
}
"""Cases no HTTP server passes on to an application: it strips a field value's
trailing space (RFC 9110 §5.5), so the token arrives as issued (as through gunicorn),
and it refuses NUL and CR/LF in a header and (hypercorn) 100 kB headers itself."""
_HAS_ASGI = importlib.util.find_spec("anyio") is not None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run the contract's tests once per protocol (and per server, where served)."""
    if "protocol" not in metafunc.fixturenames:
        return
    module = metafunc.module.__name__.rpartition(".")[2]
    params: list[Any] = ["wsgi"]
    if module in CONTRACT and metafunc.function.__name__ not in WSGI_ONLY and _HAS_ASGI:
        params.append("asgi")
        if module in SERVED and metafunc.function.__name__ not in NOT_SERVED:
            params += [pytest.param(s, marks=pytest.mark.servers) for s in _servers()]
    metafunc.parametrize("protocol", params, indirect=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or callspec.params.get("protocol", "wsgi") == "wsgi":
            continue
        name = getattr(item, "originalname", "")
        if any(case in callspec.id for case in WSGI_ONLY_CASES.get(name, ())):
            item.add_marker(pytest.mark.skip(reason="the callable is given the WSGI environ"))
        served = callspec.params["protocol"] != "asgi"
        if served and any(case in callspec.id for case in NOT_SERVED_CASES.get(name, ())):
            item.add_marker(pytest.mark.skip(reason="no server passes this on"))


def _servers() -> list[str]:
    from .asgi_bridge import SERVERS

    return [server for server in SERVERS if importlib.util.find_spec(server)]


@pytest.fixture
def protocol(request: pytest.FixtureRequest) -> str:
    """``wsgi``, ``asgi`` (in process) or the ASGI server that serves the app."""
    return getattr(request, "param", "wsgi")


@pytest.fixture
def store_url() -> str:
    """The store ``make_auth`` builds on unless told; a module overrides it to run on others."""
    return "memory://"


@pytest.fixture
def make_auth(
    clock: FrozenClock, downstream: RecordingApp, protocol: str, store_url: str
) -> Iterator[MakeAuth]:
    """Build middlewares with test defaults; their stores are closed after the test.

    For ``asgi`` and the servers, what is built is :class:`nullptr_auth.asgi.AuthMiddleware`
    around the same application, seen through a WSGI bridge that offers the middleware's
    attributes: the tests cannot tell.
    """
    made: list[Any] = []
    with contextlib.ExitStack() as stack:
        run: Any = None
        if protocol != "wsgi":
            from . import asgi_bridge

            runner = (
                asgi_bridge.in_process() if protocol == "asgi" else asgi_bridge.served(protocol)
            )
            run = stack.enter_context(runner)

        def make(database: Any = store_url, **options: Any) -> AuthMiddleware:
            options.setdefault("secret_keys", [SECRET_KEY])
            options.setdefault("password_hasher", CHEAP_HASHER)
            options.setdefault("allow_weak_hashing_for_tests", True)
            options.setdefault("clock", clock)
            app = options.pop("app", downstream)
            if run is None:
                made.append(AuthMiddleware(app, database, **options))
            else:
                from nullptr_auth import asgi

                from . import asgi_bridge

                middleware = asgi.AuthMiddleware(
                    asgi_bridge.WsgiUnderAsgi(app), database, **options
                )
                made.append(asgi_bridge.AsgiUnderWsgi(middleware, middleware, run))
            return made[-1]  # type: ignore[no-any-return]

        yield make
    for auth in made:
        auth.store.close()


@pytest.fixture
def auth(make_auth: MakeAuth) -> AuthMiddleware:
    return make_auth()


@pytest.fixture
def client(auth: AuthMiddleware) -> webtest.TestApp:
    return webtest.TestApp(auth)


@pytest.fixture
def alice(auth: AuthMiddleware) -> str:
    """A user named alice; returns her id."""
    return auth.accounts.create("alice", PASSWORD).id


def login(
    client: webtest.TestApp, username: str = "alice", password: str = PASSWORD
) -> dict[str, str]:
    """Log in over HTTP; return the headers that authenticate as the new session."""
    answer = client.post_json("/session", {"username": username, "password": password})
    return {"Username": username, "Token": answer.json["session_token"]}


@pytest.fixture
def headers(client: webtest.TestApp, alice: str) -> dict[str, str]:
    return login(client)


@pytest.fixture(autouse=True)
def _no_configuration_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NULLPTR_AUTH_SECRET_KEYS", raising=False)
    monkeypatch.delenv("NULLPTR_AUTH_DATABASE", raising=False)
