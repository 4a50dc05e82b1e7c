"""Listing and ending sessions: SPEC §4."""

from __future__ import annotations

from datetime import datetime

import pytest
import webtest

from nullptr_auth import AuthMiddleware

from .conftest import FrozenClock, MakeAuth, login


def session_id(client: webtest.TestApp, headers: dict[str, str]) -> str:
    return str(client.get("/session", headers=headers).json["session_id"])


def test_list_shows_the_callers_live_sessions(
    client: webtest.TestApp, auth: AuthMiddleware, alice: str, clock: FrozenClock
) -> None:
    phone = login(client)
    clock.advance(minutes=5)
    laptop = client.post_json(
        "/session",
        {"username": "alice", "password": "correct horse battery"},
        headers={"User-Agent": "laptop-browser/2"},
        extra_environ={"REMOTE_ADDR": "198.51.100.7"},
    ).json["session_token"]
    auth.accounts.create("bob", "bobs long password")
    login(client, "bob", "bobs long password")
    answer = client.get("/session", headers={"Username": "alice", "Token": laptop})
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.json
    assert body["user_id"] == alice
    assert body["username"] == "alice"
    assert [s["current"] for s in body["sessions"]] == [False, True]
    assert body["session_id"] == body["sessions"][1]["session_id"]
    newest = body["sessions"][1]
    assert newest["user_agent"] == "laptop-browser/2"
    assert newest["ip"] == "198.51.100.7"
    assert newest["created_at"] == "2026-01-01T00:05:00Z"
    assert newest["last_seen_at"] == "2026-01-01T00:05:00Z"
    assert newest["expires_at"] == "2026-01-15T00:05:00Z"  # the idle deadline comes first
    assert set(newest) == {
        "session_id",
        "created_at",
        "last_seen_at",
        "expires_at",
        "user_agent",
        "ip",
        "device",
        "current",
    }
    for time_field in ("created_at", "last_seen_at", "expires_at"):
        datetime.fromisoformat(newest[time_field].replace("Z", "+00:00"))
    assert phone["Token"] not in answer.text and laptop not in answer.text
    assert "hash" not in answer.text


def test_list_leaves_out_expired_sessions(
    client: webtest.TestApp, alice: str, clock: FrozenClock
) -> None:
    old = login(client)
    clock.advance(days=13)
    new = login(client)
    clock.advance(days=2)  # old is idle for 15 days, new for 2
    client.get("/session", headers=old, status=401)
    assert len(client.get("/session", headers=new).json["sessions"]) == 1


def test_logout_ends_the_current_session_only(client: webtest.TestApp, alice: str) -> None:
    current, other = login(client), login(client)
    answer = client.delete("/session", headers=current, status=204)
    assert answer.body == b""
    assert answer.headers["Cache-Control"] == "no-store"
    client.get("/app", headers=current, status=401)
    client.delete("/session", headers=current, status=401)
    assert client.get("/app", headers=other).json["remote_user"] == "alice"


def test_ending_one_session_by_id(client: webtest.TestApp, alice: str) -> None:
    current, other = login(client), login(client)
    client.delete(f"/session/{session_id(client, other)}", headers=current, status=204)
    client.get("/app", headers=other, status=401)
    assert client.get("/app", headers=current).json["remote_user"] == "alice"


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("bobs", id="another-users-session"),
        pytest.param("0" * 32, id="unknown-id"),
        pytest.param("a/b", id="nested-path"),
        pytest.param("%00", id="percent-encoded-nul"),
    ],
)
def test_ending_a_session_the_caller_does_not_have_is_404(
    client: webtest.TestApp, auth: AuthMiddleware, alice: str, target: str
) -> None:
    auth.accounts.create("bob", "bobs long password")
    bob = login(client, "bob", "bobs long password")
    if target == "bobs":
        target = session_id(client, bob)
    answer = client.delete(f"/session/{target}", headers=login(client), status=404)
    assert answer.json["error"]["code"] == "SESSION_NOT_FOUND"
    assert answer.headers["Cache-Control"] == "no-store"
    assert client.get("/app", headers=bob).json["remote_user"] == "bob"


def test_ending_the_other_sessions(
    client: webtest.TestApp, auth: AuthMiddleware, alice: str
) -> None:
    auth.accounts.create("bob", "bobs long password")
    bob = login(client, "bob", "bobs long password")
    current, *others = [login(client) for _ in range(3)]
    client.delete("/session/others", headers=current, status=204)
    for headers in others:
        client.get("/app", headers=headers, status=401)
    assert client.get("/app", headers=current).json["remote_user"] == "alice"
    assert client.get("/app", headers=bob).json["remote_user"] == "bob"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        pytest.param("PUT", "/session", {"GET", "HEAD", "POST", "DELETE"}, id="put-session"),
        pytest.param("PATCH", "/session", {"GET", "HEAD", "POST", "DELETE"}, id="patch-session"),
        pytest.param("GET", "/session/others", {"DELETE"}, id="get-others"),
        pytest.param("POST", "/session/others", {"DELETE"}, id="post-others"),
        pytest.param("GET", "/session/abc", {"DELETE"}, id="get-one"),
    ],
)
def test_other_methods_are_405_with_allow(
    client: webtest.TestApp, method: str, path: str, allowed: set[str]
) -> None:
    answer = client.request(path, method=method, status=405)
    assert answer.json["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert set(answer.headers["Allow"].split(", ")) == allowed


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/session", id="list"),
        pytest.param("DELETE", "/session", id="logout"),
        pytest.param("DELETE", "/session/abc", id="end-one"),
        pytest.param("DELETE", "/session/others", id="end-others"),
    ],
)
@pytest.mark.parametrize(
    ("headers", "code"),
    [
        pytest.param({}, "AUTHORIZATION_REQUIRED", id="no-headers"),
        pytest.param({"Username": "alice", "Token": "forged"}, "INVALID_SESSION", id="bad-pair"),
        pytest.param({"Username": "alice"}, "INVALID_SESSION", id="half-pair"),
    ],
)
def test_session_paths_need_a_session(
    client: webtest.TestApp,
    alice: str,
    method: str,
    path: str,
    headers: dict[str, str],
    code: str,
) -> None:
    answer = client.request(path, method=method, headers=headers, status=401)
    assert answer.json["error"]["code"] == code
    assert answer.headers["WWW-Authenticate"] == "Token"
    assert answer.headers["Cache-Control"] == "no-store"


def test_the_session_path_is_configurable(make_auth: MakeAuth) -> None:
    auth = make_auth(session_path="/api/auth")
    auth.accounts.create("alice", "correct horse battery")
    client = webtest.TestApp(auth)
    answer = client.post_json(
        "/api/auth", {"username": "alice", "password": "correct horse battery"}
    )
    headers = {"Username": "alice", "Token": answer.json["session_token"]}
    assert client.get("/session", headers=headers).json["path"] == "/session"  # the app's now
    client.delete("/api/auth", headers=headers, status=204)


def test_paths_are_matched_below_script_name(client: webtest.TestApp, alice: str) -> None:
    answer = client.post_json(
        "/session",
        {"username": "alice", "password": "correct horse battery"},
        extra_environ={"SCRIPT_NAME": "/mounted"},
    )
    assert answer.status_int == 200


def test_ended_sessions_are_refused_by_another_middleware_on_the_same_store(
    make_auth: MakeAuth, tmp_path: object
) -> None:
    database = f"sqlite:///{tmp_path}/auth.db"
    first = webtest.TestApp(make_auth(database))
    second = webtest.TestApp(make_auth(database))
    first.app.accounts.create("alice", "correct horse battery")
    headers = login(first)
    assert second.get("/app", headers=headers).json["remote_user"] == "alice"
    second.delete("/session", headers=headers, status=204)
    first.get("/app", headers=headers, status=401)
