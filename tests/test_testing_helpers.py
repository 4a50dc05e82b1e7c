"""nullptr_auth.testing and the pytest plugin, used the way an application's suite would."""

from __future__ import annotations

import configparser
import importlib.metadata
from pathlib import Path

import pytest
import webtest

from nullptr_auth import AuthMiddleware
from nullptr_auth.stores import MemoryStore, Store
from nullptr_auth.testing import (
    bearer_headers,
    cookie_headers,
    login_cookies,
    login_headers,
)

from .conftest import PASSWORD, MakeAuth, RecordingApp

pytest_plugins = ["pytester"]


def test_login_headers_create_the_user_and_authenticate(
    make_auth: MakeAuth, downstream: RecordingApp
) -> None:
    auth = make_auth()
    client = webtest.TestApp(auth)
    answer = client.get("/app", headers=login_headers(auth, "Alice"))
    assert answer.json["remote_user"] == "alice"
    again = client.get("/app", headers=login_headers(auth, "alice"))
    assert again.json["user"] == answer.json["user"]  # the same user, a second session
    assert [u.username for u in auth.accounts.list()] == ["alice"]
    assert len(auth.sessions.list()) == 2


def test_a_user_made_by_the_helpers_keeps_a_password_nobody_knows(make_auth: MakeAuth) -> None:
    auth = make_auth()
    login_headers(auth, "alice")
    client = webtest.TestApp(auth)
    client.post_json("/session", {"username": "alice", "password": PASSWORD}, status=401)


def test_an_existing_user_is_logged_in_as_is(make_auth: MakeAuth) -> None:
    auth = make_auth()
    alice = auth.accounts.create("alice", PASSWORD)
    client = webtest.TestApp(auth)
    assert client.get("/app", headers=login_headers(auth, "alice")).json["user"]["id"] == alice.id


def test_bearer_headers(make_auth: MakeAuth, downstream: RecordingApp) -> None:
    auth = make_auth(transports=["bearer"])
    answer = webtest.TestApp(auth).get("/app", headers=bearer_headers(auth, "alice"))
    assert answer.json["remote_user"] == "alice"
    assert downstream.environ["AUTH_TYPE"] == "Bearer"


def test_cookie_headers_pass_the_csrf_check(make_auth: MakeAuth) -> None:
    auth = make_auth(transports=["cookie"])
    client = webtest.TestApp(auth)
    answer = client.post("/app", headers=cookie_headers(auth, "alice"))
    assert answer.json["remote_user"] == "alice"


def test_login_cookies_in_a_client_that_keeps_cookies(make_auth: MakeAuth) -> None:
    auth = make_auth(transports=["cookie"])
    client = webtest.TestApp(auth)
    cookies = login_cookies(auth, "alice")
    for name, value in cookies.items():
        client.set_cookie(name, value)
    assert client.get("/app").json["remote_user"] == "alice"
    assert set(cookies) == {"__Host-nullptr_auth", "__Host-nullptr_auth_csrf"}


# -- the pytest plugin ----------------------------------------------------------------
def test_the_plugin_is_an_entry_point_of_the_package() -> None:
    setup = configparser.ConfigParser()
    setup.read(Path(__file__).parent.parent / "setup.cfg")
    entry_points = setup["options.entry_points"]["pytest11"].split("=")
    assert [part.strip() for part in entry_points] == ["nullptr_auth", "nullptr_auth.pytest_plugin"]


def _plugin_args() -> list[str]:
    """``-p`` unless the installed package already registers the plugin by entry point."""
    loaded = any(
        ep.value == "nullptr_auth.pytest_plugin"
        for ep in importlib.metadata.entry_points(group="pytest11")
    )
    return [] if loaded else ["-p", "nullptr_auth.pytest_plugin"]


def test_the_store_fixture_is_fresh_for_each_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import argon2
        import webtest
        from nullptr_auth import AuthMiddleware
        from nullptr_auth.testing import login_headers

        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [environ["REMOTE_USER"].encode()]

        def test_one(nullptr_auth_store):
            auth = AuthMiddleware(app, nullptr_auth_store, secret_keys=["k" * 32])
            client = webtest.TestApp(auth)
            assert client.get("/", headers=login_headers(auth, "alice")).text == "alice"

        def test_two(nullptr_auth_store):
            assert nullptr_auth_store.list_users() == []
        """
    )
    result = pytester.runpytest_subprocess(*_plugin_args(), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_the_fixture_is_a_memory_store() -> None:
    from nullptr_auth.pytest_plugin import nullptr_auth_store

    generator = nullptr_auth_store.__wrapped__()  # type: ignore[attr-defined]
    store: Store = next(generator)
    assert isinstance(store, MemoryStore)
    generator.close()


def test_helpers_need_the_users_of_a_user_source(make_auth: MakeAuth) -> None:
    class Nobody:
        def find_user(self, username: str) -> None:
            return None

        def check_password(self, user: object, password: str) -> bool:
            return False

    auth: AuthMiddleware = make_auth(users=Nobody())
    with pytest.raises(LookupError, match="alice"):
        login_headers(auth, "alice")
