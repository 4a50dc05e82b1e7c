"""Argon2 as a denial-of-service target, timing, and header hygiene."""

from __future__ import annotations

import json
import statistics
import threading
import time
import tracemalloc
from typing import Any

import pytest
import webtest
from werkzeug.test import EnvironBuilder, run_wsgi_app

from nullptr_auth import AuthMiddleware
from nullptr_auth.errors import Overloaded
from nullptr_auth.passwords import Passwords, default_hasher

from .conftest import CHEAP_HASHER, PASSWORD, MakeAuth, RecordingApp, login

MEBIBYTE = 1024 * 1024


def post_login(auth: AuthMiddleware, body: bytes, results: list[int]) -> None:
    environ = EnvironBuilder(
        "/session", method="POST", data=body, content_type="application/json"
    ).get_environ()
    app_iter, status, _ = run_wsgi_app(auth, environ)
    b"".join(app_iter)
    results.append(int(status.split()[0]))


@pytest.mark.parametrize(
    ("max_body_size", "expected"),
    [
        pytest.param(64 * 1024, 413, id="refused-by-size"),
        pytest.param(2 * MEBIBYTE, 401, id="refused-before-hashing"),
    ],
)
def test_fifty_concurrent_logins_with_1_mib_passwords(
    make_auth: MakeAuth, max_body_size: int, expected: int
) -> None:
    auth = make_auth(
        max_body_size=max_body_size, password_hasher=default_hasher(), throttling=False
    )
    auth.accounts.create("alice", PASSWORD)
    body = json.dumps({"username": "alice", "password": "x" * MEBIBYTE}).encode()
    results: list[int] = []
    tracemalloc.start()
    started = time.monotonic()
    threads = [threading.Thread(target=post_login, args=(auth, body, results)) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert results == [expected] * 50
    assert peak < 400 * MEBIBYTE, f"peak {peak / MEBIBYTE:.0f} MiB"
    assert elapsed < 30, "no argon2 work was done for an over-long password"


def test_hashing_waits_for_a_free_slot_then_gives_up() -> None:
    passwords = Passwords(CHEAP_HASHER, max_concurrent=1, queue_timeout=0.05)
    with passwords._slot(), pytest.raises(Overloaded):
        passwords.hash(PASSWORD)
    assert passwords.hash(PASSWORD).startswith("$argon2id$")


def test_an_overloaded_server_answers_503(make_auth: MakeAuth) -> None:
    auth = make_auth(max_concurrent_hashes=1)
    auth.accounts.create("alice", PASSWORD)
    busy = threading.Event()
    release = threading.Event()

    def hold_the_only_slot() -> None:
        with auth.accounts._passwords._slot():
            busy.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_only_slot)
    holder.start()
    busy.wait(10)
    auth.accounts._passwords._queue_timeout = 0.05
    try:
        answer = webtest.TestApp(auth).post_json(
            "/session", {"username": "alice", "password": PASSWORD}, status=503
        )
    finally:
        release.set()
        holder.join()
    assert answer.json["error"]["code"] == "SERVICE_UNAVAILABLE"


@pytest.mark.parametrize("reveal", [True, False], ids=["revealing", "hiding"])
def test_an_unknown_username_takes_as_long_as_a_wrong_password(
    make_auth: MakeAuth, reveal: bool
) -> None:
    """Median of interleaved rounds with the real hasher: within 10% of each other.

    Measured in CPU time of this process, whose hashing threads run argon2: the work the
    code does, which other processes on a shared machine (and tox's parallel envs) cannot
    blur the way they blur wall time. (The calling thread's own time would leave argon2
    out, and compare only the few microseconds around it.) The store is in memory, so
    nothing waits on I/O.
    """
    auth = make_auth(
        password_hasher=default_hasher(), reveal_unknown_users=reveal, throttling=False
    )
    auth.accounts.create("alice", PASSWORD)
    client = webtest.TestApp(auth)

    def timed(username: str) -> float:
        started = time.process_time()
        client.post_json(
            "/session", {"username": username, "password": "wrong password"}, status=401
        )
        return time.process_time() - started

    timed("nobody")  # the dummy hash is made on first use
    unknown, wrong = [], []
    for _ in range(21):
        unknown.append(timed("nobody"))
        wrong.append(timed("alice"))
    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 0.9 <= ratio <= 1.1, f"unknown/wrong = {ratio:.3f}"


# -- header hygiene -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "where",
    [
        pytest.param({"QUERY_STRING": "token={token}&username=alice"}, id="query-string"),
        pytest.param({"HTTP_COOKIE": "Token={token}; Username=alice"}, id="cookie"),
        pytest.param(
            {"HTTP_AUTHORIZATION": "Token {token}", "HTTP_USERNAME": ""}, id="authorization"
        ),
        pytest.param({"HTTP_X_TOKEN": "{token}", "HTTP_X_USERNAME": "alice"}, id="x-headers"),
    ],
)
def test_a_token_counts_only_in_the_token_header(
    client: webtest.TestApp,
    headers: dict[str, str],
    downstream: RecordingApp,
    where: dict[str, str],
) -> None:
    environ = {k: v.format(token=headers["Token"]) for k, v in where.items()}
    answer = client.get("/app", extra_environ=environ)
    assert answer.json["user"] is None


def test_a_token_in_the_body_counts_for_nothing(
    client: webtest.TestApp, headers: dict[str, str]
) -> None:
    answer = client.post_json("/app", {"username": "alice", "token": headers["Token"]})
    assert answer.json["user"] is None


@pytest.mark.parametrize(
    "duplicate",
    [
        pytest.param(
            lambda h: {"Username": h["Username"], "Token": f"{h['Token']},{h['Token']}"},
            id="token-twice",
        ),
        pytest.param(
            lambda h: {"Username": "alice,alice", "Token": h["Token"]}, id="username-twice"
        ),
        pytest.param(lambda h: {"Username": "alice, bob", "Token": h["Token"]}, id="two-usernames"),
    ],
)
def test_duplicated_headers_are_refused(
    client: webtest.TestApp, headers: dict[str, str], duplicate: Any
) -> None:
    answer = client.get("/app", headers=duplicate(headers), status=401)
    assert answer.json["error"]["code"] == "INVALID_SESSION"


def test_a_huge_username_header_is_refused(client: webtest.TestApp, alice: str) -> None:
    headers = login(client)
    client.get("/app", headers={**headers, "Username": "a" * 300}, status=401)
