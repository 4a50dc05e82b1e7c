"""Fuzzing the middleware: bad input of any shape is a clear 4xx, never a 5xx (SPEC §6).

Hypothesis draws short sequences of requests (methods, paths under ``/session``,
``/user/`` and elsewhere, query strings, ``Username``/``Token`` values of any text, any
length, control characters included, content types, bodies that are binary, JSON of any
shape, forms, declared lengths that lie) and throws them at a middleware with a user,
a live session and registration on. For every answer:

- the status is never 5xx and the body never holds a traceback;
- an answer of the middleware's own with a status of 400 or more is JSON in the error
  envelope, ``{"error": {"code", "message"}}``, with ``Cache-Control: no-store``;
- a refused request leaves the store's users and sessions as they were;
- the wrapped application never sees a ``Token`` header.

The requests are built as raw WSGI environs (werkzeug's ``EnvironBuilder``, then edited)
because webtest refuses some of the odd input this is about.

Examples: 300 by default; ``HYPOTHESIS_PROFILE=ci`` runs 5000, and
``NULLPTR_AUTH_FUZZ_EXAMPLES=N`` runs exactly N (``tox -e fuzz`` sets the CI profile).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder, run_wsgi_app

from nullptr_auth import AuthMiddleware

from .conftest import CHEAP_HASHER, PASSWORD, SECRET_KEY, FrozenClock

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

settings.register_profile(
    "nullptr-auth-fuzz",
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "nullptr-auth-fuzz-ci", settings.get_profile("nullptr-auth-fuzz"), max_examples=5000
)


def _fuzz_settings() -> settings:
    """The CI profile under ``HYPOTHESIS_PROFILE=ci``; an exact count if one is given."""
    ci = os.environ.get("HYPOTHESIS_PROFILE", "") == "ci"
    profile = settings.get_profile("nullptr-auth-fuzz-ci" if ci else "nullptr-auth-fuzz")
    examples = os.environ.get("NULLPTR_AUTH_FUZZ_EXAMPLES")
    return settings(profile, max_examples=int(examples)) if examples else profile


FUZZ = _fuzz_settings()
JSON = "application/json"
OTHER_PASSWORD = "bobs long password"


# -- the world each example runs in ---------------------------------------------------
def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The wrapped application: never reads the body, fails loudly on a leaked token."""
    assert "HTTP_TOKEN" not in environ, "the token reached the application"
    user = environ.get("nullptr_auth.user")
    body = {"app": True, "user": None if user is None else user.username}
    start_response("200 OK", [("Content-Type", JSON)])
    return [json.dumps(body).encode()]


@dataclass
class World:
    """A fresh middleware (memory store, registration on) with alice, a live session of
    hers, and bob, who is disabled."""

    auth: AuthMiddleware
    token: str

    @classmethod
    def make(cls, options: dict[str, Any]) -> World:
        auth = AuthMiddleware(
            app,
            "memory://",
            secret_keys=[SECRET_KEY],
            password_hasher=CHEAP_HASHER,
            allow_weak_hashing_for_tests=True,
            clock=FrozenClock(),
            registration=True,
            **options,
        )
        auth.accounts.create("alice", PASSWORD)
        auth.accounts.create("bob", OTHER_PASSWORD)
        auth.accounts.disable("bob")
        _, token = auth.sessions.login("alice", PASSWORD)
        return cls(auth, token)

    def snapshot(self) -> tuple[object, ...]:
        return tuple(self.auth.store.list_users()), tuple(self.auth.store.list_sessions())


OPTIONS = st.sampled_from(
    [
        {},
        {"reveal_unknown_users": False},
        {"max_sessions_per_user": 1, "session_limit_policy": "reject"},
        {"max_body_size": 64, "max_password_length": 24},
        {"session_path": "/auth/session", "require_auth": True},
    ]
)

# -- what a request is made of --------------------------------------------------------
# Header values reach a WSGI application as latin-1 decoded native strings (PEP 3333).
LATIN_1 = st.characters(max_codepoint=0xFF)
latin_1_text = st.text(LATIN_1, max_size=80)
long_text = st.builds(
    lambda c, n: c * n,
    st.sampled_from(["a", "é", "\x00", ".", ","]),
    st.sampled_from([257, 4096, 70_000]),
)
any_text = st.text(max_size=80)  # any code point, lone surrogates included

COMMON_METHODS = st.sampled_from(["GET", "POST", "DELETE", "HEAD"])
METHODS = st.one_of(
    COMMON_METHODS,
    COMMON_METHODS,
    COMMON_METHODS,
    st.sampled_from(["PUT", "PATCH", "OPTIONS", "TRACE", "get", "CONNECT"]),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=10),
)
OWNED_PATHS = st.sampled_from(
    [
        "/session",
        "/session/others",
        "/session/x",
        "/user/checkUsername",
        "/user/register",
        "/user/password",
    ]
)
PATHS = st.one_of(
    OWNED_PATHS,
    OWNED_PATHS,
    st.sampled_from(
        [
            "/session",
            "/session/",
            "/session/others",
            "/session/others/",
            "/session//",
            "/session/x",
            "/session/x/y",
            "/SESSION",
            "/sessions",
            "/auth/session",
            "/auth/session/others",
            "/user/checkUsername",
            "/user/register",
            "/user/password",
            "/user/",
            "/user",
            "/user/register/",
            "/app",
            "/",
            "",
        ]
    ),
    st.builds(
        str.__add__, st.sampled_from(["/session/", "/user/", "/", "/auth/session/"]), latin_1_text
    ),
)
# A query string is latin-1 decoded bytes, UTF-8 or not.
UTF_8_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=60)
QUERIES = st.one_of(
    st.just(""),
    st.builds(
        lambda name: urlencode({"username": name}),
        any_text.map(lambda s: s.encode("utf-8", "surrogatepass")),
    ),
    UTF_8_TEXT.map(lambda text: "username=" + text.encode().decode("latin-1")),
    st.text(st.characters(max_codepoint=0x7F), max_size=60),
    st.binary(max_size=60).map(lambda raw: "username=" + raw.decode("latin-1")),
)


@st.composite
def token_choice(draw: st.DrawFn) -> tuple[str, str]:
    """How the ``Token`` header relates to the live session's token: resolved per world."""
    return draw(
        st.one_of(
            st.tuples(
                st.sampled_from(["absent", "valid", "upper", "truncated", "doubled"]), st.just("")
            ),
            st.tuples(st.just("suffix"), latin_1_text),
            st.tuples(st.just("text"), latin_1_text | long_text),
        )
    )


ODD_USERNAMES = st.one_of(
    st.none(),
    st.sampled_from(["ALICE", "bob", "carol", "", "alice,alice", "alice ", " alice", "alic\u00e9"]),
    latin_1_text,
    long_text,
)
# the Username and Token headers: none, alice's live pair, or either of them fuzzed
HEADER_PAIRS = st.one_of(
    st.just((None, ("absent", ""))),
    st.just(("alice", ("valid", ""))),
    st.just(("alice", ("valid", ""))),
    st.tuples(st.sampled_from(["alice", "ALICE"]), token_choice()),
    st.tuples(ODD_USERNAMES, token_choice() | st.just(("valid", ""))),
)

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4)
    ),
    max_leaves=12,
)
FIELD_VALUES = st.one_of(
    st.sampled_from(
        ["alice", "ALICE", "bob", PASSWORD, OTHER_PASSWORD, "new long password", "_x", ""]
    ),
    any_text,
    JSON_VALUES,
)
_OPTIONAL_FIELDS = ("device", "old_password", "new_password")
CREDENTIALS = st.fixed_dictionaries(
    {},
    optional={name: FIELD_VALUES for name in ("username", "password", *_OPTIONAL_FIELDS)},
) | st.fixed_dictionaries(
    {"username": FIELD_VALUES, "password": FIELD_VALUES},
    optional={name: FIELD_VALUES for name in _OPTIONAL_FIELDS},
)


def _json_bytes(value: object, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def _form_bytes(fields: dict[str, object]) -> bytes:
    pairs = [
        (str(k).encode("utf-8", "surrogatepass"), str(v).encode("utf-8", "surrogatepass"))
        for k, v in fields.items()
    ]
    return urlencode(pairs).encode()


LOGIN_SHAPED = st.builds(_json_bytes, CREDENTIALS, st.booleans()) | st.builds(
    _form_bytes, CREDENTIALS
)
BODIES = st.one_of(
    LOGIN_SHAPED,
    LOGIN_SHAPED,
    st.binary(max_size=300),
    st.builds(_json_bytes, JSON_VALUES | CREDENTIALS, st.booleans()),
    st.builds(_form_bytes, CREDENTIALS | st.dictionaries(any_text, any_text, max_size=40)),
    st.builds(
        bytes.__add__,
        st.builds(_form_bytes, CREDENTIALS),
        st.sampled_from([b"&username=x", b"&&", b"=", b"%zz", b"%ff"]),
    ),
    st.just(b"{" * 5000 + b"}" * 5000),
    st.just(b"x" * 70_000),
)
GOOD_CONTENT_TYPES = st.sampled_from([JSON, "application/x-www-form-urlencoded"])
CONTENT_TYPES = (
    GOOD_CONTENT_TYPES
    | GOOD_CONTENT_TYPES
    | GOOD_CONTENT_TYPES
    | st.none()
    | st.sampled_from(
        [
            JSON,
            "application/json; charset=utf-8",
            "application/json; charset=UTF8",
            "application/json; charset=latin-1",
            "APPLICATION/JSON",
            "application/json;;;",
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=utf-16",
            "multipart/form-data; boundary=x",
            "text/plain",
            "",
        ]
    )
    | latin_1_text
)
# how the body is delimited: its true length, none at all, a chunked stream, or a lie
LENGTHS = st.one_of(
    st.just("exact"),
    st.just("exact"),
    st.just("exact"),
    st.sampled_from(["absent", "chunked"]),
    st.sampled_from(["0", "-1", "1e3", " 5", "abc", "99999999999999999999", "3"]),
)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    headers: tuple[str | None, tuple[str, str]]  # Username, and how Token is made
    content_type: str | None
    body: bytes
    length: str
    extra: dict[str, str]

    def environ(self, world: World) -> WSGIEnvironment:
        environ = EnvironBuilder(method="GET", input_stream=None).get_environ()
        environ.update(
            REQUEST_METHOD=self.method,
            PATH_INFO=self.path,
            QUERY_STRING=self.query,
            **{"wsgi.input": _Stream(self.body)},
        )
        environ.pop("CONTENT_LENGTH", None)
        environ.pop("CONTENT_TYPE", None)
        if self.content_type is not None:
            environ["CONTENT_TYPE"] = self.content_type
        if self.length == "exact":
            environ["CONTENT_LENGTH"] = str(len(self.body))
        elif self.length == "chunked":
            environ["wsgi.input_terminated"] = True
        elif self.length != "absent":
            environ["CONTENT_LENGTH"] = self.length
        username, token_choice = self.headers
        if username is not None:
            environ["HTTP_USERNAME"] = username
        token = _resolve_token(token_choice, world.token)
        if token is not None:
            environ["HTTP_TOKEN"] = token
        environ.update(self.extra)
        return environ


class _Stream:
    """``wsgi.input``: hands out the body, never more, like a server's stream."""

    def __init__(self, body: bytes) -> None:
        self._body = body
        self._at = 0

    def read(self, size: int | None = -1) -> bytes:
        end = len(self._body) if size is None or size < 0 else self._at + size
        chunk = self._body[self._at : end]
        self._at += len(chunk)
        return chunk

    def readline(self, size: int | None = -1) -> bytes:
        return self.read(size)


def _resolve_token(choice: tuple[str, str], valid: str) -> str | None:
    kind, text = choice
    return {
        "absent": None,
        "valid": valid,
        "upper": valid.upper(),
        "truncated": valid[:-1],
        "doubled": f"{valid},{valid}",
        "suffix": valid + text,
        "text": text,
    }[kind]


EXTRA_HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "HTTP_USER_AGENT": latin_1_text | long_text,
        "HTTP_X_FORWARDED_FOR": latin_1_text,
        "REMOTE_ADDR": latin_1_text,
        "REMOTE_USER": st.sampled_from(["alice", "admin"]),
        "nullptr_auth.user": st.just("forged"),
        "HTTP_TRANSFER_ENCODING": st.just("chunked"),
    },
)
ANY_REQUESTS = st.builds(
    Request,
    method=METHODS,
    path=PATHS,
    query=QUERIES,
    headers=HEADER_PAIRS,
    content_type=CONTENT_TYPES,
    body=BODIES,
    length=LENGTHS,
    extra=EXTRA_HEADERS,
)
OPERATIONS = st.sampled_from(
    [
        ("POST", "/session"),
        ("POST", "/user/register"),
        ("POST", "/user/password"),
        ("GET", "/session"),
        ("DELETE", "/session"),
        ("DELETE", "/session/others"),
        ("GET", "/user/checkUsername"),
    ]
)


@st.composite
def plausible_requests(draw: st.DrawFn) -> Request:
    """A documented operation with a well-formed body whose fields hold anything."""
    method, path = draw(OPERATIONS)
    as_json = draw(st.booleans())
    return Request(
        method,
        path,
        draw(QUERIES),
        draw(HEADER_PAIRS),
        JSON if as_json else "application/x-www-form-urlencoded",
        draw(
            st.builds(_json_bytes, CREDENTIALS, st.booleans())
            if as_json
            else st.builds(_form_bytes, CREDENTIALS)
        ),
        "exact",
        draw(EXTRA_HEADERS),
    )


REQUESTS = plausible_requests() | ANY_REQUESTS


# -- the properties -------------------------------------------------------------------
def _send(world: World, request: Request) -> tuple[int, dict[str, str], bytes, bool]:
    """Status, headers, body, and whether the wrapped application answered."""
    app_iter, status, headers = run_wsgi_app(world.auth, request.environ(world), buffered=True)
    body = b"".join(app_iter)
    return int(status.split(" ", 1)[0]), dict(headers), body, _by_app(body)


def _by_app(body: bytes) -> bool:
    try:
        return json.loads(body).get("app") is True
    except (ValueError, AttributeError):
        return False


def _check_answer(
    request: Request, status: int, headers: dict[str, str], body: bytes, by_app: bool
) -> None:
    assert status < 500, f"{status}: {body[:500]!r}"
    assert b"Traceback" not in body
    if by_app or status < 400:
        return
    assert headers.get("Content-Type") == JSON, headers
    assert headers.get("Cache-Control") == "no-store", headers
    if status == 401:
        assert headers.get("WWW-Authenticate") == "Token"
    if status == 429:
        assert int(headers["Retry-After"]) >= 1
    if request.method == "HEAD":
        assert body == b""
        return
    envelope = json.loads(body)
    assert set(envelope) == {"error"}
    assert set(envelope["error"]) == {"code", "message"}
    assert isinstance(envelope["error"]["code"], str) and envelope["error"]["code"].isupper()
    assert isinstance(envelope["error"]["message"], str)


@FUZZ
@given(options=OPTIONS, requests=st.lists(REQUESTS, min_size=1, max_size=4))
def test_no_input_gets_a_server_error_or_changes_the_store_when_refused(
    options: dict[str, Any], requests: list[Request]
) -> None:
    world = World.make(options)
    try:
        for request in requests:
            before = world.snapshot()
            status, headers, body, by_app = _send(world, request)
            _check_answer(request, status, headers, body, by_app)
            if status >= 400:
                assert world.snapshot() == before, f"a refused {status} changed the store"
    finally:
        world.auth.store.close()


@FUZZ
@given(
    path=st.sampled_from(["/session", "/user/register", "/user/password"]),
    fields=CREDENTIALS,
    as_json=st.booleans(),
    token=st.sampled_from([("valid", ""), ("absent", "")]),
)
def test_login_shaped_bodies_get_a_clear_answer(
    path: str, fields: dict[str, object], as_json: bool, token: tuple[str, str]
) -> None:
    """Well-formed requests whose fields hold anything: the paths' own logic is reached."""
    world = World.make({})
    body = _json_bytes(fields, False) if as_json else _form_bytes(fields)
    request = Request(
        "POST",
        path,
        "",
        ("alice" if token[0] == "valid" else None, token),
        JSON if as_json else "application/x-www-form-urlencoded",
        body,
        "exact",
        {},
    )
    try:
        before = world.snapshot()
        status, headers, answer, by_app = _send(world, request)
        _check_answer(request, status, headers, answer, by_app)
        assert not by_app
        if status >= 400:
            assert world.snapshot() == before
    finally:
        world.auth.store.close()


def test_a_query_string_that_is_not_utf8_is_not_a_server_error() -> None:
    """Found by the fuzz test: ``GET /user/checkUsername?\x96`` (a raw byte a client
    can put in its request line; the server hands it over latin-1 decoded)."""
    world = World.make({})
    request = Request(
        "GET",
        "/user/checkUsername",
        "username=\x96",
        (None, ("absent", "")),
        None,
        b"",
        "absent",
        {},
    )
    try:
        status, headers, body, by_app = _send(world, request)
        _check_answer(request, status, headers, body, by_app)
    finally:
        world.auth.store.close()
