"""Session limits, device labels, revocation tied to credentials, and purging."""

from __future__ import annotations

import sqlite3
import sys
from datetime import datetime, timezone
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import webtest

from nullptr_auth.cli import main
from nullptr_auth.stores import MemoryStore, SQLiteStore

from .conftest import PASSWORD, FrozenClock, MakeAuth, login


def client_with_alice(
    make_auth: MakeAuth, database: Any = "memory://", **options: Any
) -> webtest.TestApp:
    auth = make_auth(database, **options)
    auth.accounts.create("alice", PASSWORD)
    return webtest.TestApp(auth)


def alive(client: webtest.TestApp, headers: dict[str, str]) -> bool:
    return client.get("/app", headers=headers, expect_errors=True).status_int == 200


# -- limits ---------------------------------------------------------------------------
def test_at_the_limit_the_least_recently_used_session_ends(
    make_auth: MakeAuth, clock: FrozenClock
) -> None:
    client = client_with_alice(make_auth, max_sessions_per_user=2)
    first, second = login(client), login(client)
    clock.advance(minutes=2)
    client.get("/app", headers=first)  # first is now used more recently than second
    third = login(client)
    assert [alive(client, h) for h in (first, second, third)] == [True, False, True]


def test_one_device_only(make_auth: MakeAuth) -> None:
    client = client_with_alice(make_auth, max_sessions_per_user=1)
    phone = login(client)
    laptop = login(client)
    assert [alive(client, h) for h in (phone, laptop)] == [False, True]


def test_the_reject_policy_refuses_a_login_past_the_limit(make_auth: MakeAuth) -> None:
    client = client_with_alice(make_auth, max_sessions_per_user=2, session_limit_policy="reject")
    first, second = login(client), login(client)
    answer = client.post_json("/session", {"username": "alice", "password": PASSWORD}, status=403)
    assert answer.json["error"]["code"] == "TOO_MANY_SESSIONS"
    assert answer.headers["Cache-Control"] == "no-store"
    assert alive(client, first) and alive(client, second)
    client.delete("/session", headers=first)
    login(client)


def test_by_default_a_user_holds_at_most_100_sessions(make_auth: MakeAuth) -> None:
    """A login loop cannot grow one user's sessions without bound; the newest still work."""
    auth = make_auth()
    alice = auth.accounts.create("alice", PASSWORD)
    tokens = [auth.sessions.login("alice", PASSWORD)[1] for _ in range(105)]
    assert len(auth.sessions.list(alice.id)) == 100
    client = webtest.TestApp(auth)
    assert alive(client, {"Username": "alice", "Token": tokens[-1]})
    assert not alive(client, {"Username": "alice", "Token": tokens[0]})


def test_no_limit_is_still_a_choice(make_auth: MakeAuth) -> None:
    auth = make_auth(max_sessions_per_user=None)
    alice = auth.accounts.create("alice", PASSWORD)
    for _ in range(105):
        auth.sessions.login("alice", PASSWORD)
    assert len(auth.sessions.list(alice.id)) == 105


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"max_sessions_per_user": 0}, "max_sessions_per_user", id="zero"),
        pytest.param({"session_limit_policy": "lru"}, "session_limit_policy", id="policy"),
    ],
)
def test_bad_limits_are_refused(make_auth: MakeAuth, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_auth(**options)


# -- device labels --------------------------------------------------------------------
def test_labels_go_from_login_to_the_list_and_the_cli(
    make_auth: MakeAuth, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = f"sqlite:///{tmp_path}/auth.db"
    client = client_with_alice(make_auth, database, secret_keys=None, clock=_now)
    token = client.post_json(
        "/session",
        {"username": "alice", "password": PASSWORD, "device": "Alice's phone \U0001f4f1"},
        headers={"User-Agent": "NullptrChat/3.1 (Android 15)"},
        extra_environ={"REMOTE_ADDR": "203.0.113.9"},
    ).json["session_token"]
    [session] = client.get("/session", headers={"Username": "alice", "Token": token}).json[
        "sessions"
    ]
    assert session["device"] == "Alice's phone \U0001f4f1"
    assert session["user_agent"] == "NullptrChat/3.1 (Android 15)"
    assert session["ip"] == "203.0.113.9"
    assert main(["--database", database, "session", "list", "alice"]) == 0
    line = capsys.readouterr().out
    assert "Alice's phone" in line and "NullptrChat/3.1" in line and "203.0.113.9" in line


def _now() -> datetime:
    return datetime.now(timezone.utc)


@pytest.mark.parametrize(
    "device",
    [
        pytest.param("x" * 65, id="too-long"),
        pytest.param("phone\n", id="newline"),
        pytest.param("ph\x00one", id="nul"),
        pytest.param("ph\x1bone", id="escape"),
        pytest.param("phone\u202e", id="bidi-override"),
        pytest.param(42, id="number"),
        pytest.param(["phone"], id="list"),
    ],
)
def test_bad_labels_are_refused(make_auth: MakeAuth, device: Any) -> None:
    client = client_with_alice(make_auth)
    answer = client.post_json(
        "/session", {"username": "alice", "password": PASSWORD, "device": device}, status=400
    )
    assert answer.json["error"]["code"] == "INVALID_REQUEST"
    assert client.app.sessions.list() == []


def test_a_label_is_optional_and_may_be_64_characters(make_auth: MakeAuth) -> None:
    client = client_with_alice(make_auth)
    login(client)
    client.post_json("/session", {"username": "alice", "password": PASSWORD, "device": "x" * 64})
    assert sorted(s.device for s in client.app.sessions.list()) == ["", "x" * 64]


# -- revocation tied to credentials, seen by another process -----------------------------
@pytest.mark.parametrize(
    "revoke",
    [
        pytest.param(["user", "set-password", "alice"], id="password-reset"),
        pytest.param(["user", "disable", "alice"], id="disable"),
        pytest.param(["user", "delete", "alice"], id="delete"),
    ],
)
def test_credential_changes_end_every_session_in_other_processes(
    make_auth: MakeAuth, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, revoke: list[str]
) -> None:
    database = f"sqlite:///{tmp_path}/auth.db"
    client = client_with_alice(make_auth, database, secret_keys=None, clock=_now)
    sessions = [login(client) for _ in range(3)]
    monkeypatch.setattr(sys, "stdin", StringIO("a brand new password\n"))
    assert main(["--database", database, *revoke]) == 0
    assert not any(alive(client, headers) for headers in sessions)


def test_a_disabled_user_cannot_log_in_until_enabled(make_auth: MakeAuth) -> None:
    client = client_with_alice(make_auth)
    client.app.accounts.disable("alice")
    answer = client.post_json("/session", {"username": "alice", "password": PASSWORD}, status=403)
    assert answer.json["error"]["code"] == "ACCOUNT_DISABLED"
    wrong = client.post_json("/session", {"username": "alice", "password": "x" * 12}, status=401)
    assert wrong.json["error"]["code"] == "INCORRECT_PASSWORD"  # disabled says nothing early
    client.app.accounts.enable("alice")
    login(client)


# -- purging --------------------------------------------------------------------------
def test_logins_purge_expired_sessions_now_and_then(
    make_auth: MakeAuth, clock: FrozenClock
) -> None:
    store = PurgeCountingStore()
    client = client_with_alice(make_auth, store)
    login(client)
    clock.advance(days=31)
    login(client)
    assert len(store.list_sessions()) == 1, "the expired session was purged"
    for _ in range(5):
        clock.advance(minutes=10)
        login(client)
    assert store.purges == 2, "at most one purge an hour"
    clock.advance(minutes=11)
    login(client)
    assert store.purges == 3


class PurgeCountingStore(MemoryStore):
    purges = 0

    def purge_sessions(self, now: Any) -> int:
        self.purges += 1
        return super().purge_sessions(now)


def test_purge_deletes_100000_expired_sessions_in_one_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = SQLiteStore(tmp_path / "auth.db")
    store.list_users()  # create the schema
    store.close()
    with sqlite3.connect(tmp_path / "auth.db") as db:
        db.executemany(
            "INSERT INTO nullptr_auth_sessions"
            " VALUES (?, 'u', 'alice', x'00', 0, 0, 1, 1, '', '', '')",
            ((f"expired-{n}",) for n in range(100_000)),
        )
        db.execute(
            "INSERT INTO nullptr_auth_sessions VALUES"
            " ('live', 'u', 'alice', x'00', 0, 0, NULL, NULL, '', '', '')"
        )
    db.close()
    assert main(["--database", f"sqlite:///{tmp_path}/auth.db", "session", "purge"]) == 0
    assert capsys.readouterr().out.strip() == "deleted 100000 expired sessions"
    with sqlite3.connect(tmp_path / "auth.db") as db:
        assert db.execute("SELECT id FROM nullptr_auth_sessions").fetchall() == [("live",)]
    db.close()
