"""Bad input is a 4xx and changes nothing, on every store.

What a store does with odd text differs (PostgreSQL's ``text`` refuses NUL, SQLite and
Redis keep it), so the web layer refuses it first: a control character in a username,
a password, a device label or a user agent is ``400 INVALID_REQUEST`` before anything is
looked up or stored, and the same request gets the same answer on every store. A
session id that is not of the issued form is ``404`` without asking the store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import webtest

from nullptr_auth import AuthMiddleware

from .conftest import PASSWORD, MakeAuth, login
from .services import STORES, scratch_store

JSON = "application/json"
NEW_PASSWORD = "a new long password"


@pytest.fixture(params=STORES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store URL of this test's own, on each backend."""
    with scratch_store(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def site(make_auth: MakeAuth, database: str) -> tuple[AuthMiddleware, webtest.TestApp]:
    auth = make_auth(database, registration=True)
    auth.accounts.create("alice", PASSWORD)
    return auth, webtest.TestApp(auth)


BAD_TEXT = [
    pytest.param("\x00", id="nul"),
    pytest.param("\x01", id="soh"),
    pytest.param("\n", id="newline"),
    pytest.param("\x1b", id="escape"),
    pytest.param("\x7f", id="del"),
    pytest.param("\x85", id="c1-next-line"),
]


def post(
    client: webtest.TestApp, path: str, fields: dict[str, Any], **kwargs: Any
) -> webtest.TestResponse:
    return client.post(path, json.dumps(fields), content_type=JSON, expect_errors=True, **kwargs)


def assert_invalid_request(answer: webtest.TestResponse) -> None:
    assert answer.status_int == 400, answer.body
    assert answer.json["error"]["code"] == "INVALID_REQUEST"


def assert_alice_unchanged(auth: AuthMiddleware) -> None:
    alice = auth.accounts.get("alice")
    assert auth.sessions.list(alice.id) == []
    assert auth.accounts.check_credentials("alice", PASSWORD).id == alice.id
    assert [user.username for user in auth.accounts.list()] == ["alice"]


@pytest.mark.parametrize("bad", BAD_TEXT)
@pytest.mark.parametrize("field", ["username", "password", "device"])
@pytest.mark.parametrize("path", ["/session", "/user/register"])
def test_a_control_character_in_a_field_is_refused_on_every_store(
    site: tuple[AuthMiddleware, webtest.TestApp], path: str, field: str, bad: str
) -> None:
    auth, client = site
    username = "alice" if path == "/session" else "bob"
    fields = {"username": username, "password": PASSWORD, "device": "phone"}
    fields[field] = f"{fields[field][:2]}{bad}{fields[field][2:]}"
    assert_invalid_request(post(client, path, fields))
    assert_alice_unchanged(auth)


@pytest.mark.parametrize(
    "bad", [p for p in BAD_TEXT if p.id not in ("c1-next-line", "newline")]
)  # a server refuses a newline in a header; bytes from 0x80 are obs-text (RFC 9110)
@pytest.mark.parametrize("path", ["/session", "/user/register"])
def test_a_control_character_in_the_user_agent_is_refused_on_every_store(
    site: tuple[AuthMiddleware, webtest.TestApp], path: str, bad: str
) -> None:
    auth, client = site
    username = "alice" if path == "/session" else "bob"
    answer = post(
        client,
        path,
        {"username": username, "password": PASSWORD},
        extra_environ={"HTTP_USER_AGENT": f"curl/8{bad}.0"},
    )
    assert_invalid_request(answer)
    assert_alice_unchanged(auth)


@pytest.mark.parametrize(
    "user_agent",
    [
        pytest.param("curl/8.0\t(tab)", id="htab"),
        pytest.param("\xc3\x9cber/1.0", id="utf-8-bytes-as-latin-1"),
    ],
)
def test_a_user_agent_http_allows_is_kept(make_auth: MakeAuth, user_agent: str) -> None:
    auth = make_auth()
    alice = auth.accounts.create("alice", PASSWORD)
    client = webtest.TestApp(auth)
    post(client, "/session", {"username": "alice", "password": PASSWORD},
         extra_environ={"HTTP_USER_AGENT": user_agent}, status=200)  # fmt: skip
    assert [s.user_agent for s in auth.sessions.list(alice.id)] == [user_agent]


@pytest.mark.parametrize("bad", BAD_TEXT)
@pytest.mark.parametrize("field", ["old_password", "new_password"])
def test_a_control_character_in_a_password_change_is_refused_on_every_store(
    site: tuple[AuthMiddleware, webtest.TestApp], field: str, bad: str
) -> None:
    auth, client = site
    headers, other = login(client), login(client)
    fields = {"old_password": PASSWORD, "new_password": NEW_PASSWORD}
    fields[field] += bad
    assert_invalid_request(post(client, "/user/password", fields, headers=headers))
    assert auth.accounts.check_credentials("alice", PASSWORD)
    assert client.get("/app", headers=other, expect_errors=True).status_int == 200


@pytest.mark.parametrize(
    "session_id",
    [
        pytest.param("a" * 15 + "\x00" + "a" * 16, id="nul"),
        pytest.param("a" * 31 + "\n", id="newline"),
        pytest.param("A" * 32, id="upper-case"),
        pytest.param("a" * 31, id="short"),
        pytest.param("a" * 33, id="long"),
        pytest.param("g" * 32, id="not-hex"),
        pytest.param("a" * 16 + "/" + "a" * 15, id="slash"),
        pytest.param("'; DROP TABLE sessions; --", id="sql"),
        pytest.param("\u0661".encode().decode("latin-1") * 32, id="arabic-indic-digits"),
    ],
)
def test_a_session_id_not_of_the_issued_form_is_not_found_without_asking_the_store(
    site: tuple[AuthMiddleware, webtest.TestApp],
    monkeypatch: pytest.MonkeyPatch,
    session_id: str,
) -> None:
    auth, client = site
    headers = login(client)
    asked: list[str] = []
    end = auth.sessions.end
    monkeypatch.setattr(auth.sessions, "end", lambda sid, **kw: asked.append(sid) or end(sid, **kw))
    environ = {"PATH_INFO": f"/session/{session_id}"}  # webtest would quote the path
    answer = client.delete("/", headers=headers, extra_environ=environ, expect_errors=True)
    assert answer.status_int == 404, answer.body
    assert answer.json["error"]["code"] == "SESSION_NOT_FOUND"
    assert asked == []
    assert client.get("/app", headers=headers).status_int == 200


def test_an_unknown_session_id_of_the_issued_form_is_not_found(
    site: tuple[AuthMiddleware, webtest.TestApp],
) -> None:
    _, client = site
    answer = client.delete(f"/session/{'0' * 32}", headers=login(client), status=404)
    assert answer.json["error"]["code"] == "SESSION_NOT_FOUND"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        pytest.param("Application/JSON", None, id="json-mixed-case"),
        pytest.param("APPLICATION/JSON; CHARSET=UTF-8", None, id="json-upper-case-charset"),
        pytest.param("Application/X-WWW-Form-Urlencoded", "form", id="form-mixed-case"),
    ],
)
def test_media_types_are_matched_case_insensitively(
    make_auth: MakeAuth, content_type: str, body: str | None
) -> None:
    auth = make_auth()
    auth.accounts.create("alice", PASSWORD)
    client = webtest.TestApp(auth)
    fields = {"username": "alice", "password": PASSWORD}
    data = urlencode(fields) if body == "form" else json.dumps(fields)
    answer = client.post("/session", data, content_type=content_type, status=200)
    assert answer.json["session_token"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            '{"username": "alice", "username": "mallory", "password": "%s"}', id="username"
        ),
        pytest.param('{"username": "alice", "password": "x", "password": "%s"}', id="password"),
        pytest.param(
            '{"username": "alice", "password": "%s", "extra": {"a": 1, "a": 2}}', id="nested"
        ),
    ],
)
def test_a_json_body_that_repeats_a_key_is_refused(
    site: tuple[AuthMiddleware, webtest.TestApp], body: str
) -> None:
    """Parsers disagree on which value wins; a body two readers may see apart is refused."""
    auth, client = site
    answer = client.post("/session", body % PASSWORD, content_type=JSON, expect_errors=True)
    assert_invalid_request(answer)
    assert_alice_unchanged(auth)
