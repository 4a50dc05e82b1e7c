"""transports=("cookie",): browser sessions, secure by default, and CSRF on every change.

nullptr_auth.csrf's pure check first, then the cookies the middleware sets and what it
refuses. A real browser runs the same in tests/test_browser.py.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import webtest

from nullptr_auth import AuthMiddleware, errors
from nullptr_auth.csrf import check, csrf_token, normalized_origin, origin_of

from .conftest import PASSWORD, MakeAuth, RecordingApp, public_page
from .services import every_store  # noqa: F401  (the store_url fixture: every store)

OWN = "http://localhost:80"
SITE = "https://app.example"
TOKEN = "abc.def.ghi"


# -- the pure check -------------------------------------------------------------------
def run_check(method: str = "POST", **headers: str | None) -> None:
    check(
        method,
        origin=headers.get("origin"),
        fetch_site=headers.get("fetch_site"),
        csrf_header=headers.get("csrf_header", csrf_token(TOKEN)),
        session_token=TOKEN,
        own_origin=SITE,
        trusted_origins=frozenset({"https://admin.example"}),
    )


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"fetch_site": "same-origin"}, id="same-origin"),
        pytest.param({"fetch_site": "same-origin", "origin": SITE}, id="same-origin-with-origin"),
        pytest.param({"origin": SITE}, id="origin-only"),
        pytest.param({}, id="no-browser-signals"),
        pytest.param({"fetch_site": "same-site", "origin": "https://admin.example"}, id="trusted"),
        pytest.param({"origin": "https://ADMIN.example"}, id="trusted-any-case"),
    ],
)
def test_what_passes(headers: dict[str, str]) -> None:
    run_check(**headers)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        pytest.param({"fetch_site": "cross-site"}, "cross-site", id="cross-site"),
        pytest.param({"fetch_site": "same-site"}, "cross-site", id="same-site-untrusted"),
        pytest.param({"fetch_site": "none"}, "cross-site", id="none"),
        pytest.param(
            {"fetch_site": "cross-site", "origin": SITE}, "cross-site", id="cross-site-own-origin"
        ),
        pytest.param({"origin": "https://evil.example"}, "cross-origin", id="other-origin"),
        pytest.param({"origin": "null"}, "cross-origin", id="origin-null"),
        pytest.param({"origin": "http://app.example"}, "cross-origin", id="other-scheme"),
        pytest.param({"origin": "https://app.example:8443"}, "cross-origin", id="other-port"),
        pytest.param({"fetch_site": "same-origin", "csrf_header": None}, "no-token", id="no-token"),
        pytest.param({"fetch_site": "same-origin", "csrf_header": ""}, "no-token", id="empty"),
        pytest.param(
            {"fetch_site": "same-origin", "csrf_header": csrf_token("x.y.z")},
            "wrong-token",
            id="another-sessions-token",
        ),
        pytest.param(
            {"fetch_site": "same-origin", "csrf_header": "é" * 43}, "wrong-token", id="non-ascii"
        ),
    ],
)
def test_what_fails(headers: dict[str, str | None], reason: str) -> None:
    with pytest.raises(errors.CsrfFailed) as raised:
        run_check(**headers)
    assert raised.value.reason == reason


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_safe_methods_are_not_checked(method: str) -> None:
    run_check(method, fetch_site="cross-site", csrf_header=None)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "TRACE", "PROPFIND"])
def test_every_other_method_is_checked(method: str) -> None:
    with pytest.raises(errors.CsrfFailed):
        run_check(method, csrf_header=None)


def test_origins() -> None:
    assert origin_of("HTTP", "LocalHost:80") == "http://localhost"
    assert origin_of("https", "app.example:443") == "https://app.example"
    assert origin_of("https", "app.example:8443") == "https://app.example:8443"
    assert origin_of("http", "[::1]:80") == "http://[::1]"
    assert normalized_origin("https://App.example:443") == "https://app.example"
    for bad in ["app.example", "https://app.example/", "ftp://x", "https://", "https://a?b"]:
        assert normalized_origin(bad) is None, bad


def test_the_csrf_token_is_bound_to_the_session_and_reveals_nothing() -> None:
    assert csrf_token(TOKEN) == csrf_token(TOKEN)
    assert csrf_token(TOKEN) != csrf_token("abc.def.ghj")
    assert TOKEN not in csrf_token(TOKEN) and len(csrf_token(TOKEN)) == 43


# -- the middleware -------------------------------------------------------------------
@pytest.fixture
def browser(make_auth: MakeAuth) -> webtest.TestApp:
    auth = make_auth(transports=["cookie"], registration=True)
    auth.accounts.create("alice", PASSWORD)
    return webtest.TestApp(auth)


def cookies_of(answer: webtest.TestResponse) -> dict[str, str]:
    """Set-Cookie values by cookie name."""
    return {v.split("=", 1)[0]: v for v in answer.headers.getall("Set-Cookie")}


def log_in(client: webtest.TestApp, **kw: Any) -> webtest.TestResponse:
    return client.post_json("/session", {"username": "alice", "password": PASSWORD}, **kw)


def as_browser(answer: webtest.TestResponse, *, csrf: bool = True) -> dict[str, str]:
    """The headers a same-origin page sends after the login ``answer``."""
    token = answer.json["session_token"]
    headers = {"Cookie": f"theme=dark; __Host-nullptr_auth={token}; other=1"}
    if csrf:
        headers["X-CSRF-Token"] = answer.json["csrf_token"]
    return headers


def test_a_login_sets_a_secure_httponly_lax_cookie(browser: webtest.TestApp) -> None:
    answer = log_in(browser)
    cookies = cookies_of(answer)
    token = answer.json["session_token"]
    assert cookies["__Host-nullptr_auth"] == (
        f"__Host-nullptr_auth={token}; Path=/; Max-Age=2592000; HttpOnly; Secure; SameSite=Lax"
    )
    assert cookies["__Host-nullptr_auth_csrf"] == (
        f"__Host-nullptr_auth_csrf={answer.json['csrf_token']}; Path=/; Max-Age=2592000;"
        " Secure; SameSite=Lax"
    )
    assert answer.json["csrf_token"] == csrf_token(token)
    assert answer.headers["Cache-Control"] == "no-store"


def test_register_sets_the_cookie_too(browser: webtest.TestApp) -> None:
    answer = browser.post_json("/user/register", {"username": "bob", "password": PASSWORD})
    assert "HttpOnly" in cookies_of(answer)["__Host-nullptr_auth"]


def test_name_domain_and_lifetime_are_configurable(make_auth: MakeAuth) -> None:
    auth: AuthMiddleware = make_auth(
        transports=["cookie"],
        cookie_name="sid",
        cookie_domain="example.com",
        session_lifetime=None,
    )
    auth.accounts.create("alice", PASSWORD)
    answer = log_in(webtest.TestApp(auth))
    cookie = cookies_of(answer)["sid"]
    assert "; Domain=example.com;" in cookie and "Max-Age" not in cookie and "; Secure" in cookie
    assert "sid_csrf" in cookies_of(answer)


@pytest.mark.parametrize(
    ("host", "secure"),
    [
        ("localhost:8000", False),
        ("127.0.0.1:8000", False),
        ("app.example", True),
    ],
)
def test_secure_is_off_only_for_localhost_and_only_when_asked(
    make_auth: MakeAuth, host: str, secure: bool
) -> None:
    auth: AuthMiddleware = make_auth(transports=["cookie"], cookie_insecure_localhost=True)
    auth.accounts.create("alice", PASSWORD)
    answer = log_in(webtest.TestApp(auth, extra_environ={"HTTP_HOST": host}))
    for value in answer.headers.getall("Set-Cookie"):
        assert ("; Secure" in value) is secure
        assert value.startswith("nullptr_auth")  # a __Host- cookie needs Secure


def test_the_token_can_stay_out_of_the_body(make_auth: MakeAuth) -> None:
    auth: AuthMiddleware = make_auth(transports=["cookie"], session_token_in_body=False)
    auth.accounts.create("alice", PASSWORD)
    answer = log_in(webtest.TestApp(auth))
    assert set(answer.json) == {"user_id", "expires_at", "csrf_token"}
    assert "__Host-nullptr_auth" in cookies_of(answer)


def test_the_cookie_authenticates_and_never_reaches_the_app(
    browser: webtest.TestApp, downstream: RecordingApp
) -> None:
    answer = browser.get("/app", headers=as_browser(log_in(browser), csrf=False))
    assert answer.json["remote_user"] == "alice"
    assert downstream.environ["AUTH_TYPE"] == "Cookie"
    assert downstream.environ["HTTP_COOKIE"] == "theme=dark; other=1"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_change_without_the_csrf_token_is_refused_before_the_app(
    browser: webtest.TestApp, downstream: RecordingApp, method: str
) -> None:
    """Fails without the CSRF check in the middleware: the app would run."""
    headers = as_browser(log_in(browser), csrf=False)
    answer = browser.request("/app", method=method, headers=headers, expect_errors=True)
    assert answer.status_int == 403
    assert answer.json["error"]["code"] == "CSRF_FAILED"
    assert not downstream.calls


def test_a_change_from_another_site_is_refused_even_with_the_token(
    browser: webtest.TestApp, downstream: RecordingApp
) -> None:
    headers = {**as_browser(log_in(browser)), "Sec-Fetch-Site": "cross-site"}
    answer = browser.post("/app", headers=headers, status=403)
    assert answer.json["error"]["code"] == "CSRF_FAILED"
    headers = {**as_browser(log_in(browser)), "Origin": "https://evil.example"}
    browser.post("/app", headers=headers, status=403)
    assert not downstream.calls


def test_a_same_origin_change_with_the_token_passes(browser: webtest.TestApp) -> None:
    headers = {**as_browser(log_in(browser)), "Sec-Fetch-Site": "same-origin"}
    assert browser.post("/app", headers=headers).json["remote_user"] == "alice"
    headers = {**as_browser(log_in(browser)), "Origin": "http://localhost"}
    assert browser.delete("/app", headers=headers).json["remote_user"] == "alice"


def test_a_trusted_origin_passes(make_auth: MakeAuth) -> None:
    auth: AuthMiddleware = make_auth(
        transports=["cookie"], trusted_origins=["https://admin.example"]
    )
    auth.accounts.create("alice", PASSWORD)
    client = webtest.TestApp(auth)
    login = log_in(client)
    for site, status in [("https://admin.example", 200), ("https://evil.example", 403)]:
        headers = {**as_browser(login), "Sec-Fetch-Site": "cross-site", "Origin": site}
        client.post("/app", headers=headers, status=status)


def test_another_sessions_csrf_token_is_refused(browser: webtest.TestApp) -> None:
    mine, theirs = log_in(browser), log_in(browser)
    headers = {**as_browser(mine), "X-CSRF-Token": theirs.json["csrf_token"]}
    browser.post("/app", headers=headers, status=403)


def test_safe_methods_need_no_token(browser: webtest.TestApp) -> None:
    headers = {**as_browser(log_in(browser), csrf=False), "Sec-Fetch-Site": "cross-site"}
    browser.get("/app", headers=headers, status=200)
    browser.get("/session", headers=headers, status=200)
    browser.options("/app", headers=headers, status=200)


def test_headers_and_bearer_are_never_checked(make_auth: MakeAuth) -> None:
    auth: AuthMiddleware = make_auth(transports=ALL)
    auth.accounts.create("alice", PASSWORD)
    client = webtest.TestApp(auth)
    token = log_in(client).json["session_token"]
    cross = {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
    client.post("/app", headers={**cross, "Username": "alice", "Token": token})
    client.post("/app", headers={**cross, "Authorization": f"Bearer {token}"})
    # the cookie beside the same token in a header: whoever sent it knew the token
    client.post(
        "/app",
        headers={
            **cross,
            "Authorization": f"Bearer {token}",
            "Cookie": f"__Host-nullptr_auth={token}",
        },
    )


ALL = ["headers", "bearer", "cookie"]


def test_the_owned_paths_are_checked_too(browser: webtest.TestApp) -> None:
    login = log_in(browser)
    browser.delete("/session", headers=as_browser(login, csrf=False), status=403)
    browser.get("/session", headers=as_browser(login, csrf=False), status=200)  # still live


def test_logout_clears_both_cookies(browser: webtest.TestApp) -> None:
    login = log_in(browser)
    answer = browser.delete("/session", headers=as_browser(login), status=204)
    cookies = cookies_of(answer)
    assert set(cookies) == {"__Host-nullptr_auth", "__Host-nullptr_auth_csrf"}
    for value in cookies.values():
        assert "=;" in value and "Max-Age=0" in value and "; Secure" in value and "Path=/" in value
    browser.get("/app", headers=as_browser(login), status=401)


def test_a_dead_cookie_is_cleared_by_the_401(browser: webtest.TestApp, clock: Any) -> None:
    login = log_in(browser)
    clock.advance(days=15)  # past the idle timeout
    answer = browser.get("/app", headers=as_browser(login), status=401)
    assert "Max-Age=0" in cookies_of(answer)["__Host-nullptr_auth"]
    assert answer.headers.getall("WWW-Authenticate") == []  # a cookie has no HTTP scheme
    anonymous = browser.get("/app", status=200)  # no cookie: nothing to clear
    assert "Set-Cookie" not in anonymous.headers


def test_an_answer_the_app_made_public_still_varies_on_the_cookie(make_auth: MakeAuth) -> None:
    """A cache that honours Vary keeps a copy per session, as with the headers; fails
    if Vary names only Username and Token: one copy for every visitor, alice's page."""
    auth: AuthMiddleware = make_auth(transports=["headers", "cookie"], app=public_page)
    auth.accounts.create("alice", PASSWORD)
    client = webtest.TestApp(auth)
    answer = client.get("/page", headers=as_browser(log_in(client), csrf=False))
    assert answer.body == b"alice"
    assert answer.headers.getall("Vary") == ["Username, Token, Cookie"]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param({}, 200, id="curl"),
        pytest.param({"Sec-Fetch-Site": "same-origin"}, 200, id="own-page"),
        pytest.param({"Origin": "http://localhost"}, 200, id="own-origin"),
        pytest.param({"Sec-Fetch-Site": "cross-site"}, 403, id="another-site"),
        pytest.param({"Origin": "https://evil.example"}, 403, id="another-origin"),
    ],
)
def test_a_login_from_another_site_is_refused(
    browser: webtest.TestApp, headers: dict[str, str], status: int
) -> None:
    """Login CSRF: a page elsewhere would log the victim's browser into its own account."""
    answer = log_in(browser, headers=headers, status=status)
    assert ("Set-Cookie" in answer.headers) is (status == 200)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"transports": "cookie"}, "transports must be a list"),
        ({"transports": ["cookies"]}, "transports must list some of"),
        ({"transports": []}, "transports must list some of"),
        ({"transports": ["cookie", "cookie"]}, "each once"),
        ({"cookie_name": "sid"}, "cookie_name needs 'cookie' in transports"),
        ({"transports": ["cookie"], "cookie_name": "a b"}, "cookie_name must be a cookie name"),
        ({"transports": ["cookie"], "cookie_domain": "a;b"}, "cookie_domain must be a host"),
        (
            {"transports": ["cookie"], "cookie_name": "__Host-x", "cookie_domain": "a.example"},
            "cannot have a cookie_domain",
        ),
        (
            {
                "transports": ["cookie"],
                "cookie_name": "__Secure-x",
                "cookie_insecure_localhost": True,
            },
            "needs Secure",
        ),
        (
            {"transports": ["cookie"], "trusted_origins": ["app.example"]},
            "trusted_origins must be origins",
        ),
        ({"session_token_in_body": False}, "session_token_in_body needs 'cookie'"),
    ],
)
def test_bad_cookie_options_are_refused(
    make_auth: MakeAuth, options: dict[str, Any], message: str
) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        make_auth(**options)


def test_every_problem_is_reported_together(make_auth: MakeAuth) -> None:
    with pytest.raises(ValueError, match=r"cookie_name.*cookie_domain.*origins.*max_body"):
        make_auth(
            transports=["cookie"],
            cookie_name="a b",
            cookie_domain="a;b",
            trusted_origins=["nope"],
            max_body_size=0,
            session_lifetime=timedelta(days=1),
        )
