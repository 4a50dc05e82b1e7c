"""What an authenticated request costs beside a thread that holds the GIL.

Python's ``sqlite3`` releases the GIL around each step of a query, and a busy thread in
the same process can then keep it for up to the 5 ms switch interval: threaded servers
(gunicorn gthread, waitress, mod_wsgi) pay that on every uncached lookup. This runs, side
by side, nullptr_auth on ``memory://``, nullptr_auth on SQLite (its per-process cache
answers), and one plain indexed SQLite query per request (what an uncached store pays),
each with a pure-Python loop spinning in another thread::

    python benchmarks/busy_neighbour.py
"""

from __future__ import annotations

import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import argon2
from werkzeug.test import EnvironBuilder

from nullptr_auth import AuthMiddleware

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

REQUESTS = 2_000
ROUNDS = 5


def hello(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def _ignore(status: str, headers: Any, exc_info: Any = None) -> Callable[[bytes], None]:
    return lambda data: None


def authenticated(database: str) -> Callable[[], None]:
    """One authenticated request through nullptr_auth on ``database``."""
    auth = AuthMiddleware(
        hello,
        database,
        secret_keys=["benchmark-secret-key-of-32-bytes!"],
        password_hasher=argon2.PasswordHasher.from_parameters(argon2.profiles.CHEAPEST),
        allow_weak_hashing_for_tests=True,  # hashing is not what is measured here
    )
    auth.accounts.create("alice", "correct horse battery")
    _, token = auth.sessions.login("alice", "correct horse battery")
    environ = EnvironBuilder("/", headers={"Username": "alice", "Token": token}).get_environ()

    def request() -> None:
        auth(dict(environ), _ignore)

    return request


def uncached_lookup(path: Path) -> Callable[[], None]:
    """One indexed query per request on the same kind of table, no cache."""
    db = sqlite3.connect(path, check_same_thread=False)
    db.execute("CREATE TABLE sessions (id TEXT PRIMARY KEY, user TEXT)")
    db.execute("INSERT INTO sessions VALUES ('s1', 'alice')")
    db.commit()

    def request() -> None:
        db.execute("SELECT user FROM sessions WHERE id = ?", ("s1",)).fetchone()

    return request


def microseconds_beside_a_busy_thread(request: Callable[[], None]) -> float:
    stop = threading.Event()

    def spin() -> None:
        count = 0
        while not stop.is_set():
            count += 1

    neighbour = threading.Thread(target=spin)
    neighbour.start()
    try:
        started = time.perf_counter()
        for _ in range(REQUESTS):
            request()
        return (time.perf_counter() - started) / REQUESTS * 1e6
    finally:
        stop.set()
        neighbour.join()


def main() -> int:
    with tempfile.TemporaryDirectory() as directory:
        contenders = {
            "nullptr_auth memory://": authenticated("memory://"),
            "nullptr_auth SQLite (cached)": authenticated(f"sqlite:///{directory}/auth.db"),
            "one uncached SQLite query": uncached_lookup(Path(directory) / "plain.db"),
        }
        figures: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(ROUNDS):  # interleaved, so drift hits every contender alike
            for name, request in contenders.items():
                figures[name].append(microseconds_beside_a_busy_thread(request))
    medians = {name: statistics.median(values) for name, values in figures.items()}
    print("µs per request beside a GIL-holding thread (median of interleaved rounds)")
    for name, median in medians.items():
        print(f"  {name:<30} {median:>10.1f}")
    ratio = medians["nullptr_auth SQLite (cached)"] / medians["nullptr_auth memory://"]
    print(f"nullptr_auth SQLite ÷ memory://: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
