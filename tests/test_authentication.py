"""Header authentication of every request that is not a session path: SPEC §2."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any
from wsgiref.validate import validator

import pytest
import webtest
from werkzeug.test import EnvironBuilder, run_wsgi_app

from nullptr_auth import AuthMiddleware, Session, User
from nullptr_auth.stores import SQLiteStore
from nullptr_auth.transports import AUTH_TYPES

from .conftest import MakeAuth, RecordingApp, login

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


def call(app: Any, path: str = "/app", **environ: Any) -> tuple[int, bytes]:
    """Call a WSGI app with raw environ entries (for headers webtest would refuse)."""
    env = EnvironBuilder(path).get_environ()
    env.update(environ)
    app_iter, status, _ = run_wsgi_app(app, env)
    return int(status.split()[0]), b"".join(app_iter)


# -- the table of SPEC §2 -------------------------------------------------------------
def test_no_headers_is_anonymous(client: webtest.TestApp, downstream: RecordingApp) -> None:
    answer = client.get("/app", extra_environ={"REMOTE_USER": "mallory"})
    assert answer.json == {"path": "/app", "remote_user": None, "user": None}
    environ = downstream.environ
    assert environ["nullptr_auth.user"] is None
    assert environ["nullptr_auth.session"] is None
    assert "REMOTE_USER" not in environ


def test_a_live_pair_is_authenticated(
    client: webtest.TestApp, downstream: RecordingApp, alice: str, headers: dict[str, str]
) -> None:
    answer = client.get("/app", headers=headers)
    assert answer.json["user"] == {"id": alice, "username": "alice"}
    environ = downstream.environ
    user, session = environ["nullptr_auth.user"], environ["nullptr_auth.session"]
    assert isinstance(user, User) and user.id == alice and user.username == "alice"
    assert isinstance(session, Session) and session.user_id == alice
    assert session.created_at <= session.last_seen_at
    assert session.expires_at is not None
    assert environ["REMOTE_USER"] == "alice"


def test_the_session_travels_by_the_carrier_under_test(
    client: webtest.TestApp, downstream: RecordingApp, headers: dict[str, str], carrier: str
) -> None:
    """The contract's tests run once per carrier (conftest): each run is really carried so."""
    client.get("/app", headers=headers)
    assert downstream.environ["AUTH_TYPE"] == AUTH_TYPES[carrier]


def test_the_username_header_is_case_insensitive(
    client: webtest.TestApp, headers: dict[str, str]
) -> None:
    answer = client.get("/app", headers={**headers, "Username": "ALICE"})
    assert answer.json["remote_user"] == "alice"


def test_the_token_never_reaches_the_app(
    client: webtest.TestApp, downstream: RecordingApp, headers: dict[str, str]
) -> None:
    client.get("/app", headers=headers)
    assert "HTTP_TOKEN" not in downstream.environ
    assert headers["Token"] not in repr(downstream.environ)


def test_an_upstream_remote_user_is_replaced_when_authenticated(
    client: webtest.TestApp, headers: dict[str, str]
) -> None:
    answer = client.get("/app", headers=headers, extra_environ={"REMOTE_USER": "root"})
    assert answer.json["remote_user"] == "alice"


def test_a_trusted_upstream_remote_user_is_kept(make_auth: MakeAuth) -> None:
    client = webtest.TestApp(make_auth(trust_remote_user=True))
    answer = client.get("/app", extra_environ={"REMOTE_USER": "sso-user"})
    assert answer.json["remote_user"] == "sso-user"


def test_identity_keys_set_upstream_are_overwritten(
    client: webtest.TestApp, downstream: RecordingApp
) -> None:
    client.get("/app", extra_environ={"nullptr_auth.user": "forged", "nullptr_auth.session": 1})
    assert downstream.environ["nullptr_auth.user"] is None
    assert downstream.environ["nullptr_auth.session"] is None


REFUSED_PAIRS = [
    pytest.param(lambda h: {"Username": h["Username"]}, id="username-only"),
    pytest.param(lambda h: {"Token": h["Token"]}, id="token-only"),
    pytest.param(lambda h: {"Token": h["Token"], "Username": ""}, id="empty-username"),
    pytest.param(lambda h: {"Username": "alice", "Token": ""}, id="empty-token"),
    pytest.param(lambda h: {**h, "Username": "bob"}, id="other-user"),
    pytest.param(lambda h: {**h, "Username": "nobody"}, id="unknown-user"),
    pytest.param(lambda h: {**h, "Token": "garbage"}, id="garbage-token"),
    pytest.param(lambda h: {**h, "Token": h["Token"] + "=="}, id="padded-token"),
    pytest.param(lambda h: {**h, "Token": h["Token"].upper()}, id="token-case-folded"),
    pytest.param(lambda h: {**h, "Token": h["Token"] + " "}, id="token-trailing-space"),
]


@pytest.mark.parametrize("make_headers", REFUSED_PAIRS)
def test_refused_pairs_are_invalid_sessions(
    client: webtest.TestApp,
    auth: AuthMiddleware,
    downstream: RecordingApp,
    headers: dict[str, str],
    make_headers: Any,
) -> None:
    auth.accounts.create("bob", "bobs long password")
    answer = client.get("/app", headers=make_headers(headers), status=401)
    assert answer.json["error"]["code"] == "INVALID_SESSION"
    assert answer.headers["WWW-Authenticate"] == "Token"
    assert answer.headers["Cache-Control"] == "no-store"
    assert downstream.calls == []


def test_an_ended_session_is_refused(
    client: webtest.TestApp, auth: AuthMiddleware, headers: dict[str, str]
) -> None:
    client.delete("/session", headers=headers)
    client.get("/app", headers=headers, status=401)


def test_a_deleted_user_is_refused(
    client: webtest.TestApp, auth: AuthMiddleware, headers: dict[str, str]
) -> None:
    auth.accounts.delete("alice")
    client.get("/app", headers=headers, status=401)


@pytest.mark.parametrize(
    ("username", "token"),
    [
        pytest.param("alice", "t\u00f6ken.abc.def", id="latin1-token"),
        pytest.param("\u00e4lice", "token", id="latin1-username"),
        pytest.param("alice", "\u212a" * 50, id="kelvin-token"),
        pytest.param("alice", "tok\x00en", id="nul-in-token"),
        pytest.param("alice", "tok\r\nen", id="crlf-in-token"),
        pytest.param("alice", "a" * 100_000, id="huge-token"),
        pytest.param("a" * 100_000, "token.a.b", id="huge-username"),
        pytest.param("alice", "....", id="only-separators"),
    ],
)
def test_odd_header_values_are_401_not_500(
    auth: AuthMiddleware, alice: str, username: str, token: str
) -> None:
    status, body = call(auth, HTTP_USERNAME=username, HTTP_TOKEN=token)
    assert status == 401
    assert b"INVALID_SESSION" in body


def test_a_store_outage_is_a_503_for_token_carrying_requests(
    make_auth: MakeAuth, tmp_path: Any, downstream: RecordingApp
) -> None:
    store = SQLiteStore(tmp_path / "auth.db")
    client = webtest.TestApp(make_auth(store))
    make_auth(store).accounts.create("alice", "correct horse battery")
    headers = login(client)
    (tmp_path / "auth.db").unlink()
    (tmp_path / "auth.db").mkdir()  # now unopenable by any new connection
    store.close()
    answer = client.get("/app", headers=headers, status=503)
    assert answer.json["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert client.get("/app").json["user"] is None  # anonymous requests still pass
    assert len(downstream.calls) == 1


# -- require_auth ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("require_auth", "path", "refused"),
    [
        pytest.param(False, "/app", False, id="off"),
        pytest.param(True, "/app", True, id="everywhere"),
        pytest.param(["/api"], "/api", True, id="prefix-itself"),
        pytest.param(["/api"], "/api/items", True, id="under-prefix"),
        pytest.param(["/api/"], "/api/items", True, id="prefix-with-slash"),
        pytest.param(["/api"], "/apiary", False, id="not-a-segment"),
        pytest.param(["/api"], "/public", False, id="elsewhere"),
        pytest.param(
            lambda environ: environ["REQUEST_METHOD"] == "GET", "/x", True, id="callable-true"
        ),
        pytest.param(lambda environ: False, "/x", False, id="callable-false"),
    ],
)
def test_require_auth(
    make_auth: MakeAuth, downstream: RecordingApp, require_auth: Any, path: str, refused: bool
) -> None:
    client = webtest.TestApp(make_auth(require_auth=require_auth))
    answer = client.get(path, status=401 if refused else 200)
    if refused:
        assert answer.json["error"]["code"] == "AUTHORIZATION_REQUIRED"
        assert answer.headers["WWW-Authenticate"] == "Token"
        assert downstream.calls == []


def test_require_auth_lets_sessions_through(make_auth: MakeAuth) -> None:
    auth = make_auth(require_auth=True)
    auth.accounts.create("alice", "correct horse battery")
    client = webtest.TestApp(auth)
    assert client.get("/app", headers=login(client)).json["remote_user"] == "alice"


# -- the wrapped application's request and response pass untouched ---------------------
def test_the_request_body_reaches_the_app_byte_for_byte(
    client: webtest.TestApp, downstream: RecordingApp, headers: dict[str, str]
) -> None:
    body = bytes(range(256)) * 100
    client.post("/upload", body, headers={**headers, "Content-Type": "application/octet-stream"})
    assert downstream.bodies == [body]


def test_a_json_body_on_another_path_is_not_parsed(
    client: webtest.TestApp, downstream: RecordingApp
) -> None:
    client.post("/app", b"{not json", headers={"Content-Type": "application/json"})
    assert downstream.bodies == [b"{not json"]


class StreamingApp:
    """Yields chunks lazily and records how far the client has consumed them."""

    def __init__(self) -> None:
        self.produced = 0
        self.closed = False

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return self._chunks()

    def _chunks(self) -> Iterator[bytes]:
        try:
            for n in range(3):
                self.produced += 1
                yield f"chunk {n}\n".encode()
        finally:
            self.closed = True


def test_the_response_stream_is_not_buffered_or_wrapped(make_auth: MakeAuth) -> None:
    app = StreamingApp()
    auth = make_auth(app=app)
    environ = EnvironBuilder("/stream").get_environ()
    response = auth(environ, lambda status, headers, exc_info=None: lambda data: None)
    assert app.produced == 0, "the middleware consumed the stream"
    iterator = iter(response)
    assert next(iterator) == b"chunk 0\n"
    assert app.produced == 1
    response.close()  # type: ignore[attr-defined]
    assert app.closed


# -- PEP 3333 ---------------------------------------------------------------------------
VALIDATED_REQUESTS = [
    pytest.param("GET", "/app", None, False, id="anonymous-pass-through"),
    pytest.param("GET", "/app", None, True, id="authenticated-pass-through"),
    pytest.param(
        "POST",
        "/session",
        b'{"username":"alice","password":"correct horse battery"}',
        False,
        id="login",
    ),
    pytest.param("POST", "/session", b"[]", False, id="login-error"),
    pytest.param("GET", "/session", None, True, id="list"),
    pytest.param("GET", "/session", None, False, id="list-unauthorized"),
    pytest.param("DELETE", "/session/others", None, True, id="end-others"),
    pytest.param("DELETE", "/session/unknown", None, True, id="end-unknown"),
    pytest.param("PUT", "/session", None, False, id="method-not-allowed"),
    pytest.param("GET", "/app", None, "bad", id="invalid-session"),
    pytest.param("DELETE", "/session", None, True, id="logout"),
]


@pytest.mark.parametrize(("method", "path", "body", "authenticated"), VALIDATED_REQUESTS)
def test_every_answer_passes_the_pep_3333_validator(
    auth: AuthMiddleware,
    client: webtest.TestApp,
    alice: str,
    method: str,
    path: str,
    body: bytes | None,
    authenticated: Any,
) -> None:
    headers = login(client) if authenticated else {}
    if authenticated == "bad":
        headers["Token"] += "x"
    builder = EnvironBuilder(
        path,
        method=method,
        data=body,
        headers=headers,
        content_type="application/json" if body else None,
    )
    app_iter, status, _ = run_wsgi_app(validator(auth), builder.get_environ())
    b"".join(app_iter)
    app_iter.close()  # type: ignore[attr-defined]
    assert int(status.split()[0]) < 500
