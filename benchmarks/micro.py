"""Micro-benchmarks of the pieces an authenticated request is made of, and cheaper twins.

    python benchmarks/micro.py

Each line times one operation the hot path performs today next to an alternative that
gives the same answer, so "replacing X with Y saves N µs" can be read off directly.
Timings are the best of 7 repeats (the usual choice for micro-benchmarks: noise only
ever adds time). They are for ranking levers, not targets; the targets live in run.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import mmap
import sqlite3
import struct
import sys
import threading
import time
import timeit
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

from _common import BENCH_KEY, auth_headers, environ, middleware
from _populate import sessions_db
from _report import table
from itsdangerous import Signer
from werkzeug.datastructures import EnvironHeaders

from nullptr_auth import Session

REPEAT = 7
SALT = b"nullptr_auth.session-token"
Case = tuple[str, Callable[[], object]]


def best(function: Callable[[], object], number: int = 20_000) -> float:
    """Seconds per call: the best of ``REPEAT`` runs of ``number`` calls."""
    return min(timeit.repeat(function, number=number, repeat=REPEAT)) / number


def _signing(token: str) -> list[Case]:
    """itsdangerous' unsign against the same check spelled with hmac.digest."""
    signer = Signer(BENCH_KEY, salt=SALT, digest_method=hashlib.sha256)
    prederived = Signer(
        signer.derive_key(), salt=SALT, key_derivation="none", digest_method=hashlib.sha256
    )
    own = signer.sign("0123456789abcdef0123456789abcdef.secret").decode()
    key = signer.derive_key()
    value, _, signature = own.rpartition(".")
    encoded = value.encode()

    keyed = hmac.new(key, digestmod=hashlib.sha256)

    def prekeyed() -> bytes:
        mac = keyed.copy()
        mac.update(encoded)
        return mac.digest()

    def by_hand() -> bool:
        padded = signature + "=" * (-len(signature) % 4)
        expected = hmac.digest(key, encoded, "sha256")
        return hmac.compare_digest(base64.urlsafe_b64decode(padded), expected)

    return [
        ("itsdangerous unsign, key derived per call", lambda: signer.unsign(own)),
        ("itsdangerous unsign, key derived once", lambda: prederived.unsign(own)),
        ("hmac.digest + urlsafe_b64decode + compare_digest", by_hand),
        ("hmac.new(...).digest() alone", lambda: hmac.new(key, encoded, hashlib.sha256).digest()),
        ("hmac.digest(...) alone (one C call)", lambda: hmac.digest(key, encoded, "sha256")),
        ("HMAC keyed once: .copy() + update + digest", prekeyed),
        ("urlsafe_b64decode of the signature", lambda: base64.urlsafe_b64decode(signature + "=")),
        ("sha256 of the whole token + compare_digest", lambda: _hash_check(token)),
    ]


def _hash_check(token: str) -> bool:
    digest = hashlib.sha256(token.encode("ascii")).digest()
    return hmac.compare_digest(digest, digest)


def _time_cases() -> list[Case]:
    stamp = datetime.now(timezone.utc)
    later = stamp + timedelta(days=14)
    session = Session("id", "user", stamp, stamp, later, later, "", "", "", b"")
    interval = timedelta(minutes=1)
    seconds = stamp.timestamp()
    return [
        ("datetime.now(timezone.utc) (the clock)", lambda: datetime.now(timezone.utc)),
        ("time.time()", time.time),
        ("time.monotonic()", time.monotonic),
        ("Session.is_live(now)", lambda: session.is_live(stamp)),
        ("float compare: now < ends_at", lambda: seconds < seconds + 1.0),
        ("now - last_seen_at >= interval (timedelta)", lambda: stamp - stamp >= interval),
        (
            "datetime.fromtimestamp(x, timezone.utc)",
            lambda: datetime.fromtimestamp(seconds, timezone.utc),
        ),
        (
            "Session(...) built from a row (10 fields)",
            lambda: Session("id", "user", stamp, stamp, stamp, stamp, "", "", "", b""),
        ),
        (
            "tuple of the same 10 fields",
            lambda: ("id", "user", stamp, stamp, stamp, stamp, "", "", "", b""),
        ),
    ]


def _stamp_cases() -> list[Case]:
    """The shared-memory change counters read on every cache hit, and alternatives."""
    memory = mmap.mmap(-1, 8 * 4097)
    counter = struct.Struct("<Q")
    session_id = "0123456789abcdef0123456789abcdef"

    def stamp() -> tuple[int, int]:
        offset = 8 * (1 + zlib.crc32(session_id.encode("utf-8", "replace")) % 4096)
        return counter.unpack_from(memory, 0)[0], counter.unpack_from(memory, offset)[0]

    return [
        *_eviction_cases(),
        ("crc32 slot + 2 struct.unpack_from on mmap", stamp),
        ("zlib.crc32(id.encode()) alone", lambda: zlib.crc32(session_id.encode())),
        ("hash(id) % 4096 (per-process; not shareable)", lambda: hash(session_id) % 4096),
        ("dict.get on a 4,096-entry cache", lambda: {session_id: 1}.get(session_id)),
    ]


def _eviction_cases(size: int = 4096) -> list[Case]:
    """Insert one entry into a full first-in-first-out cache of ``size`` entries.

    ``d.pop(next(iter(d)))`` looks O(1) but a dict leaves a hole at the front of its
    entries for each popped key, and ``iter`` walks over the holes until the dict is
    next rebuilt; ``OrderedDict.popitem(last=False)`` unlinks the oldest directly.
    """
    keys = iter([f"{n:032x}" for n in range(size * 200)])
    plain = {next(keys): 1 for _ in range(size)}
    ordered = OrderedDict((next(keys), 1) for _ in range(size))

    def dict_fifo() -> None:
        plain.pop(next(iter(plain)), None)
        plain[next(keys)] = 1

    def ordered_fifo() -> None:
        ordered.popitem(last=False)
        ordered[next(keys)] = 1

    return [
        ("full cache: dict.pop(next(iter(d))) + insert", dict_fifo),
        ("full cache: OrderedDict.popitem(last=False) + insert", ordered_fifo),
    ]


@contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """The shape of a store's per-call helper: a generator context manager around
    ``with connection:`` (which commits, a no-op after a read)."""
    with connection:
        yield connection


def _sqlite_cases(path: str, session_ids: list[str]) -> list[Case]:
    connection = sqlite3.connect(path, check_same_thread=False)
    local = threading.local()
    local.connection = connection
    query = "SELECT * FROM nullptr_auth_sessions WHERE id = ?"
    ids = iter(session_ids * 1000)

    def plain() -> Any:
        return connection.execute(query, (next(ids),)).fetchone()

    def committed() -> Any:
        with connection:
            return connection.execute(query, (next(ids),)).fetchone()

    def wrapped() -> Any:
        with _transaction(getattr(local, "connection", None) or connection) as db:
            return db.execute(query, (next(ids),)).fetchone()

    return [
        ("indexed SELECT by id, execute + fetchone", plain),
        ("the same inside `with connection:`", committed),
        ("the same via a @contextmanager helper + threading.local", wrapped),
        *_tuned(path, query, ids),
    ]


def _tuned(path: str, query: str, ids: Iterator[str]) -> list[Case]:
    """The plain lookup on connections with a bigger page cache, or memory-mapped I/O."""
    cases: list[Case] = []
    for label, pragma in (
        ("PRAGMA cache_size = -65536 (64 MiB)", "PRAGMA cache_size = -65536"),
        ("PRAGMA mmap_size = 268435456 (256 MiB)", "PRAGMA mmap_size = 268435456"),
    ):
        tuned = sqlite3.connect(path, check_same_thread=False)
        tuned.execute(pragma)
        cases.append((f"plain lookup, {label}", partial(_lookup, tuned, query, ids)))
    return cases


def _lookup(connection: sqlite3.Connection, query: str, ids: Iterator[str]) -> Any:
    return connection.execute(query, (next(ids),)).fetchone()


def _environ_cases(request: dict[str, Any]) -> list[Case]:
    return [
        ("dict(environ) (every row of run.py pays it)", lambda: dict(request)),
        (
            "environ.get('HTTP_USERNAME') x2",
            lambda: (request.get("HTTP_USERNAME"), request.get("HTTP_TOKEN")),
        ),
        ("werkzeug EnvironHeaders(environ).get x2 (the floor)", lambda: _headers(request)),
    ]


def _headers(request: dict[str, Any]) -> tuple[str | None, str | None]:
    headers = EnvironHeaders(request)
    return headers.get("Username"), headers.get("Token")


def _middleware_cases(url: str, hot: dict[str, Any], token: str) -> list[Case]:
    """Whole-request figures through the public API, for scale."""
    timed = middleware(url)
    sessions = timed.sessions
    signer = sessions.signer

    def request() -> None:
        for _ in timed(dict(hot), lambda s, h, e=None: None):
            pass

    return [
        ("AuthMiddleware, authenticated request (cache hit)", request),
        (
            "middleware.sessions.authenticate(username, token)",
            lambda: sessions.authenticate("alice", token),
        ),
        ("middleware.sessions.signer.session_id(token)", lambda: signer.session_id(token)),
    ]


def main() -> int:
    population = sessions_db(100_000)
    hot = environ(auth_headers(population.hot_token))
    groups = {
        "whole request": _middleware_cases(population.url, hot, population.hot_token),
        "signature and token hash": _signing(population.hot_token),
        "clock, expiry and the Session object": _time_cases(),
        "cache validity (shared-memory counters)": _stamp_cases(),
        "SQLite lookup (100k sessions)": _sqlite_cases(
            str(population.path), [t.partition(".")[0] for t in population.tokens[:5000]]
        ),
        "headers": _environ_cases(hot),
    }
    for title, cases in groups.items():
        rows = [[label, f"{best(function) * 1e6:.3f}"] for label, function in cases]
        print(f"\n## {title}\n")
        print(table(["operation", "µs per call"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
