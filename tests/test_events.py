"""on_event: every audit event as a typed object, and hooks that cannot break a request."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import webtest

from nullptr_auth.events import Event, hooks_from

from .conftest import PASSWORD, T0, MakeAuth, login

ADDRESS, AGENT = "203.0.113.5", "pytest-agent"


def client_with(make_auth: MakeAuth, on_event: Any, **options: Any) -> webtest.TestApp:
    auth = make_auth(registration=True, on_event=on_event, **options)
    auth.accounts.create("alice", PASSWORD)
    return webtest.TestApp(auth, extra_environ={"REMOTE_ADDR": ADDRESS, "HTTP_USER_AGENT": AGENT})


def test_a_login_is_an_event_with_the_audit_fields(make_auth: MakeAuth) -> None:
    seen: list[Event] = []
    client = client_with(make_auth, seen.append)
    answer = client.post_json("/session", {"username": "alice", "password": PASSWORD})
    [event] = seen
    assert event.event == "login.succeeded"
    assert event.time == T0
    assert event.username == "alice"
    assert event.user_id == answer.json["user_id"]
    assert event.session_id == answer.json["session_token"].split(".")[0]
    assert (event.ip, event.user_agent, event.reason) == (ADDRESS, AGENT, None)


def test_hooks_run_whether_or_not_the_audit_logger_is_on(
    make_auth: MakeAuth, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="nullptr_auth.audit")
    first: list[Event] = []
    second: list[Event] = []
    client = client_with(make_auth, [first.append, second.append])
    client.post_json("/session", {"username": "alice", "password": "wrong password"}, status=401)
    assert [(e.event, e.reason) for e in first] == [("login.failed", "wrong-password")]
    assert first == second


def test_each_kind_of_event_reaches_the_hook(make_auth: MakeAuth) -> None:
    seen: list[Event] = []
    client = client_with(make_auth, seen.append)
    headers = login(client)
    client.get("/app", headers={**headers, "Token": "forged"}, status=401)
    client.delete("/session/others", headers=headers)
    client.delete("/session", headers=headers)
    client.post_json("/user/register", {"username": "bob", "password": PASSWORD})
    assert [e.event for e in seen] == [
        "login.succeeded",
        "session.rejected",
        "session.ended",
        "logout",
        "user.registered",
    ]
    rejected, ended = seen[1], seen[2]
    assert rejected.reason == "malformed" or rejected.reason == "forged"
    assert ended.details == {"by": f"session {seen[0].session_id}", "count": 0}


def test_an_event_carries_no_secret_and_is_bounded_like_the_log(make_auth: MakeAuth) -> None:
    seen: list[Event] = []
    client = client_with(make_auth, seen.append)
    answer = client.post_json(
        "/session",
        {"username": "alice", "password": PASSWORD},
        headers={"User-Agent": "a" * 1000},
    )
    [event] = seen
    assert event.user_agent == "a" * 256
    text = repr(event)
    assert answer.json["session_token"] not in text
    assert PASSWORD not in text


def test_a_raising_hook_is_logged_and_never_breaks_the_request(
    make_auth: MakeAuth, caplog: pytest.LogCaptureFixture
) -> None:
    """Fails without the guard in events.dispatch: the login answers 500 and the later
    hook never runs."""
    after: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("the mail server is down")

    client = client_with(make_auth, [broken, after.append])
    answer = client.post_json("/session", {"username": "alice", "password": PASSWORD})
    assert answer.status_int == 200 and answer.json["session_token"]
    assert [e.event for e in after] == ["login.succeeded"]
    [record] = [r for r in caplog.records if r.name == "nullptr_auth.events"]
    assert record.levelno == logging.ERROR and "login.succeeded" in record.getMessage()
    assert record.exc_info is not None


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("print", id="a-string"),
        pytest.param(42, id="a-number"),
        pytest.param([print, 42], id="a-list-with-a-number"),
    ],
)
def test_on_event_must_be_callables(make_auth: MakeAuth, value: object) -> None:
    with pytest.raises(TypeError, match="on_event"):
        make_auth(on_event=value)


def test_hooks_from_accepts_none_one_or_many() -> None:
    assert hooks_from(None) == ()
    assert hooks_from(print) == (print,)
    assert hooks_from([print, repr]) == (print, repr)
