"""Every example application, driven the same way: what a user of each framework relies on.

Each test runs once per framework (see ``conftest.py``): log in, reach the public and
the protected routes with and without the headers, the request body untouched, logout,
and the framework's own idea of the user (``request.user`` in Django,
``authenticated_userid`` in Pyramid, the environ elsewhere) agreeing with the
middleware's. The last tests serve each example with waitress over a real socket, and
then Django's ``UserSource`` on its own.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import webtest

from ..conftest import PASSWORD, login
from .conftest import DJANGO, ROOT, Example, Site

JSON = "application/json"


def log_in(site: Site, username: str = "alice") -> tuple[str, dict[str, str]]:
    """A new user and a session of theirs: the user's id and the headers to send."""
    user_id = site.add_user(username, PASSWORD)
    return user_id, login(site.client, username)


NOT_LOGGED_IN = {"error": {"code": "AUTHORIZATION_REQUIRED", "message": "Log in first."}}


def assert_anonymous_refused(example: Example, answer: webtest.TestResponse) -> None:
    """Every example refuses an anonymous request alike: docs/frameworks.md's answer."""
    assert answer.status_int == 401
    assert answer.headers["WWW-Authenticate"] == "Token"
    assert answer.content_type == JSON
    assert answer.json == NOT_LOGGED_IN


# -- through each framework, in process ----------------------------------------------
def test_the_public_route_serves_everyone(site: Site) -> None:
    _, headers = log_in(site)
    assert site.client.get("/").json == {"hello": "world"}
    assert site.client.get("/", headers=headers).json == {"hello": "world"}


def test_the_framework_sees_the_user_the_middleware_authenticated(site: Site) -> None:
    user_id, headers = log_in(site)
    assert site.client.get("/me", headers=headers).json == {"id": user_id, "username": "alice"}
    shouted = {**headers, "Username": "ALICE"}
    assert site.client.get("/me", headers=shouted).json == {"id": user_id, "username": "alice"}


def test_the_protected_routes_refuse_anonymous_requests(example: Example, site: Site) -> None:
    assert_anonymous_refused(example, site.client.get("/me", expect_errors=True))
    echo = site.client.post("/echo", b"{}", content_type=JSON, expect_errors=True)
    assert_anonymous_refused(example, echo)


def test_without_headers_a_client_is_anonymous_again(example: Example, site: Site) -> None:
    """webtest keeps cookies: a framework session (Django's) must not log the client in."""
    _, headers = log_in(site)
    site.client.get("/me", headers=headers)
    assert_anonymous_refused(example, site.client.get("/me", expect_errors=True))


def test_an_upstream_remote_user_does_not_log_in(example: Example, site: Site) -> None:
    log_in(site)
    forged = site.client.get("/me", extra_environ={"REMOTE_USER": "alice"}, expect_errors=True)
    assert_anonymous_refused(example, forged)


def test_a_remote_user_header_does_not_log_in(example: Example, site: Site) -> None:
    """Django's async RemoteUserMiddleware reads ``HTTP_REMOTE_USER``: a client's header."""
    log_in(site)
    forged = site.client.get("/me", headers={"Remote-User": "alice"}, expect_errors=True)
    assert_anonymous_refused(example, forged)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{}", id="small"),
        pytest.param(
            json.dumps({"text": "\u00e9t\u00e9 \u2603 " * 8000, "n": [1, 2.5, None]}).encode(),
            id="over-64KiB-unicode",
        ),
        pytest.param(b' \n{ "spacing" :\t"kept" , "dup": 1, "dup": 2 }\n', id="odd-but-valid"),
    ],
)
def test_the_body_reaches_the_app_byte_for_byte(site: Site, body: bytes) -> None:
    _, headers = log_in(site)
    answer = site.client.post("/echo", body, headers=headers, content_type=JSON)
    assert answer.body == body
    assert answer.content_type == JSON


def test_after_logout_the_token_is_refused(site: Site) -> None:
    _, headers = log_in(site)
    site.client.delete("/session", headers=headers, status=204)
    for path in ("/", "/me"):
        refused = site.client.get(path, headers=headers, status=401)
        assert refused.json["error"]["code"] == "INVALID_SESSION"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("not-a-token", id="garbled"),
        pytest.param("0" * 32 + ".AAAA.AAAA", id="forged"),
    ],
)
def test_a_bad_token_never_reaches_the_app(site: Site, token: str) -> None:
    log_in(site)
    for path in ("/", "/me"):
        refused = site.client.get(path, headers={"Username": "alice", "Token": token}, status=401)
        assert refused.json["error"]["code"] == "INVALID_SESSION"
        assert refused.headers["WWW-Authenticate"] == "Token"


def test_login_tells_unknown_users_from_wrong_passwords(site: Site) -> None:
    site.add_user("alice", PASSWORD)
    wrong = {"username": "alice", "password": "not the password"}
    unknown = {"username": "bob", "password": PASSWORD}
    assert_error(site.client.post_json("/session", wrong, status=401), "INCORRECT_PASSWORD")
    assert_error(site.client.post_json("/session", unknown, status=401), "INCORRECT_USERNAME")


def assert_error(answer: webtest.TestResponse, code: str) -> None:
    assert answer.json["error"]["code"] == code


# -- each example under a real WSGI server --------------------------------------------
@pytest.fixture
def served(
    example: Example, server_env: dict[str, str], tmp_path: Path, alice_by_hand: None
) -> Iterator[str]:
    """The example's module-level app under waitress (uvicorn for ASGI) on a free port;
    yields its URL."""
    if example.protocol == "asgi":
        pytest.importorskip("uvicorn", reason="uvicorn is not installed; the tox envs have it")
        command = ["uvicorn", "--host=127.0.0.1", "--port=0", example.server_target]
    else:
        pytest.importorskip("waitress", reason="waitress is not installed; the tox envs have it")
        command = ["waitress", "--listen=127.0.0.1:0", example.server_target]
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", *command],
            cwd=ROOT,
            env=server_env,
            stdout=output,
            stderr=output,
        )
    try:
        yield _wait_for_url(server, log)
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_for_url(server: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and server.poll() is None:
        found = re.search(rb"(?:Serving|running) on (http://127\.0\.0\.1:\d+)", log.read_bytes())
        if found:
            return found.group(1).decode()
        time.sleep(0.05)
    raise AssertionError(f"the server did not start:\n{log.read_text()}")


@pytest.fixture
def alice_by_hand(example: Example, server_env: dict[str, str]) -> None:
    """alice, made with the commands a user of the example would type."""
    env = server_env
    if example.is_django:
        commands = [
            ["-m", "django", "migrate", "--verbosity=0"],
            [
                "-m",
                "django",
                "createsuperuser",
                "--no-input",
                "--username=alice",
                "--email=alice@example.com",
            ],
        ]
        env = {**env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD}
    else:
        database = env["NULLPTR_AUTH_DATABASE"]
        commands = [["-m", "nullptr_auth", "--database", database, "user", "create", "alice"]]
    for command in commands:
        subprocess.run(
            [sys.executable, *command],
            input=PASSWORD + "\n",
            text=True,
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )


def test_the_example_serves_over_a_real_socket(example: Example, served: str) -> None:
    answer = requests.post(
        f"{served}/session", json={"username": "alice", "password": PASSWORD}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    headers = {"Username": "alice", "Token": answer.json()["session_token"]}
    me = requests.get(f"{served}/me", headers=headers, timeout=10)
    assert me.json() == {"id": answer.json()["user_id"], "username": "alice"}
    echo = requests.post(f"{served}/echo", data=b'{"a": [1]}', headers=headers, timeout=10)
    assert echo.content == b'{"a": [1]}'
    anonymous = requests.get(f"{served}/me", timeout=10)
    assert (anonymous.status_code, anonymous.json()) == (401, NOT_LOGGED_IN)


# -- Django's users through the DjangoUserSource --------------------------------------
django_only = pytest.mark.parametrize("example", [pytest.param(DJANGO, id="django")], indirect=True)


def django_user(username: str, **fields: Any) -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(username, password=PASSWORD, **fields)


@django_only
def test_a_django_username_matches_in_any_case(site: Site) -> None:
    from examples.django_app.users import user_uuid

    alice = django_user("Alice")
    for spelling in ("alice", "ALICE"):
        answer = site.client.post_json("/session", {"username": spelling, "password": PASSWORD})
        assert answer.json["user_id"] == user_uuid(alice)
        headers = {"Username": spelling, "Token": answer.json["session_token"]}
        assert site.client.get("/me", headers=headers).json["username"] == "Alice"


@django_only
def test_the_id_is_a_stable_uuid_of_the_primary_key(site: Site) -> None:
    from examples.django_app.users import NAMESPACE

    alice = django_user("alice")
    user_id = login_answer(site)["user_id"]
    assert user_id == str(uuid.uuid5(NAMESPACE, str(alice.pk)))
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", user_id
    )


@django_only
def test_an_outdated_django_hash_is_upgraded_at_login(site: Site) -> None:
    from django.test.utils import override_settings

    alice = django_user("alice")  # hashed with MD5, the tests' hasher
    preferred = ["django.contrib.auth.hashers.PBKDF2PasswordHasher", *settings_hashers()]
    with override_settings(PASSWORD_HASHERS=preferred):
        login_answer(site)
    alice.refresh_from_db()
    assert alice.password.startswith("pbkdf2_sha256$")


@django_only
def test_an_unknown_username_costs_one_hash(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    from examples.django_app import users

    hashed: list[str] = []
    monkeypatch.setattr(users, "make_password", hashed.append)
    unknown = site.client.post_json(
        "/session", {"username": "bob", "password": PASSWORD}, status=401
    )
    assert_error(unknown, "INCORRECT_USERNAME")
    assert hashed == [PASSWORD]


@django_only
@pytest.mark.parametrize(
    "users",
    [
        pytest.param({"alice": {"is_active": False}}, id="inactive"),
        pytest.param({"alice": {}, "Alice": {}}, id="ambiguous-case"),
    ],
)
def test_who_cannot_log_in(site: Site, users: dict[str, dict[str, Any]]) -> None:
    for username, fields in users.items():
        django_user(username, **fields)
    answer = site.client.post_json(
        "/session", {"username": "alice", "password": PASSWORD}, status=401
    )
    assert_error(answer, "INCORRECT_USERNAME")


@django_only
def test_a_deleted_django_user_is_anonymous_until_the_sessions_end(site: Site) -> None:
    """The session outlives the Django user, who is not created anew, until it is ended."""
    from examples.django_app.users import user_uuid

    alice = django_user("alice")
    headers = login(site.client)
    alice_id = user_uuid(alice)
    alice.delete()
    site.client.get("/me", headers=headers, status=401)
    assert site.auth.sessions.end_all(alice_id) == 1
    refused = site.client.get("/", headers=headers, status=401)
    assert_error(refused, "INVALID_SESSION")


def login_answer(site: Site) -> dict[str, str]:
    answer = site.client.post_json("/session", {"username": "alice", "password": PASSWORD})
    result: dict[str, str] = answer.json
    return result


def settings_hashers() -> list[str]:
    from django.conf import settings

    hashers: list[str] = settings.PASSWORD_HASHERS
    return hashers
