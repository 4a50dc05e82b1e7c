"""Attacks on real servers: parallel bursts of guesses, and logins racing account changes.

Each test runs against ``nullptr-auth serve`` (werkzeug's threaded server, argon2 at its
real cost) or gunicorn's ``gthread`` workers serving ``tests/worker_app.py``, on every
shared store, and tries what an attacker would: a hundred and more requests sent at
once from one address, and logins in flight while an administrator disables, deletes
or re-keys the account.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from .services import SHARED_STORES, missing, scratch_store
from .test_many_workers import ROOT, start

pytestmark = pytest.mark.servers

PASSWORD = "correct horse battery"
BURST = 120
LOOKUPS = 300
STRICT_FREE = 5  # the username+address rule's free attempts (nullptr_auth.throttle.RULES)
LOOKUP_FREE = 30


@pytest.fixture(params=[*SHARED_STORES, "split"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    """The CLI's store options for a shared store of this test's own."""
    if request.param != "split":
        with scratch_store(request.param, tmp_path) as url:
            yield ["--database", url]
        return
    with scratch_store("postgres", tmp_path) as users, scratch_store("redis", tmp_path) as sessions:
        yield ["--database", users, "--sessions", sessions]


@contextmanager
def launch(kind: str, database: list[str], tmp_path: Path, **settings: str) -> Iterator[str]:
    """A real server of ``kind`` on the store; yields its base URL, stops it afterwards."""
    if kind == "serve":
        command = ["nullptr_auth", *database, "serve", "--port", "{port}"]
    else:
        if importlib.util.find_spec("gunicorn") is None:
            missing("gunicorn is not installed")
        if "--sessions" in database:
            settings["NULLPTR_AUTH_SESSIONS"] = database[database.index("--sessions") + 1]
        command = ["gunicorn", "--workers", "2", "--worker-class", "gthread",
                   "--threads", "32", "--no-control-socket",
                   "--bind", "127.0.0.1:{port}", "tests.worker_app:application"]  # fmt: skip
    process, base = start(command, database[1], tmp_path / f"{kind}.log", **settings)
    try:
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def register(base: str, username: str, address: str = "192.0.2.200") -> str:
    answer = requests.post(
        f"{base}/user/register",
        json={"username": username, "password": PASSWORD},
        headers={"X-Forwarded-For": address},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["session_token"])


@dataclass(frozen=True)
class Burst:
    """The statuses a burst got, and how many of a rule's delays passed meanwhile.

    Past a rule's free attempts one more gets in after 1 s, another 2 s later, and so
    on: a burst that takes the server longer than that to answer earns those too. The
    rest are ``429``, or ``503`` where a loaded machine kept a SQLite writer waiting
    past its busy timeout: a bounded refusal, never a pass (a burst of more threads
    than the Redis pool's connections is ``tests/stores/test_redis.py``'s to check).
    """

    statuses: Counter[int]
    delays: int

    def __getitem__(self, status: int) -> int:
        return self.statuses[status]


def burst(count: int, send: Callable[[requests.Session], requests.Response]) -> Burst:
    """``count`` requests released together from as many threads."""
    barrier = threading.Barrier(count)
    started = time.monotonic()

    def one(_: int) -> requests.Response:
        http = requests.Session()
        barrier.wait()
        try:
            return send(http)
        finally:
            http.close()

    with ThreadPoolExecutor(count) as pool:
        answers = list(pool.map(one, range(count)))
    elapsed, delays, delay = time.monotonic() - started, 0, 1
    while elapsed >= delay:
        elapsed, delays, delay = elapsed - delay, delays + 1, delay * 2
    for answer in answers:
        if answer.status_code == 429:
            assert int(answer.headers["Retry-After"]) >= 1
            assert answer.json()["error"]["code"] == "TOO_MANY_ATTEMPTS"
    return Burst(Counter(answer.status_code for answer in answers), delays)


# -- bursts of guesses --------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["serve", "gunicorn"])
def test_a_burst_of_guesses_gets_only_the_free_attempts_checked(
    kind: str, database: list[str], tmp_path: Path
) -> None:
    with launch(kind, database, tmp_path, NULLPTR_AUTH_TEST_CHEAP_HASHING="1") as base:
        register(base, "alice")
        statuses = burst(
            BURST,
            lambda http: http.post(
                f"{base}/session", json={"username": "alice", "password": "wrong guess"},
                timeout=60,
            ),
        )  # fmt: skip
        assert statuses[401] <= STRICT_FREE + statuses.delays, statuses
        assert statuses.statuses.keys() <= {401, 429, 503}, statuses


def test_a_burst_from_one_address_does_not_lock_the_owner_out(
    database: list[str], tmp_path: Path
) -> None:
    with launch(
        "gunicorn",
        database,
        tmp_path,
        NULLPTR_AUTH_TEST_CHEAP_HASHING="1",
        NULLPTR_AUTH_TEST_TRUSTED_PROXIES="1",
    ) as base:
        register(base, "alice")
        for wave in range(3):  # waves, so the attacker's runs are full, not just busy
            statuses = burst(
                BURST,
                lambda http: http.post(
                    f"{base}/session", json={"username": "alice", "password": "wrong guess"},
                    headers={"X-Forwarded-For": "203.0.113.66"}, timeout=60,
                ),
            )  # fmt: skip
            # past the free attempts, one guess per delay (1 s, 2 s, ...) gets in
            free = STRICT_FREE if wave == 0 else 1
            assert statuses[401] <= free + statuses.delays, statuses
        owner = requests.post(
            f"{base}/session",
            json={"username": "alice", "password": PASSWORD},
            headers={"X-Forwarded-For": "198.51.100.7"},
            timeout=60,
        )
        assert owner.status_code == 200, owner.text


def test_a_burst_of_lookups_gets_only_the_free_lookups(database: list[str], tmp_path: Path) -> None:
    with launch(
        "gunicorn",
        database,
        tmp_path,
        NULLPTR_AUTH_TEST_CHEAP_HASHING="1",
        NULLPTR_AUTH_TEST_HIDE_USERS="1",
    ) as base:
        statuses = burst(
            LOOKUPS,
            lambda http: http.get(
                f"{base}/user/checkUsername", params={"username": "alice"}, timeout=60
            ),
        )
        assert statuses[200] <= LOOKUP_FREE + statuses.delays, statuses
        assert statuses.statuses.keys() <= {200, 429, 503}, statuses


def test_registrations_from_one_address_are_throttled(database: list[str], tmp_path: Path) -> None:
    with launch("gunicorn", database, tmp_path, NULLPTR_AUTH_TEST_CHEAP_HASHING="1") as base:
        statuses = burst(
            BURST,
            lambda http: http.post(
                f"{base}/user/register",
                json={"username": f"u{uuid.uuid4().hex[:12]}", "password": PASSWORD},
                timeout=60,
            ),
        )
        assert statuses[200] <= 30 + statuses.delays, statuses
        assert statuses.statuses.keys() <= {200, 429, 503}, statuses


# -- logins racing account changes --------------------------------------------------------
def cli(database: list[str], *arguments: str, stdin: str = "") -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "nullptr_auth", *database, *arguments],
        input=stdin.encode(),
        capture_output=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr.decode()


class Logins:
    """Threads logging in as one user over and over until told to stop."""

    def __init__(self, base: str, username: str, threads: int = 6) -> None:
        self.base, self.username = base, username
        self.tokens: list[str] = []
        self.refusals: Counter[str] = Counter()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        http = requests.Session()
        while not self._stop.is_set():
            answer = http.post(
                f"{self.base}/session",
                json={"username": self.username, "password": PASSWORD},
                timeout=60,
            )
            if answer.status_code == 200:
                self.tokens.append(answer.json()["session_token"])
            else:
                self.refusals[answer.json()["error"]["code"]] += 1

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 60
        while len(self.tokens) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.tokens) >= count, self.refusals

    def stop(self) -> None:
        """No new logins; the ones in flight finish."""
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def live_tokens(self, keep: str | None = None) -> list[str]:
        headers = [{"Username": self.username, "Token": t} for t in self.tokens if t != keep]
        return [
            h["Token"]
            for h in headers
            if requests.get(f"{self.base}/whoami", headers=h, timeout=30).status_code != 401
        ]


CHANGES = {
    "disable": (["user", "disable", "alice"], "", "ACCOUNT_DISABLED"),
    "delete": (["user", "delete", "alice"], "", "INCORRECT_USERNAME"),
    "set-password": (["user", "set-password", "alice"], "a new long password\n", None),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_no_login_in_flight_outlives_a_change_from_the_command_line(
    change: str, database: list[str], tmp_path: Path
) -> None:
    arguments, stdin, refusal = CHANGES[change]
    with launch("serve", database, tmp_path) as base:
        register(base, "alice")
        logins = Logins(base, "alice")
        try:
            logins.wait_for(4)
            cli(database, *arguments, stdin=stdin)
            time.sleep(0.3)  # logins keep arriving after the change
        finally:
            logins.stop()
        assert logins.live_tokens() == []
        if refusal is not None:
            assert logins.refusals[refusal] > 0, logins.refusals
        # refused logins count as failures, so the throttle joins in after five; a
        # loaded machine may keep a login waiting for a hashing slot too long (503)
        assert logins.refusals.keys() <= {"ACCOUNT_DISABLED", "INCORRECT_USERNAME",
                                          "INCORRECT_PASSWORD", "TOO_MANY_ATTEMPTS",
                                          "SERVICE_UNAVAILABLE"}  # fmt: skip


def test_no_login_in_flight_outlives_a_password_change_over_http(
    database: list[str], tmp_path: Path
) -> None:
    with launch("serve", database, tmp_path) as base:
        mine = register(base, "alice")
        # the change checks the old password under the same strict rule as the
        # logins: each login in flight holds one of its five reservations
        logins = Logins(base, "alice", threads=4)
        try:
            logins.wait_for(4)
            answer = requests.post(
                f"{base}/user/password",
                json={"old_password": PASSWORD, "new_password": "a new long password"},
                headers={"Username": "alice", "Token": mine},
                timeout=60,
            )
            assert answer.status_code == 204, answer.text
            time.sleep(0.3)
        finally:
            logins.stop()
        assert logins.live_tokens() == []
        kept = requests.get(
            f"{base}/whoami", headers={"Username": "alice", "Token": mine}, timeout=30
        )
        assert kept.status_code == 200
