"""The account API of SPEC §5: checkUsername, register, password changes."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import webtest

from nullptr_auth import AuthMiddleware
from nullptr_auth.stores import MemoryStore

from .conftest import PASSWORD, MakeAuth, RecordingApp, login


@pytest.fixture
def auth(make_auth: MakeAuth) -> AuthMiddleware:
    return make_auth(registration=True)


def register(client: webtest.TestApp, username: str, password: str = PASSWORD, **kw: Any) -> Any:
    return client.post_json("/user/register", {"username": username, "password": password}, **kw)


def test_without_registration_the_paths_belong_to_the_app(
    make_auth: MakeAuth, downstream: RecordingApp
) -> None:
    client = webtest.TestApp(make_auth())
    client.get("/user/checkUsername", params={"username": "alice"})
    register(client, "alice")
    assert [env["PATH_INFO"] for env in downstream.calls] == [
        "/user/checkUsername",
        "/user/register",
    ]


@pytest.mark.parametrize(
    ("username", "available"),
    [
        pytest.param("carol", True, id="free"),
        pytest.param("alice", False, id="taken"),
        pytest.param("ALICE", False, id="taken-other-case"),
        pytest.param("_carol", False, id="invalid"),
        pytest.param("\u212aate", False, id="kelvin-sign"),
        pytest.param("", False, id="empty"),
        pytest.param("a" * 5000, False, id="huge"),
    ],
)
def test_check_username(
    client: webtest.TestApp, alice: str, username: str, available: bool
) -> None:
    answer = client.get("/user/checkUsername", params={"username": username})
    assert answer.json == {"available": available}


def test_check_username_without_a_name_is_not_available(client: webtest.TestApp) -> None:
    assert client.get("/user/checkUsername").json == {"available": False}


def test_register_logs_the_new_user_in(client: webtest.TestApp, auth: AuthMiddleware) -> None:
    answer = register(client, "Carol")
    assert answer.headers["Cache-Control"] == "no-store"
    headers = {"Username": "carol", "Token": answer.json["session_token"]}
    seen = client.get("/app", headers=headers).json["user"]
    assert seen == {"id": answer.json["user_id"], "username": "carol"}
    assert client.get("/user/checkUsername", params={"username": "carol"}).json == {
        "available": False
    }


@pytest.mark.parametrize(
    ("username", "password", "status", "code"),
    [
        pytest.param("ab", PASSWORD, 400, "INVALID_USERNAME", id="short-username"),
        pytest.param("a" * 33, PASSWORD, 400, "INVALID_USERNAME", id="long-username"),
        pytest.param("_bob", PASSWORD, 400, "INVALID_USERNAME", id="leading-underscore"),
        pytest.param("\u212aate", PASSWORD, 400, "INVALID_USERNAME", id="kelvin-sign"),
        pytest.param("b\u043eb", PASSWORD, 400, "INVALID_USERNAME", id="cyrillic"),
        pytest.param("bob\n", PASSWORD, 400, "INVALID_REQUEST", id="newline"),  # control
        pytest.param("bob", "12345678", 400, "INVALID_PASSWORD", id="8-char-password"),
        pytest.param("bob", "x" * 1025, 400, "INVALID_PASSWORD", id="over-max-password"),
        pytest.param("alice", PASSWORD, 409, "USERNAME_TAKEN", id="taken"),
        pytest.param("ALICE", PASSWORD, 409, "USERNAME_TAKEN", id="taken-other-case"),
    ],
)
def test_register_refusals(
    client: webtest.TestApp,
    auth: AuthMiddleware,
    alice: str,
    username: str,
    password: str,
    status: int,
    code: str,
) -> None:
    answer = register(client, username, password, status=status)
    assert answer.json["error"]["code"] == code
    assert [user.username for user in auth.accounts.list()] == ["alice"]


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        pytest.param(b"[]", "application/json", 400, id="not-an-object"),
        pytest.param(b'{"username": "bob"}', "application/json", 400, id="no-password"),
        pytest.param(b"username=bob", "text/plain", 415, id="media-type"),
    ],
)
def test_register_shares_the_generic_errors(
    client: webtest.TestApp, auth: AuthMiddleware, body: bytes, content_type: str, status: int
) -> None:
    client.post("/user/register", body, headers={"Content-Type": content_type}, status=status)
    assert auth.accounts.list() == []


def test_two_concurrent_registrations_of_one_name_admit_one(
    make_auth: MakeAuth, tmp_path: Any
) -> None:
    auth = make_auth(f"sqlite:///{tmp_path}/auth.db", registration=True)
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def race() -> None:
        client = webtest.TestApp(auth)
        barrier.wait()
        statuses.append(register(client, "racer", expect_errors=True).status_int)

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [409] * 7
    assert [user.username for user in auth.accounts.list()] == ["racer"]


# -- password changes -----------------------------------------------------------------
def change(client: webtest.TestApp, headers: dict[str, str], old: str, new: str, **kw: Any) -> Any:
    return client.post_json(
        "/user/password", {"old_password": old, "new_password": new}, headers=headers, **kw
    )


def test_a_password_change_ends_the_other_sessions_only(
    client: webtest.TestApp, alice: str
) -> None:
    current, other = login(client), login(client)
    answer = change(client, current, PASSWORD, "a brand new password", status=204)
    assert answer.headers["Cache-Control"] == "no-store"
    assert client.get("/app", headers=current).json["remote_user"] == "alice"
    client.get("/app", headers=other, status=401)
    login(client, password="a brand new password")
    client.post_json("/session", {"username": "alice", "password": PASSWORD}, status=401)


@pytest.mark.parametrize(
    ("old", "new", "status", "code"),
    [
        pytest.param(
            "wrong password", "a brand new password", 401, "INCORRECT_PASSWORD", id="wrong-old"
        ),
        pytest.param(PASSWORD, "short", 400, "INVALID_PASSWORD", id="short-new"),
        pytest.param("wrong password", "short", 400, "INVALID_PASSWORD", id="both-bad"),
    ],
)
def test_a_refused_password_change_changes_nothing(
    client: webtest.TestApp, alice: str, old: str, new: str, status: int, code: str
) -> None:
    current, other = login(client), login(client)
    answer = change(client, current, old, new, status=status)
    assert answer.json["error"]["code"] == code
    assert client.get("/app", headers=other).json["remote_user"] == "alice"
    login(client)


def test_a_password_change_needs_a_session(client: webtest.TestApp, alice: str) -> None:
    answer = change(client, {}, PASSWORD, "a brand new password", status=401)
    assert answer.json["error"]["code"] == "AUTHORIZATION_REQUIRED"
    login(client)


def test_the_blocklist_applies_to_new_passwords_only(make_auth: MakeAuth, tmp_path: Any) -> None:
    store = MemoryStore()
    make_auth(store).accounts.create("alice", "password123")  # before the list existed
    blocklist = tmp_path / "common.txt"
    blocklist.write_text("password123\nCorrect Horse Battery\n")
    client = webtest.TestApp(make_auth(store, registration=True, password_blocklist=str(blocklist)))
    refused = register(client, "bob", "PASSWORD123", status=400)
    assert refused.json["error"]["code"] == "INVALID_PASSWORD"
    headers = login(client, "alice", "password123")  # never applied at login
    change(client, headers, "password123", PASSWORD, status=400)
    change(client, headers, "password123", "an uncommon password", status=204)


def test_a_callable_blocklist(make_auth: MakeAuth) -> None:
    auth = make_auth(registration=True, password_blocklist=lambda p: "nullptr" in p)
    register(webtest.TestApp(auth), "bob", "i love nullptr chat", status=400)
