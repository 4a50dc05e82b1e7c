"""The audit log: every login, logout and refusal, and never a secret."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import webtest

from nullptr_auth import AuthMiddleware
from nullptr_auth.cli import main

from .conftest import PASSWORD, FrozenClock, MakeAuth, login

ADDRESS = "203.0.113.7"
AGENT = "NullptrChat/3"


class AuditLog:
    """The audit records captured so far (pytest swaps its record list between phases)."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self._caplog = caplog

    def __iter__(self) -> Iterator[logging.LogRecord]:
        return (r for r in self._caplog.records if r.name == "nullptr_auth.audit")

    def clear(self) -> None:
        self._caplog.clear()


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> AuditLog:
    caplog.set_level(logging.INFO, logger="nullptr_auth.audit")
    return AuditLog(caplog)


@pytest.fixture
def client(make_auth: MakeAuth) -> webtest.TestApp:
    auth = make_auth(registration=True)
    auth.accounts.create("alice", PASSWORD)
    return webtest.TestApp(auth, extra_environ={"REMOTE_ADDR": ADDRESS, "HTTP_USER_AGENT": AGENT})


def audit(records: AuditLog) -> list[dict[str, Any]]:
    return [r.audit for r in records]  # type: ignore[attr-defined]


def test_a_login_is_recorded_with_where_it_came_from(
    client: webtest.TestApp, records: AuditLog
) -> None:
    login(client)
    [record] = audit(records)
    assert record == {
        "time": "2026-01-01T00:00:00Z",
        "event": "login.succeeded",
        "username": "alice",
        "user_id": record["user_id"],
        "session_id": record["session_id"],
        "ip": ADDRESS,
        "user_agent": AGENT,
    }
    assert len(record["session_id"]) == 32


@pytest.mark.parametrize(
    ("username", "password", "reason"),
    [
        pytest.param("nobody", PASSWORD, "unknown-user", id="unknown-user"),
        pytest.param("alice", "wrong password", "wrong-password", id="wrong-password"),
    ],
)
def test_a_failed_login_is_recorded_with_its_reason(
    client: webtest.TestApp,
    records: AuditLog,
    username: str,
    password: str,
    reason: str,
) -> None:
    client.post_json("/session", {"username": username, "password": password}, status=401)
    [record] = audit(records)
    assert (record["event"], record["reason"], record["username"]) == (
        "login.failed",
        reason,
        username,
    )


def test_disabled_and_throttled_logins_are_recorded(
    client: webtest.TestApp, records: AuditLog
) -> None:
    client.app.accounts.disable("alice")
    client.post_json("/session", {"username": "alice", "password": PASSWORD}, status=403)
    for _ in range(6):
        client.post_json("/session", {"username": "alice", "password": "wrong"}, expect_errors=True)
    reasons = [r["reason"] for r in audit(records)]
    assert reasons == ["disabled"] + ["wrong-password"] * 4 + ["throttled"] * 2


def _logout(client: webtest.TestApp, headers: dict[str, str]) -> None:
    client.delete("/session", headers=headers)


REJECTIONS: list[Any] = [
    pytest.param(lambda c, h: {"Username": "alice"}, "half-pair", id="half-pair"),
    pytest.param(lambda c, h: {**h, "Token": "t\u00f6ken"}, "malformed", id="malformed"),
    pytest.param(lambda c, h: {**h, "Token": h["Token"][:-2] + "xx"}, "forged", id="forged"),
    # itsdangerous would accept the padding; the signer verifies its one spelling only
    pytest.param(lambda c, h: {**h, "Token": h["Token"] + "="}, "forged", id="padded"),
    pytest.param(lambda c, h: {**h, "Username": "bob"}, "username-mismatch", id="mismatch"),
    pytest.param(lambda c, h: _logout(c, h) or h, "unknown", id="revoked"),
]


@pytest.mark.parametrize(("make_headers", "reason"), REJECTIONS)
def test_a_refused_token_is_recorded_with_its_reason(
    client: webtest.TestApp,
    records: AuditLog,
    make_headers: Callable[[webtest.TestApp, dict[str, str]], dict[str, str]],
    reason: str,
) -> None:
    headers = login(client)
    client.app.accounts.create("bob", PASSWORD)
    presented = make_headers(client, headers)
    records.clear()
    client.get("/app", headers=presented, status=401)
    [record] = audit(records)
    assert (record["event"], record["reason"]) == ("session.rejected", reason)
    assert record["ip"] == ADDRESS


def test_an_expired_session_is_recorded_as_expired(
    client: webtest.TestApp, records: AuditLog, clock: FrozenClock
) -> None:
    headers = login(client)
    clock.advance(days=15)
    client.get("/app", headers=headers, status=401)
    assert audit(records)[-1]["reason"] == "expired"


def test_logouts_and_ended_sessions_are_recorded(
    client: webtest.TestApp, records: AuditLog
) -> None:
    first, second, third = login(client), login(client), login(client)
    client.delete("/session/others", headers=first)
    client.delete("/session", headers=first)
    events = [(r["event"], r.get("count")) for r in audit(records)[3:]]
    assert events == [("session.ended", 2), ("logout", None)]
    assert second["Token"] and third["Token"]


def test_registration_and_password_changes_are_recorded(
    client: webtest.TestApp, records: AuditLog
) -> None:
    answer = client.post_json("/user/register", {"username": "carol", "password": PASSWORD})
    headers = {"Username": "carol", "Token": answer.json["session_token"]}
    client.post_json(
        "/user/password",
        {"old_password": PASSWORD, "new_password": "another password"},
        headers=headers,
        status=204,
    )
    assert [r["event"] for r in audit(records)] == ["user.registered", "password.changed"]


def test_the_command_line_is_recorded(
    tmp_path: Any, records: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = f"sqlite:///{tmp_path}/auth.db"
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD))
    main(["--database", database, "user", "create", "alice"])
    main(["--database", database, "user", "disable", "alice"])
    assert [(r["event"], r["by"]) for r in audit(records)] == [
        ("user.created", "the command line"),
        ("user.disabled", "the command line"),
    ]


def test_no_secret_is_ever_recorded(
    client: webtest.TestApp, records: AuditLog, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = login(client)
    client.get("/session", headers=headers)
    client.get("/app", headers={**headers, "Token": headers["Token"] + "x"}, status=401)
    client.post_json("/session", {"username": "alice", "password": "wrong pw"}, status=401)
    auth: AuthMiddleware = client.app
    [stored] = auth.store.list_sessions()
    everything = caplog.text + repr([vars(r) for r in records])
    for secret in (headers["Token"], PASSWORD, "wrong pw", stored.token_hash.hex()):
        assert secret not in everything


def test_a_newline_in_a_username_cannot_forge_a_record(
    client: webtest.TestApp, records: AuditLog
) -> None:
    """A login refuses control characters unrecorded (400); a header reaches the log."""
    forged = 'mallory\n{"event": "login.succeeded", "username": "admin"}'
    client.post_json("/session", {"username": forged, "password": PASSWORD}, status=400)
    assert list(records) == []
    headers = {"HTTP_USERNAME": forged, "HTTP_TOKEN": "not-a-token"}
    client.get("/app", extra_environ=headers, status=401)
    [record] = list(records)
    assert "\n" not in record.getMessage()
    assert json.loads(record.getMessage())["username"] == forged
