"""Fixtures shared by the whole suite: a cheap hasher, a frozen clock, a wrapped app.

The HTTP contract runs against both middlewares: in the modules of :data:`CONTRACT`,
every test that builds one (through ``make_auth``) runs once with
:class:`nullptr_auth.AuthMiddleware` (``wsgi``) and once with
:class:`nullptr_auth.asgi.AuthMiddleware` (``asgi``, on an event loop in this process,
behind the bridges of ``asgi_bridge.py``); in those of :data:`SERVED`, also behind
uvicorn, hypercorn and granian (marked ``servers``). The few tests about WSGI itself
(the environ, ``wsgi.input``, PEP 3333) stay WSGI-only: :data:`WSGI_ONLY` says why.

Each transport passes the same contract: in the modules of :data:`CARRIED`, each such
test also runs with the session carried by ``bearer`` and by ``cookie`` (ids
``wsgi-bearer``, ``asgi-cookie``…; the ``headers`` runs keep their ids ``wsgi`` and
``asgi``), on both middlewares; the servers run the headers only. ``make_auth`` then
turns that transport on beside the headers and puts :class:`tests.carriers.Carried`
in front, which moves the ``Username`` and ``Token`` of each request to
``Authorization: Bearer`` or to the session cookie (with what a page of the site adds
to a change: ``Sec-Fetch-Site``, ``Origin``, ``X-CSRF-Token``). The tests about those
two headers themselves (:data:`HEADERS_ONLY`, :data:`HEADERS_ONLY_CASES`) and those
whose answer differs as it must with a transport on (:data:`NOT_BY_BEARER`,
:data:`NOT_BY_COOKIE`) say why they are not carried.
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

from .carriers import Carried

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


def public_page(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """A per-user page its application wrongly marked ``Cache-Control: public``."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Cache-Control", "public")])
    return [str(environ.get("REMOTE_USER")).encode()]


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
CARRIED = CONTRACT - {
    # each transport's own tests: they choose transports= and carry the session
    # themselves, on every store
    "test_transports",
    "test_cookies",
}
"""The modules whose tests also run with the session in ``Bearer`` and in the cookie."""
HEADERS_ONLY = {
    # about the Username and Token headers themselves: no other carrier sends them
    "test_refused_pairs_are_invalid_sessions": "Username/Token pairs (another user's name,"
    " a half pair, a trailing space no cookie keeps) and the 401's one Token challenge",
    "test_the_username_header_is_case_insensitive": "the Username header's spelling",
    "test_a_newline_in_a_username_cannot_forge_a_record": "the Username header's value is"
    " what the audit record shows",
    # no session to carry, hundreds of times over (each case on every store): carried,
    # they would run 700 times more, unchanged, for half a minute
    "test_a_control_character_in_a_field_is_refused_on_every_store": "login and"
    " registration bodies only",
    "test_a_control_character_in_the_user_agent_is_refused_on_every_store": "login and"
    " registration only",
}
"""Tests that run with the headers only, by name, and why: they are about the
``Username`` and ``Token`` headers themselves, or they send no session at all and are
many."""
_VARY_TESTS = (
    "test_an_authenticated_answer_is_private",
    "test_a_streamed_authenticated_answer_is_not_buffered_or_wrapped",
    "test_an_error_restart_is_marked_too",
)
NOT_BY_BEARER = {
    # each 401 names the Bearer challenge too (RFC 6750 §3), beside Token
    "test_require_auth": "a 401's WWW-Authenticate has Bearer beside Token",
    "test_wrong_credentials": "a 401's WWW-Authenticate has Bearer beside Token",
    "test_session_paths_need_a_session": "a 401's WWW-Authenticate has Bearer beside Token",
    **dict.fromkeys(_VARY_TESTS, "an authenticated answer varies on Authorization too"),
}
"""Tests whose answer differs, as it must, when Bearer is on."""
NOT_BY_COOKIE = {
    "test_json_login_answers_user_id_and_token": "the login answers csrf_token too",
    **dict.fromkeys(_VARY_TESTS, "an authenticated answer varies on Cookie too"),
}
"""Tests whose answer differs, as it must, when the cookie is on."""
HEADERS_ONLY_CASES = {
    # a valid token under another user's Username
    "test_a_refused_token_is_recorded_with_its_reason": ("-mismatch",),
    # odd values of a Username header, which no other carrier sends
    "test_odd_header_values_are_401_not_500": ("latin1-username", "huge-username"),
}
"""Cases of a test that are about the ``Username`` header: with the headers only."""
_CARRIED_BY = {"bearer": NOT_BY_BEARER, "cookie": NOT_BY_COOKIE}
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
    """Run the contract's tests once per protocol and carrier (and per server, where
    served: with the headers only)."""
    if "protocol" not in metafunc.fixturenames:  # make_auth asks for both
        return
    module = metafunc.module.__name__.rpartition(".")[2]
    name = metafunc.function.__name__
    protocols = ["wsgi"]
    servers: list[str] = []
    if module in CONTRACT and name not in WSGI_ONLY and _HAS_ASGI:
        protocols.append("asgi")
        if module in SERVED and name not in NOT_SERVED:
            servers = _servers()
    carriers = ["headers"]
    if module in CARRIED and name not in HEADERS_ONLY:
        carriers += [c for c, unlike in _CARRIED_BY.items() if name not in unlike]
    params = [
        pytest.param(protocol, carrier, id=_id(protocol, carrier))
        for protocol in protocols
        for carrier in carriers
    ]
    params += [pytest.param(s, "headers", id=s, marks=pytest.mark.servers) for s in servers]
    metafunc.parametrize(("protocol", "carrier"), params, indirect=True)


def _id(protocol: str, carrier: str) -> str:
    """``wsgi``, ``asgi`` as before carriers; ``wsgi-bearer``, ``asgi-cookie``… for the others."""
    return protocol if carrier == "headers" else f"{protocol}-{carrier}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None:
            continue
        name = getattr(item, "originalname", "")
        carried = callspec.params.get("carrier", "headers") != "headers"
        if carried and any(case in callspec.id for case in HEADERS_ONLY_CASES.get(name, ())):
            item.add_marker(pytest.mark.skip(reason="about the Username header itself"))
        if callspec.params.get("protocol", "wsgi") == "wsgi":
            continue
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
def carrier(request: pytest.FixtureRequest) -> str:
    """What carries the session: ``headers`` (the contract's), ``bearer`` or ``cookie``."""
    return getattr(request, "param", "headers")


@pytest.fixture
def store_url() -> str:
    """The store ``make_auth`` builds on unless told; a module overrides it to run on others."""
    return "memory://"


@pytest.fixture
def make_auth(
    clock: FrozenClock, downstream: RecordingApp, protocol: str, carrier: str, store_url: str
) -> Iterator[MakeAuth]:
    """Build middlewares with test defaults; their stores are closed after the test.

    For ``asgi`` and the servers, what is built is :class:`nullptr_auth.asgi.AuthMiddleware`
    around the same application, seen through a WSGI bridge that offers the middleware's
    attributes: the tests cannot tell. For the ``bearer`` and ``cookie`` carriers, the
    middleware has that transport on beside the headers (or added to the test's own
    ``transports=``), behind :class:`tests.carriers.Carried`.
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
            if carrier != "headers":
                options["transports"] = _with_carrier(options.get("transports"), carrier)
            built: Any
            if run is None:
                built = AuthMiddleware(app, database, **options)
            else:
                from nullptr_auth import asgi

                from . import asgi_bridge

                middleware = asgi.AuthMiddleware(
                    asgi_bridge.WsgiUnderAsgi(app), database, **options
                )
                built = asgi_bridge.AsgiUnderWsgi(middleware, middleware, run)
            made.append(built if carrier == "headers" else Carried(built, carrier))
            return made[-1]  # type: ignore[no-any-return]

        yield make
    for auth in made:
        auth.store.close()


def _with_carrier(chosen: Iterable[str] | None, carrier: str) -> tuple[str, ...]:
    """The transports of a middleware that ``carrier`` carries the sessions of.

    The headers stay on: the requests :class:`~tests.carriers.Carried` leaves as they
    are (a ``Username`` alone, a ``Token`` alone) keep their meaning, the headers' error,
    and a test's own ``transports=`` get the carrier added (the modules whose tests are
    about which transports are on, test_transports and test_cookies, are not carried).
    """
    if chosen is None:
        return ("headers", carrier)
    return tuple(chosen) if carrier in chosen else (*chosen, carrier)


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
