"""Fixtures shared by the whole suite: a cheap hasher, a frozen clock, a wrapped app."""

from __future__ import annotations

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


@pytest.fixture
def store_url() -> str:
    """The store ``make_auth`` builds on unless told; a module overrides it to run on others."""
    return "memory://"


@pytest.fixture
def make_auth(clock: FrozenClock, downstream: RecordingApp, store_url: str) -> Iterator[MakeAuth]:
    """Build middlewares with test defaults; their stores are closed after the test."""
    made: list[AuthMiddleware] = []

    def make(database: Any = store_url, **options: Any) -> AuthMiddleware:
        options.setdefault("secret_keys", [SECRET_KEY])
        options.setdefault("password_hasher", CHEAP_HASHER)
        options.setdefault("allow_weak_hashing_for_tests", True)
        options.setdefault("clock", clock)
        made.append(AuthMiddleware(options.pop("app", downstream), database, **options))
        return made[-1]

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
