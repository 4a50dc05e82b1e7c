"""Throttling of failed logins: growing delays, bounded lockouts, shared counts."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import webtest

from nullptr_auth import AuthMiddleware
from nullptr_auth.stores import MemoryStore
from nullptr_auth.throttle import RULES, Throttle

from .conftest import PASSWORD, FrozenClock, MakeAuth

ATTACKER = "198.51.100.66"
USER_ADDRESS = "203.0.113.5"


@pytest.fixture
def auth(make_auth: MakeAuth) -> AuthMiddleware:
    auth = make_auth()
    auth.accounts.create("alice", PASSWORD)
    return auth


def attempt(
    auth: AuthMiddleware,
    password: str = "wrong password",
    *,
    username: str = "alice",
    address: str = ATTACKER,
    **environ: str,
) -> webtest.TestResponse:
    return webtest.TestApp(auth).post_json(
        "/session",
        {"username": username, "password": password},
        extra_environ={"REMOTE_ADDR": address, **environ},
        expect_errors=True,
    )


def code(answer: webtest.TestResponse) -> str:
    return str(answer.json["error"]["code"]) if answer.status_int >= 400 else "OK"


def test_five_failures_are_free_then_delays_double(
    auth: AuthMiddleware, clock: FrozenClock
) -> None:
    assert [code(attempt(auth)) for _ in range(5)] == ["INCORRECT_PASSWORD"] * 5
    waits = []
    for _ in range(5):
        throttled = attempt(auth)
        assert throttled.status_int == 429
        assert code(throttled) == "TOO_MANY_ATTEMPTS"
        waits.append(int(throttled.headers["Retry-After"]))
        clock.advance(seconds=waits[-1])
        assert code(attempt(auth)) == "INCORRECT_PASSWORD"
    assert waits == [1, 2, 4, 8, 16]


def test_a_throttled_attempt_is_not_checked_even_with_the_right_password(
    auth: AuthMiddleware,
) -> None:
    for _ in range(5):
        attempt(auth)
    assert code(attempt(auth, PASSWORD)) == "TOO_MANY_ATTEMPTS"
    assert auth.sessions.list() == []


def test_the_strict_limit_never_exceeds_fifteen_minutes(
    auth: AuthMiddleware, clock: FrozenClock
) -> None:
    for _ in range(25):
        answer = attempt(auth)
        if answer.status_int == 429:
            assert int(answer.headers["Retry-After"]) <= 15 * 60
            clock.advance(seconds=int(answer.headers["Retry-After"]))
    clock.advance(minutes=15)
    assert code(attempt(auth)) == "INCORRECT_PASSWORD"


def test_a_success_resets_the_usernames_count(auth: AuthMiddleware) -> None:
    for _ in range(4):
        attempt(auth)
    assert code(attempt(auth, PASSWORD)) == "OK"
    assert [code(attempt(auth)) for _ in range(5)] == ["INCORRECT_PASSWORD"] * 5


def test_an_attacker_does_not_lock_the_real_user_out_from_elsewhere(
    auth: AuthMiddleware,
) -> None:
    for _ in range(8):
        attempt(auth)
    assert code(attempt(auth)) == "TOO_MANY_ATTEMPTS"
    assert code(attempt(auth, PASSWORD, address=USER_ADDRESS)) == "OK"


def test_many_addresses_on_one_account_are_slowed_down(
    auth: AuthMiddleware, clock: FrozenClock
) -> None:
    for n in range(20):
        assert code(attempt(auth, address=f"192.0.2.{n}")) == "INCORRECT_PASSWORD"
    throttled = attempt(auth, PASSWORD, address=USER_ADDRESS)
    assert code(throttled) == "TOO_MANY_ATTEMPTS"
    clock.advance(seconds=int(throttled.headers["Retry-After"]))
    assert code(attempt(auth, PASSWORD, address=USER_ADDRESS)) == "OK"


def guess_until_locked(
    auth: AuthMiddleware, clock: FrozenClock, address: Callable[[int], str]
) -> tuple[int, webtest.TestResponse]:
    """Wrong guesses, waiting out every delay up to an hour: how many were checked, and
    the answer that asked for a longer wait."""
    failures = 0
    for n in range(400):
        answer = attempt(auth, address=address(n))
        if answer.status_int != 429:
            failures += 1
        elif int(answer.headers["Retry-After"]) > 3600:
            break
        else:
            clock.advance(seconds=int(answer.headers["Retry-After"]))
    return failures, answer


def test_no_more_than_100_consecutive_failures_per_account(
    auth: AuthMiddleware, clock: FrozenClock
) -> None:
    failures, answer = guess_until_locked(auth, clock, lambda n: f"10.0.{n // 250}.{n % 250}")
    assert failures == 100
    assert int(answer.headers["Retry-After"]) == 24 * 3600
    clock.advance(hours=24)
    assert code(attempt(auth, PASSWORD, address=USER_ADDRESS)) == "OK"


def test_one_address_spraying_many_usernames_is_slowed_down(auth: AuthMiddleware) -> None:
    answers = [code(attempt(auth, username=f"user{n}")) for n in range(51)]
    assert answers[:50] == ["INCORRECT_USERNAME"] * 50
    assert answers[50] == "TOO_MANY_ATTEMPTS"


@pytest.mark.parametrize(
    "forwarded",
    [
        pytest.param("1.1.1.1", id="one-forged-hop"),
        pytest.param("1.1.1.1, 2.2.2.2", id="two-forged-hops"),
        pytest.param("", id="empty"),
    ],
)
def test_a_forged_x_forwarded_for_does_not_dodge_the_count(
    auth: AuthMiddleware, forwarded: str
) -> None:
    for n in range(5):
        attempt(auth, HTTP_X_FORWARDED_FOR=f"10.9.9.{n}")
    assert code(attempt(auth, HTTP_X_FORWARDED_FOR=forwarded)) == "TOO_MANY_ATTEMPTS"


def test_behind_a_trusted_proxy_the_forwarded_address_counts(make_auth: MakeAuth) -> None:
    auth = make_auth(trusted_proxies=1)
    auth.accounts.create("alice", PASSWORD)
    proxy = "10.0.0.1"
    for _ in range(5):
        attempt(auth, address=proxy, HTTP_X_FORWARDED_FOR=f"forged, {ATTACKER}")
    assert code(attempt(auth, address=proxy, HTTP_X_FORWARDED_FOR=ATTACKER)) == (
        "TOO_MANY_ATTEMPTS"
    )
    real_user = attempt(auth, PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR=USER_ADDRESS)
    assert code(real_user) == "OK"
    [session] = auth.sessions.list()
    assert session.ip == USER_ADDRESS


def test_counts_are_shared_by_processes_on_one_store(make_auth: MakeAuth, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/auth.db"
    first, second = make_auth(database), make_auth(database)
    first.accounts.create("alice", PASSWORD)
    for auth in (first, second, first, second, first):
        attempt(auth)
    assert code(attempt(second)) == "TOO_MANY_ATTEMPTS"


def test_throttling_can_be_switched_off(make_auth: MakeAuth) -> None:
    auth = make_auth(throttling=False)
    auth.accounts.create("alice", PASSWORD)
    assert {code(attempt(auth)) for _ in range(30)} == {"INCORRECT_PASSWORD"}


@pytest.mark.parametrize("reveal", [True, False])
def test_username_lookups_are_throttled_when_usernames_are_secret(
    make_auth: MakeAuth, reveal: bool
) -> None:
    client = webtest.TestApp(make_auth(registration=True, reveal_unknown_users=reveal))
    statuses = {
        client.get(
            "/user/checkUsername", params={"username": f"user{n}"}, expect_errors=True
        ).status_int
        for n in range(40)
    }
    assert statuses == ({200} if reveal else {200, 429})


def test_the_rules_match_the_documentation() -> None:
    strict, per_address, per_username, per_account = RULES
    assert (strict.free_failures, strict.most_delay) == (5, timedelta(minutes=15))
    assert per_username.free_failures == 20
    assert per_username.delay(99) == timedelta(hours=1)
    assert per_username.counted_within == strict.name
    assert per_account.delay(99) == timedelta(0)
    assert per_account.delay(100) == timedelta(hours=24)
    assert per_address.free_failures == 50


def test_one_patient_address_gets_no_more_than_100_guesses_either(
    auth: AuthMiddleware, clock: FrozenClock
) -> None:
    """The username rule weighs one address's guesses lightly; the account rule counts
    all of them, so a slow attack from one address still stops at 100."""
    failures, answer = guess_until_locked(auth, clock, lambda _: ATTACKER)
    assert failures == 100
    assert int(answer.headers["Retry-After"]) == 24 * 3600


def test_guessing_the_old_password_through_a_session_is_throttled(make_auth: MakeAuth) -> None:
    auth = make_auth(registration=True)
    auth.accounts.create("alice", PASSWORD)
    client = webtest.TestApp(auth, extra_environ={"REMOTE_ADDR": ATTACKER})
    token = client.post_json("/session", {"username": "alice", "password": PASSWORD}).json
    headers = {"Username": "alice", "Token": token["session_token"]}
    guess = {"old_password": "wrong password", "new_password": "a brand new password"}
    codes = [
        code(client.post_json("/user/password", guess, headers=headers, expect_errors=True))
        for _ in range(6)
    ]
    assert codes == ["INCORRECT_PASSWORD"] * 5 + ["TOO_MANY_ATTEMPTS"]


def test_an_attempt_in_flight_elsewhere_does_not_throttle_a_login(clock: FrozenClock) -> None:
    """Attempts are counted when they start; one that started by a clock a moment ahead
    must not make an attempt within the free ones wait."""
    store = MemoryStore()
    ahead = FrozenClock(clock() + timedelta(milliseconds=1))
    Throttle(store, ahead, RULES).reserve("alice", USER_ADDRESS)
    Throttle(store, clock, RULES).reserve("alice", USER_ADDRESS)
    assert store.get_failures("login-address:" + USER_ADDRESS, clock()) == (2, clock())


def test_concurrent_logins_of_one_user_are_never_throttled(auth: AuthMiddleware) -> None:
    """Each login holds a reservation while it is checked; successes give them back.

    Fewer at once than the strict rule's 5 free attempts: a sixth login of one username
    from one address while five are being checked waits, as the README says.
    """
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: code(attempt(auth, PASSWORD)), range(200)))
    assert answers == ["OK"] * 200
