"""``POST /session``: every row of SPEC §3."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import argon2
import pytest
import webtest
from werkzeug.test import EnvironBuilder, run_wsgi_app

from nullptr_auth import AuthMiddleware
from nullptr_auth.stores import MemoryStore, SQLiteStore

from .conftest import PASSWORD, MakeAuth, login


def error_code(answer: webtest.TestResponse) -> str:
    assert answer.content_type == "application/json"
    assert answer.headers["Cache-Control"] == "no-store"
    return str(answer.json["error"]["code"])


class UnreadableInput(io.RawIOBase):
    """A request body that fails the test if anyone reads it."""

    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the body was read")

    readline = read  # type: ignore[assignment]


# -- success --------------------------------------------------------------------------
def test_json_login_answers_user_id_and_token(client: webtest.TestApp, alice: str) -> None:
    answer = client.post_json("/session", {"username": "alice", "password": PASSWORD})
    assert answer.status_int == 200
    assert answer.json == {
        "user_id": alice,
        "session_token": answer.json["session_token"],
        "expires_at": "2026-01-15T00:00:00Z",  # the idle deadline comes first
    }
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.content_type == "application/json"


def test_form_login(client: webtest.TestApp, alice: str) -> None:
    answer = client.post("/session", {"username": "alice", "password": PASSWORD})
    assert answer.json["user_id"] == alice


def test_username_is_lowercased_before_lookup(client: webtest.TestApp, alice: str) -> None:
    answer = client.post_json("/session", {"username": "ALIce", "password": PASSWORD})
    assert answer.json["user_id"] == alice


def test_each_login_is_a_new_session_and_earlier_ones_stay_valid(
    client: webtest.TestApp, alice: str
) -> None:
    first, second = login(client), login(client)
    assert first["Token"] != second["Token"]
    for headers in (first, second):
        assert client.get("/app", headers=headers).json["remote_user"] == "alice"


def test_extra_fields_are_ignored(client: webtest.TestApp, alice: str) -> None:
    answer = client.post_json(
        "/session", {"username": "alice", "password": PASSWORD, "remember": True}
    )
    assert answer.status_int == 200


def test_login_does_not_reach_the_app(client: webtest.TestApp, alice: str, downstream: Any) -> None:
    login(client)
    assert downstream.calls == []


# -- refusals -------------------------------------------------------------------------
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        pytest.param(JSON, b"[]", id="json-array"),
        pytest.param(JSON, b'"alice"', id="json-string"),
        pytest.param(JSON, b"null", id="json-null"),
        pytest.param(JSON, b"{", id="json-truncated"),
        pytest.param(JSON, b"", id="json-empty"),
        pytest.param(JSON, b'{"username": "alice"}', id="missing-password"),
        pytest.param(JSON, b'{"password": "correct horse battery"}', id="missing-username"),
        pytest.param(JSON, b'{"username": 1, "password": "x"}', id="username-number"),
        pytest.param(JSON, b'{"username": "alice", "password": null}', id="password-null"),
        pytest.param(JSON, b'{"username": "alice", "password": ["a"]}', id="password-list"),
        pytest.param(JSON, b'{"username": "alice", "password": {"a": 1}}', id="password-object"),
        pytest.param(JSON, b'{"username": "alice", "password": "\\ud800"}', id="lone-surrogate"),
        pytest.param(JSON, b'{"username": "\xff", "password": "x"}', id="json-bad-utf8"),
        pytest.param(JSON, b"\xfe\xff\x00{", id="json-utf16"),
        pytest.param(JSON, b"[" * 60_000, id="json-deep-nesting"),
        pytest.param(JSON, b'{"username": 1' + b"0" * 5000 + b"}", id="json-huge-number"),
        pytest.param(FORM, b"username=alice", id="form-missing-password"),
        pytest.param(FORM, b"username=alice&password=a&password=b", id="form-repeated-field"),
        pytest.param(FORM, b"username=%ff&password=x", id="form-bad-utf8"),
        pytest.param(FORM, b"username=alice&password", id="form-malformed"),
        pytest.param(FORM, b"", id="form-empty"),
        pytest.param(FORM, b"\x00\x01\x02", id="form-binary"),
    ],
)
def test_bad_bodies_are_invalid_requests(
    client: webtest.TestApp, auth: AuthMiddleware, alice: str, content_type: str, body: bytes
) -> None:
    answer = client.post("/session", body, headers={"Content-Type": content_type}, status=400)
    assert error_code(answer) == "INVALID_REQUEST"
    assert auth.sessions.list(alice) == []


@pytest.mark.parametrize(
    "content_type",
    [
        pytest.param("text/plain", id="text"),
        pytest.param("multipart/form-data; boundary=x", id="multipart"),
        pytest.param("application/json; charset=latin-1", id="json-latin1"),
        pytest.param("application/xml", id="xml"),
        pytest.param("", id="none"),
    ],
)
def test_other_media_types_are_refused(
    client: webtest.TestApp, alice: str, content_type: str
) -> None:
    body = json.dumps({"username": "alice", "password": PASSWORD})
    answer = client.post("/session", body, headers={"Content-Type": content_type}, status=415)
    assert error_code(answer) == "UNSUPPORTED_MEDIA_TYPE"


@pytest.mark.parametrize(
    ("username", "password", "code"),
    [
        pytest.param("bob", PASSWORD, "INCORRECT_USERNAME", id="unknown-user"),
        pytest.param("", PASSWORD, "INCORRECT_USERNAME", id="empty-username"),
        pytest.param("\u212alice", PASSWORD, "INCORRECT_USERNAME", id="kelvin-sign-is-not-k"),
        pytest.param("alice ", PASSWORD, "INCORRECT_USERNAME", id="username-not-trimmed"),
        pytest.param("a" * 10_000, PASSWORD, "INCORRECT_USERNAME", id="huge-username"),
        pytest.param("alice", "wrong password", "INCORRECT_PASSWORD", id="wrong-password"),
        pytest.param("alice", PASSWORD.upper(), "INCORRECT_PASSWORD", id="password-case"),
        pytest.param("alice", PASSWORD + " ", "INCORRECT_PASSWORD", id="password-not-trimmed"),
        pytest.param("alice", PASSWORD[:-1], "INCORRECT_PASSWORD", id="password-truncated"),
        pytest.param("alice", "", "INCORRECT_PASSWORD", id="empty-password"),
        pytest.param("alice", "x" * 5000, "INCORRECT_PASSWORD", id="over-long-password"),
    ],
)
def test_wrong_credentials(
    client: webtest.TestApp,
    auth: AuthMiddleware,
    alice: str,
    username: str,
    password: str,
    code: str,
) -> None:
    answer = client.post_json("/session", {"username": username, "password": password}, status=401)
    assert error_code(answer) == code
    assert answer.headers["WWW-Authenticate"] == "Token"
    assert auth.sessions.list(alice) == []


@pytest.mark.parametrize("username", ["bob", "alice"])
def test_hidden_usernames_answer_incorrect_credentials(make_auth: MakeAuth, username: str) -> None:
    auth = make_auth(reveal_unknown_users=False)
    auth.accounts.create("alice", PASSWORD)
    answer = webtest.TestApp(auth).post_json(
        "/session", {"username": username, "password": "wrong password"}, status=401
    )
    assert error_code(answer) == "INCORRECT_CREDENTIALS"


@pytest.mark.parametrize("method", ["PUT", "PATCH", "OPTIONS"])
def test_other_methods_are_not_allowed(client: webtest.TestApp, method: str) -> None:
    answer = client.request("/session", method=method, status=405)
    assert error_code(answer) == "METHOD_NOT_ALLOWED"
    assert set(answer.headers["Allow"].split(", ")) >= {"GET", "POST", "DELETE"}


def test_a_declared_oversize_body_is_refused_unread(auth: AuthMiddleware, alice: str) -> None:
    environ = EnvironBuilder("/session", method="POST", content_type=JSON).get_environ()
    environ.update({"CONTENT_LENGTH": str(64 * 1024 + 1), "wsgi.input": UnreadableInput()})
    app_iter, status, _ = run_wsgi_app(auth, environ)
    assert status.startswith("413")
    assert json.loads(b"".join(app_iter))["error"]["code"] == "REQUEST_TOO_LARGE"


def test_a_chunked_oversize_body_is_refused_at_the_limit(
    make_auth: MakeAuth,
) -> None:
    auth = make_auth(max_body_size=1024)
    stream = io.BytesIO(b'{"username": "' + b"a" * 10 * 1024 * 1024 + b'"}')
    environ = EnvironBuilder("/session", method="POST", content_type=JSON).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ.update(
        {"wsgi.input": stream, "wsgi.input_terminated": True, "HTTP_TRANSFER_ENCODING": "chunked"}
    )
    app_iter, status, _ = run_wsgi_app(auth, environ)
    assert status.startswith("413")
    assert json.loads(b"".join(app_iter))["error"]["code"] == "REQUEST_TOO_LARGE"
    assert stream.tell() <= 64 * 1024, "read far past the limit"


def test_a_body_at_the_limit_is_read(make_auth: MakeAuth) -> None:
    auth = make_auth(max_body_size=200)
    auth.accounts.create("alice", PASSWORD)
    body = json.dumps({"username": "alice", "password": PASSWORD, "pad": ""})
    body = body[:-2] + "x" * (200 - len(body)) + '"}'
    assert len(body) == 200
    webtest.TestApp(auth).post("/session", body, headers={"Content-Type": JSON}, status=200)


def test_an_unreachable_store_is_a_503(make_auth: MakeAuth, tmp_path: Any) -> None:
    auth = make_auth(SQLiteStore(tmp_path / "no-such-directory" / "auth.db"))
    answer = webtest.TestApp(auth).post_json(
        "/session", {"username": "alice", "password": PASSWORD}, status=503
    )
    assert error_code(answer) == "SERVICE_UNAVAILABLE"


class BrokenStore(MemoryStore):
    """A store with a bug in it, standing in for any unexpected exception."""

    def get_user(self, username: str) -> Any:
        raise RuntimeError("the secret internals of a bug")


def test_a_bug_is_a_500_without_a_traceback(
    make_auth: MakeAuth, caplog: pytest.LogCaptureFixture
) -> None:
    auth = make_auth(BrokenStore())
    with caplog.at_level(logging.ERROR, logger="nullptr_auth"):
        answer = webtest.TestApp(auth).post_json(
            "/session", {"username": "alice", "password": PASSWORD}, status=500
        )
    assert error_code(answer) == "INTERNAL_SERVER_ERROR"
    assert "secret internals" not in answer.text
    assert "Traceback" not in answer.text
    [record] = caplog.records
    assert record.exc_info is not None
    assert "secret internals" in str(record.exc_info[1])


def test_an_outdated_hash_is_replaced_on_login(make_auth: MakeAuth) -> None:
    store = MemoryStore()
    make_auth(store).accounts.create("alice", PASSWORD)
    old_hash = store.get_user("alice").password_hash  # type: ignore[union-attr]
    stronger = argon2.PasswordHasher(time_cost=2, memory_cost=64, parallelism=1)
    login(webtest.TestApp(make_auth(store, password_hasher=stronger)))
    new_hash = store.get_user("alice").password_hash  # type: ignore[union-attr]
    assert new_hash != old_hash
    assert not stronger.check_needs_rehash(new_hash)
    assert new_hash.startswith("$argon2id$")
