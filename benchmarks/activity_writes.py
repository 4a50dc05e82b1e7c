"""How many store writes a burst of authenticated requests on one session costs.

Activity (``last_seen_at`` and the idle deadline) is written at most once per
``activity_interval``, so a client polling many times a second costs reads, not writes.
This drives a real SQLite store through the middleware with a simulated clock (a request
every 25 ms for ten simulated minutes) and counts the writes::

    python benchmarks/activity_writes.py
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import argon2
from werkzeug.test import EnvironBuilder, run_wsgi_app

from nullptr_auth import AuthMiddleware
from nullptr_auth.stores import SQLiteStore

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

REQUESTS = 24_000
STEP = timedelta(milliseconds=25)
INTERVAL = timedelta(minutes=1)


class CountingSQLiteStore(SQLiteStore):
    """The real SQLite store, counting its activity writes."""

    writes = 0

    def touch_session(self, *args: object, **kwargs: object) -> None:
        self.writes += 1
        super().touch_session(*args, **kwargs)  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


def hello(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def main() -> int:
    clock = Clock()
    with tempfile.TemporaryDirectory() as directory:
        store = CountingSQLiteStore(Path(directory) / "auth.db")
        auth = AuthMiddleware(
            hello,
            store,
            secret_keys=["benchmark-secret-key-of-32-bytes!"],
            clock=clock,
            password_hasher=argon2.PasswordHasher.from_parameters(argon2.profiles.CHEAPEST),
            allow_weak_hashing_for_tests=True,  # hashing is not what is measured here
            activity_interval=INTERVAL,
        )
        auth.accounts.create("alice", "correct horse battery")
        _, token = auth.sessions.login("alice", "correct horse battery")
        environ = EnvironBuilder("/", headers={"Username": "alice", "Token": token}).get_environ()
        statuses = set()
        for _ in range(REQUESTS):
            clock.now += STEP
            _, status, _ = run_wsgi_app(auth, dict(environ))
            statuses.add(status)
        store.close()
    elapsed = STEP * REQUESTS
    intervals = elapsed / INTERVAL
    print(f"requests on one session      {REQUESTS:>8}")
    print(f"simulated time               {elapsed}")
    print(f"activity interval            {INTERVAL}")
    print(f"store writes                 {store.writes:>8}")
    print(f"writes per interval          {store.writes / intervals:>8.2f}")
    passed = statuses == {"200 OK"} and store.writes <= intervals
    print(f"target: <= 1 write per interval: {'PASS' if passed else 'FAIL'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
