"""An answer to an authenticated request is one user's: shared caches must not keep it.

RFC 9111 keeps shared caches from reusing an answer only when the request carried
``Authorization``; sessions here travel in ``Username`` and ``Token``, so a CDN in front
would hand one user's page to the next. The middleware marks such answers
``Cache-Control: private`` (unless the application chose a ``Cache-Control`` itself)
and adds ``Username, Token`` to ``Vary``, touching the headers only.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
import webtest
from werkzeug.test import EnvironBuilder

from .conftest import PASSWORD, MakeAuth, login

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


class HeadersApp:
    """Answers with the headers it is given, always the same list object."""

    def __init__(self, headers: list[tuple[str, str]]) -> None:
        self.headers = headers

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", self.headers)
        return [b"hello"]


def client_for(make_auth: MakeAuth, app: Any) -> tuple[webtest.TestApp, dict[str, str]]:
    auth = make_auth(app=app)
    auth.accounts.create("alice", PASSWORD)
    client = webtest.TestApp(auth)
    return client, login(client)


@pytest.mark.parametrize(
    ("app_headers", "cache_control", "vary"),
    [
        pytest.param([], ["private"], ["Username, Token"], id="nothing-set"),
        pytest.param(
            [("Cache-Control", "public, max-age=60")],
            ["public, max-age=60"],
            ["Username, Token"],
            id="app-cache-control-left-alone",
        ),
        pytest.param(
            [("cache-control", "no-store")], ["no-store"], ["Username, Token"], id="lower-case-name"
        ),
        pytest.param(
            [("Vary", "Accept-Encoding")],
            ["private"],
            ["Accept-Encoding, Username, Token"],
            id="vary-appended",
        ),
        pytest.param(
            [("Vary", "Accept-Encoding"), ("Vary", "token")],
            ["private"],
            ["Accept-Encoding, Username", "token"],
            id="only-what-is-missing",
        ),
        pytest.param([("Vary", "*")], ["private"], ["*"], id="vary-star-left-alone"),
        pytest.param([("Vary", "")], ["private"], ["Username, Token"], id="vary-empty"),
    ],
)
def test_an_authenticated_answer_is_private(
    make_auth: MakeAuth,
    app_headers: list[tuple[str, str]],
    cache_control: list[str],
    vary: list[str],
) -> None:
    headers = [("Content-Type", "text/plain"), *app_headers]
    app = HeadersApp(list(headers))
    client, session = client_for(make_auth, app)
    answer = client.get("/page", headers=session)
    assert answer.headers.getall("Cache-Control") == cache_control
    assert answer.headers.getall("Vary") == vary
    assert answer.body == b"hello"
    assert app.headers == headers, "the application's own list was changed"


def test_an_anonymous_answer_is_left_alone(make_auth: MakeAuth) -> None:
    client, _ = client_for(make_auth, HeadersApp([("Content-Type", "text/plain")]))
    answer = client.get("/page")
    assert "Cache-Control" not in answer.headers
    assert "Vary" not in answer.headers


class StreamingApp:
    """Yields chunks lazily; records how far they were consumed and whether closed."""

    def __init__(self) -> None:
        self.produced = 0
        self.closed = False
        self.iterable: Iterator[bytes] | None = None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        self.iterable = self._chunks()
        return self.iterable

    def _chunks(self) -> Iterator[bytes]:
        try:
            for n in range(3):
                self.produced += 1
                yield f"chunk {n}\n".encode()
        finally:
            self.closed = True


def test_a_streamed_authenticated_answer_is_not_buffered_or_wrapped(make_auth: MakeAuth) -> None:
    app = StreamingApp()
    auth = make_auth(app=app)
    auth.accounts.create("alice", PASSWORD)
    _, token = auth.sessions.login("alice", PASSWORD)
    environ = EnvironBuilder("/stream", headers={"Username": "alice", "Token": token}).get_environ()
    started: list[list[tuple[str, str]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append(headers)
        return lambda data: None

    response = auth(environ, start_response)
    assert response is app.iterable, "the middleware wrapped the response iterable"
    assert app.produced == 0, "the middleware consumed the stream"
    assert ("Cache-Control", "private") in started[0]
    assert ("Vary", "Username, Token") in started[0]
    assert next(iter(response)) == b"chunk 0\n"
    assert app.produced == 1
    response.close()  # type: ignore[attr-defined]
    assert app.closed


def test_a_streamed_answer_through_webtest(make_auth: MakeAuth) -> None:
    client, session = client_for(make_auth, StreamingApp())
    answer = client.get("/stream", headers=session)
    assert answer.body == b"chunk 0\nchunk 1\nchunk 2\n"
    assert answer.headers["Cache-Control"] == "private"


def test_an_error_restart_is_marked_too(make_auth: MakeAuth) -> None:
    """An application that calls start_response again with exc_info gets the same headers."""

    def failing(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise RuntimeError("late failure")
        except RuntimeError:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")],
                           sys.exc_info())  # fmt: skip
        return [b"failed"]

    client, session = client_for(make_auth, failing)
    answer = client.get("/page", headers=session, status=500)
    assert answer.headers["Cache-Control"] == "private"
    assert answer.headers["Vary"] == "Username, Token"
