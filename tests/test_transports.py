"""transports=: Bearer (RFC 6750) and several transports on one request; the pure rules
of nullptr_auth.transports first, then the middleware's answers."""

from __future__ import annotations

from typing import Any

import pytest
import webtest

from nullptr_auth import AuthMiddleware, errors
from nullptr_auth.transports import Credentials, Transports, bearer_token, is_local_http

from .conftest import PASSWORD, MakeAuth, RecordingApp, login, public_page
from .services import every_store  # noqa: F401  (the store_url fixture: every store)

ALL = ("headers", "bearer", "cookie")


def transports(make_auth: MakeAuth, **options: Any) -> Transports:
    return make_auth(**options).transports


# -- reading what a request presented (pure) -----------------------------------------
def present(t: Transports, **values: str | None) -> Credentials | None:
    return t.presented(
        username=values.get("username"),
        token=values.get("token"),
        authorization=values.get("authorization"),
        cookie=values.get("cookie"),
    )


def test_nothing_presented_is_anonymous(make_auth: MakeAuth) -> None:
    t = transports(make_auth, transports=ALL)
    assert present(t) is None
    assert present(t, username="", token="", authorization="", cookie="") is None
    assert present(t, authorization="Basic YWxpY2U6c2VjcmV0") is None  # the app's
    assert present(t, cookie="theme=dark") is None


@pytest.mark.parametrize(
    ("authorization", "token"),
    [
        pytest.param("Bearer abc.def.ghi", "abc.def.ghi", id="canonical"),
        pytest.param("bearer abc.def.ghi", "abc.def.ghi", id="scheme-lowercase"),
        pytest.param("BEARER abc.def.ghi", "abc.def.ghi", id="scheme-uppercase"),
        pytest.param("Bearer   abc.def.ghi", "abc.def.ghi", id="several-spaces"),
        pytest.param("Basic abc", None, id="another-scheme"),
        pytest.param("Bearerabc", None, id="no-space-is-another-scheme"),
    ],
)
def test_the_bearer_token(authorization: str, token: str | None) -> None:
    assert bearer_token(authorization) == token


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Bearer", id="no-token"),
        pytest.param("Bearer ", id="empty-token"),
        pytest.param("Bearer a b", id="two-tokens"),
        pytest.param("Bearer a\tb", id="a-tab"),
    ],
)
def test_a_malformed_bearer_is_an_invalid_session(authorization: str) -> None:
    with pytest.raises(errors.InvalidSession) as raised:
        bearer_token(authorization)
    assert raised.value.reason == "malformed"


def test_each_transport_alone(make_auth: MakeAuth) -> None:
    t = transports(make_auth, transports=ALL)
    by_headers = present(t, username="Alice", token="t.o.k")
    assert by_headers == Credentials("headers", "alice", "t.o.k", frozenset({"headers"}))
    by_bearer = present(t, authorization="Bearer t.o.k")
    assert by_bearer == Credentials("bearer", None, "t.o.k", frozenset({"bearer"}))
    by_cookie = present(t, cookie='theme=dark; __Host-nullptr_auth="t.o.k"')
    assert by_cookie == Credentials("cookie", None, "t.o.k", frozenset({"cookie"}))
    assert by_cookie.by_cookie_alone and not by_bearer.by_cookie_alone


def test_the_same_token_on_several_transports_is_one_session(make_auth: MakeAuth) -> None:
    t = transports(make_auth, transports=ALL)
    found = present(
        t,
        username="alice",
        token="t.o.k",
        authorization="Bearer t.o.k",
        cookie="__Host-nullptr_auth=t.o.k",
    )
    assert found is not None and found.transport == "headers" and found.username == "alice"
    assert found.carried_by == frozenset(ALL) and not found.by_cookie_alone


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(
            {"username": "alice", "token": "a.b.c", "authorization": "Bearer x.y.z"},
            id="headers-bearer",
        ),
        pytest.param(
            {"authorization": "Bearer a.b.c", "cookie": "__Host-nullptr_auth=x.y.z"},
            id="bearer-cookie",
        ),
        pytest.param(
            {"username": "alice", "token": "a.b.c", "cookie": "__Host-nullptr_auth=x.y.z"},
            id="headers-cookie",
        ),
    ],
)
def test_two_transports_with_different_tokens_are_refused(
    make_auth: MakeAuth, values: dict[str, str]
) -> None:
    with pytest.raises(errors.InvalidSession) as raised:
        present(transports(make_auth, transports=ALL), **values)
    assert raised.value.reason == "conflict"


def test_a_second_session_cookie_is_never_guessed_between(make_auth: MakeAuth) -> None:
    """A cookie planted beside ours (cookie tossing from a sibling subdomain)."""
    t = transports(make_auth, transports=["cookie"], cookie_name="sid", cookie_domain="example.com")
    with pytest.raises(errors.InvalidSession) as raised:
        present(t, cookie="sid=a.b.c; sid=x.y.z")
    assert raised.value.reason == "ambiguous"
    assert present(t, cookie="sid=a.b.c; sid=a.b.c") is not None


def test_a_transport_that_is_off_is_not_read(make_auth: MakeAuth) -> None:
    t = transports(make_auth)  # headers only
    assert not t.bearer and not t.cookie
    assert repr(t) == "<Transports headers>"


def test_half_a_pair_and_odd_usernames(make_auth: MakeAuth) -> None:
    t = transports(make_auth)
    for values, reason in [
        ({"username": "alice"}, "half-pair"),
        ({"token": "a.b.c"}, "half-pair"),
        ({"username": "a" * 257, "token": "a.b.c"}, "malformed"),
        ({"username": "älice", "token": "a.b.c"}, "malformed"),
    ]:
        with pytest.raises(errors.InvalidSession) as raised:
            present(t, **values)
        assert raised.value.reason == reason


@pytest.mark.parametrize(
    ("origin", "local"),
    [
        ("http://localhost", True),
        ("http://localhost:8000", True),
        ("http://127.0.0.1:5000", True),
        ("http://[::1]:8080", True),
        ("http://app.localhost:8080", True),
        ("https://localhost", False),
        ("http://localhost.evil.example", False),
        ("http://example.com", False),
    ],
)
def test_what_counts_as_local_http(origin: str, local: bool) -> None:
    assert is_local_http(origin) is local


# -- Bearer through the middleware ----------------------------------------------------
@pytest.fixture
def bearer(make_auth: MakeAuth) -> webtest.TestApp:
    auth = make_auth(transports=["headers", "bearer"], registration=True)
    auth.accounts.create("alice", PASSWORD)
    return webtest.TestApp(auth)


def bearer_of(client: webtest.TestApp) -> dict[str, str]:
    token = login(client)["Token"]
    return {"Authorization": f"Bearer {token}"}


def test_a_bearer_token_authenticates_and_leaves_the_environ(
    bearer: webtest.TestApp, downstream: RecordingApp
) -> None:
    answer = bearer.get("/app", headers=bearer_of(bearer))
    assert answer.json["remote_user"] == "alice"
    environ = downstream.environ
    assert "HTTP_AUTHORIZATION" not in environ
    assert environ["AUTH_TYPE"] == "Bearer"
    assert environ["nullptr_auth.session"].user_id == answer.json["user"]["id"]


def test_the_headers_transport_sets_auth_type_token(
    client: webtest.TestApp, downstream: RecordingApp, headers: dict[str, str]
) -> None:
    client.get("/app", headers=headers)
    assert downstream.environ["AUTH_TYPE"] == "Token"


def test_an_upstream_auth_type_is_removed_from_an_anonymous_request(
    client: webtest.TestApp, downstream: RecordingApp
) -> None:
    client.get("/app", extra_environ={"AUTH_TYPE": "Basic"})
    assert "AUTH_TYPE" not in downstream.environ


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("forged.token.value", id="forged"),
        pytest.param("x" * 300, id="too-long"),
    ],
)
def test_a_refused_bearer_token_says_invalid_token(bearer: webtest.TestApp, token: str) -> None:
    answer = bearer.get("/app", headers={"Authorization": f"Bearer {token}"}, status=401)
    assert answer.json["error"]["code"] == "INVALID_SESSION"
    assert answer.headers.getall("WWW-Authenticate") == ["Token", 'Bearer error="invalid_token"']


def test_a_logged_out_bearer_token_is_refused(bearer: webtest.TestApp) -> None:
    headers = bearer_of(bearer)
    bearer.delete("/session", headers=headers, status=204)
    answer = bearer.get("/session", headers=headers, status=401)
    assert 'Bearer error="invalid_token"' in answer.headers.getall("WWW-Authenticate")


def test_no_token_gets_a_bare_bearer_challenge(make_auth: MakeAuth) -> None:
    client = webtest.TestApp(make_auth(transports=["bearer"], require_auth=True))
    answer = client.get("/app", status=401)
    assert answer.json["error"]["code"] == "AUTHORIZATION_REQUIRED"
    assert answer.headers.getall("WWW-Authenticate") == ["Bearer"]
    basic = client.get("/app", headers={"Authorization": "Basic YTpi"}, status=401)
    assert basic.headers.getall("WWW-Authenticate") == ["Bearer"]


def test_another_scheme_reaches_the_app_untouched(
    bearer: webtest.TestApp, downstream: RecordingApp
) -> None:
    bearer.get("/app", headers={"Authorization": "Basic YWxpY2U6c2VjcmV0"})
    assert downstream.environ["HTTP_AUTHORIZATION"] == "Basic YWxpY2U6c2VjcmV0"
    assert downstream.environ["nullptr_auth.user"] is None


def test_bearer_is_off_by_default(
    client: webtest.TestApp, downstream: RecordingApp, headers: dict[str, str]
) -> None:
    answer = client.get("/app", headers={"Authorization": f"Bearer {headers['Token']}"})
    assert answer.json["user"] is None
    assert downstream.environ["HTTP_AUTHORIZATION"].startswith("Bearer ")


def test_headers_and_bearer_naming_different_sessions_are_refused(
    bearer: webtest.TestApp, downstream: RecordingApp
) -> None:
    """Fails if only the first transport found were looked at."""
    first, second = login(bearer), bearer_of(bearer)
    answer = bearer.get("/app", headers={**first, **second}, status=401)
    assert answer.json["error"]["code"] == "INVALID_SESSION"
    assert not downstream.calls
    same = {"Authorization": f"Bearer {first['Token']}"}
    assert bearer.get("/app", headers={**first, **same}).json["remote_user"] == "alice"


@pytest.mark.parametrize(
    ("chosen", "vary"),
    [
        pytest.param(["headers", "bearer"], "Username, Token, Authorization", id="both"),
        pytest.param(["bearer"], "Authorization", id="bearer-alone"),
    ],
)
def test_an_answer_the_app_made_public_still_varies_on_authorization(
    make_auth: MakeAuth, chosen: list[str], vary: str
) -> None:
    """``public`` lets a shared cache reuse an answer to ``Authorization`` (RFC 9111
    §3.5): only Vary keeps a copy per token. Fails if Vary names Username and Token only."""
    auth: AuthMiddleware = make_auth(transports=chosen, app=public_page)
    auth.accounts.create("alice", PASSWORD)
    client = webtest.TestApp(auth)
    token = client.post_json("/session", {"username": "alice", "password": PASSWORD})
    answer = client.get("/page", headers={"Authorization": f"Bearer {token.json['session_token']}"})
    assert answer.body == b"alice"
    assert answer.headers.getall("Vary") == [vary]


def test_the_session_endpoints_take_a_bearer_token(bearer: webtest.TestApp) -> None:
    headers = bearer_of(bearer)
    listing = bearer.get("/session", headers=headers).json
    assert listing["username"] == "alice"
    bearer.delete("/session/others", headers=headers, status=204)
    bearer.delete("/session", headers=headers, status=204)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, "2026-01-15T00:00:00Z"),
        ({"idle_timeout": None}, "2026-01-31T00:00:00Z"),
        ({"idle_timeout": None, "session_lifetime": None}, None),
    ],
)
def test_a_login_answers_when_the_session_ends(
    make_auth: MakeAuth, options: dict[str, Any], expected: str | None
) -> None:
    auth: AuthMiddleware = make_auth(**options)
    auth.accounts.create("alice", PASSWORD)
    credentials = {"username": "alice", "password": PASSWORD}
    answer = webtest.TestApp(auth).post_json("/session", credentials)
    assert answer.json["expires_at"] == expected


def test_the_openapi_document_names_every_transport() -> None:
    import json
    from importlib import resources

    from nullptr_auth import csrf, transports

    document = json.loads(
        resources.files("nullptr_auth").joinpath("openapi.json").read_text(encoding="utf-8")
    )
    schemes = document["components"]["securitySchemes"]
    assert schemes["Bearer"] == {**schemes["Bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["SessionCookie"]["in"] == "cookie"
    assert schemes["SessionCookie"]["name"] == transports.HOST_COOKIE
    assert (schemes["CsrfToken"]["in"], schemes["CsrfToken"]["name"]) == ("header", csrf.HEADER)
    listing = document["paths"]["/session"]["get"]["security"]
    assert {"Bearer": []} in listing and {"SessionCookie": []} in listing
    logout = document["paths"]["/session"]["delete"]["security"]
    assert {"SessionCookie": [], "CsrfToken": []} in logout
