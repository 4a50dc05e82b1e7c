"""The sans-IO core on plain values: no environ, no scope, no server."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import fields

import pytest

from nullptr_auth import config, errors
from nullptr_auth._http import Request, headers_from_pairs
from nullptr_auth.auth import NEEDS_IO, Auth

from .conftest import CHEAP_HASHER, PASSWORD, SECRET_KEY, FrozenClock


@pytest.fixture
def core(clock: FrozenClock) -> Auth:
    made = Auth(
        "memory://",
        secret_keys=[SECRET_KEY],
        password_hasher=CHEAP_HASHER,
        allow_weak_hashing_for_tests=True,
        clock=clock,
    )
    made.accounts.create("alice", PASSWORD)
    return made


def test_the_options_are_declared_once_for_both_middlewares() -> None:
    """The TypedDict both adapters take names exactly the validated options."""
    assert set(config.AuthOptions.__annotations__) == {f.name for f in fields(config.Options)}


def test_an_unknown_option_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="sesion_path"):
        Auth("memory://", sesion_path="/s")  # type: ignore[call-arg]


def login(core: Auth) -> str:
    body = json.dumps({"username": "alice", "password": PASSWORD}).encode()
    request = Request(
        "POST", "/session", "/session", headers={"content-type": "application/json"}, body=body
    )
    answer = core.answer(request)
    assert answer is not None and answer.status == 200
    return str(json.loads(answer.body)["session_token"])


def test_a_login_and_an_authentication_on_plain_values(core: Auth) -> None:
    token = login(core)
    request = Request("GET", "/app", "/app", headers={"username": "alice", "token": token})
    found = core.authenticate(request) or pytest.fail("anonymous")
    assert found.user.username == "alice"
    assert found.auth_type == "Token"
    assert core.authenticate_inline(request) == found


def test_inline_authentication_defers_what_needs_io(core: Auth, clock: FrozenClock) -> None:
    token = login(core)
    request = Request("GET", "/app", "/app", headers={"username": "alice", "token": token})
    clock.advance(minutes=2)  # an activity write is due: not on the event loop
    assert core.authenticate_inline(request) is NEEDS_IO
    core.authenticate(request)
    assert core.authenticate_inline(request) != NEEDS_IO


def test_inline_authentication_refuses_a_forged_token(core: Auth) -> None:
    login(core)
    request = Request("GET", "/app", "/app", headers={"username": "alice", "token": "x.y"})
    with pytest.raises(errors.InvalidSession):
        core.authenticate_inline(request)


def test_a_body_over_the_limit_is_refused_after_the_media_type(core: Auth) -> None:
    request = Request(
        "POST", "/session", "/session", headers={"content-type": "text/plain"}, body=None
    )
    assert (core.answer(request) or pytest.fail("not owned")).status == 415
    request = Request(
        "POST", "/session", "/session", headers={"content-type": "application/json"}, body=None
    )
    assert (core.answer(request) or pytest.fail("not owned")).status == 413


def test_repeated_headers_are_joined_as_a_wsgi_server_joins_them() -> None:
    assert headers_from_pairs([(b"Username", b"a"), (b"username", b"b")]) == {"username": "a, b"}
    # HTTP/2 sends one cookie a field (RFC 9113 §8.2.3): joined as one Cookie header again
    cookies = [(b"cookie", b"a=1"), (b"cookie", b"__Host-nullptr_auth=t")]
    assert headers_from_pairs(cookies) == {"cookie": "a=1; __Host-nullptr_auth=t"}


def test_a_query_parameter_not_in_utf8_names_nothing() -> None:
    assert Request("GET", "/", query=b"username=%ff").arg("username") == "%FF"
    assert Request("GET", "/", query=b"username=\xff").arg("username") == ""


_GLANCE_HEADERS = [
    {},
    {"username": ""},
    {"token": ""},
    {"username": "", "token": ""},
    {"username": "alice"},
    {"token": "x.y.z"},
    {"authorization": "Basic YWxpY2U6cHc="},
    {"authorization": "Bearer x.y.z"},
    {"authorization": ""},
    {"cookie": "theme=dark"},
    {"cookie": "nullptr_auth=x.y.z"},
    {"cookie": ""},
    {"user-agent": "curl", "accept": "*/*"},
]
_EVERY_TRANSPORT = pytest.mark.parametrize(
    "transports", [("headers",), ("bearer",), ("cookie",), ("headers", "bearer", "cookie")]
)
_EVERY_HEADER_SHAPE = pytest.mark.parametrize(
    "headers", _GLANCE_HEADERS, ids=[str(h) for h in _GLANCE_HEADERS]
)


@_EVERY_TRANSPORT
@_EVERY_HEADER_SHAPE
def test_what_is_anonymous_at_a_glance_is_what_authenticate_finds_anonymous(
    transports: tuple[str, ...], headers: dict[str, str]
) -> None:
    """The adapters skip :meth:`Auth.authenticate` when the glance says anonymous: it
    must never say so of a request that authenticate would refuse or authenticate."""
    cookie_options = {"cookie_name": "nullptr_auth"} if "cookie" in transports else {}
    core = Auth("memory://", secret_keys=[SECRET_KEY], transports=transports, **cookie_options)
    request = Request("GET", "/hello", "/hello", headers=headers)
    if core.anonymous_at_a_glance(headers.get):
        assert core.authenticate(request) is None
    anonymous = Auth("memory://", secret_keys=[SECRET_KEY], require_auth=True)
    assert not anonymous.anonymous_at_a_glance(headers.get)  # a rule: the full path


@_EVERY_TRANSPORT
@_EVERY_HEADER_SHAPE
def test_the_wsgi_glance_lets_through_only_what_authenticate_finds_anonymous(
    transports: tuple[str, ...], headers: dict[str, str]
) -> None:
    """The WSGI adapter glances at environ keys of its own spelling: a request goes on
    anonymous exactly when :meth:`Auth.authenticate` finds it anonymous."""
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    from nullptr_auth import AuthMiddleware

    seen: list[object] = []

    def app(environ: dict[str, object], start_response: Callable[..., object]) -> list[bytes]:
        seen.append(environ["nullptr_auth.user"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    cookie_options = {"cookie_name": "nullptr_auth"} if "cookie" in transports else {}
    middleware = AuthMiddleware(
        app, "memory://", secret_keys=[SECRET_KEY], transports=transports, **cookie_options
    )
    try:
        anonymous = (
            middleware.core.authenticate(Request("GET", "/hello", "/hello", headers=headers))
            is None
        )
    except (errors.InvalidSession, errors.CsrfFailed):
        anonymous = False
    environ = EnvironBuilder("/hello", headers=headers).get_environ()
    _, status, _ = run_wsgi_app(middleware, environ)
    assert (status.startswith("200") and seen == [None]) is anonymous, status
