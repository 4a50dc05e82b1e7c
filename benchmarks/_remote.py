"""Redis and PostgreSQL: the same 100,000 sessions as the SQLite rows, and their floors.

Logging in 100,000 times over the network would take minutes, so the rows of the SQLite
population (``_populate.py``) and of the floor's database (``_floor.py``) are copied
into each server as the store lays them out (one pipeline into Redis, one ``COPY`` into
PostgreSQL). A marker names the file they were copied from, so later runs reuse them
while it is the same file.

The floors are in the design of the SQLite floor: one lookup on a connection kept per
thread, nothing else. Redis: one ``HGETALL`` on a kept redis-py connection. PostgreSQL:
one prepared, indexed ``SELECT`` on a kept psycopg connection in autocommit.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from _floor import FloorData, Lookup, Row

REDIS = "redis://127.0.0.1:6379/14"  # not the tests' 15: their teardowns scan it
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_PREFIX = "nullptr_auth_benchpop:"
POSTGRES_PREFIX = "nullptr_auth_benchpop_"
FLOOR_REDIS_PREFIX = "nullptr_auth_floor:"
FLOOR_TABLE = "nullptr_auth_floor_sessions"
_SESSION_COLUMNS = (
    "id, user_id, username, token_hash, created_at, last_seen_at, expires_at,"
    " idle_expires_at, user_agent, ip, device"
)


def redis_url(query: str = "") -> str:
    return f"{REDIS}?prefix={REDIS_PREFIX}" + (f"&{query}" if query else "")


def postgres_url(query: str = "") -> str:
    return f"{POSTGRES}?table_prefix={POSTGRES_PREFIX}" + (f"&{query}" if query else "")


def _rows(path: Path) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute(f"SELECT {_SESSION_COLUMNS} FROM nullptr_auth_sessions").fetchall()  # noqa: S608


def _micros(timestamp: float | None) -> int | str:
    return "" if timestamp is None else round(timestamp * 1_000_000)


# -- nullptr_auth's stores ------------------------------------------------------------------
def redis_population(path: Path) -> None:
    """The sessions of the SQLite population at ``path``, in the Redis store's layout."""
    import redis

    client = redis.Redis.from_url(REDIS)
    marker = f"{REDIS_PREFIX}bench-population"
    if client.get(marker) == path.name.encode():
        return
    for key in client.scan_iter(f"{REDIS_PREFIX}*", count=10_000):
        client.delete(key)
    pipeline = client.pipeline(transaction=False)
    for number, row in enumerate(_rows(path)):
        sid, uid, name, digest, created, seen, expires, idle, agent, ip, device = row
        pipeline.hset(
            f"{REDIS_PREFIX}session:{sid}",
            mapping={
                "user_id": uid,
                "username": name,
                "token_hash": bytes(digest),
                "created_at": _micros(created),
                "last_seen_at": _micros(seen),
                "expires_at": _micros(expires),
                "idle_expires_at": _micros(idle),
                "user_agent": agent,
                "ip": ip,
                "device": device,
            },
        )
        pipeline.sadd(f"{REDIS_PREFIX}user-sessions:{uid}", sid)
        pipeline.hset(f"{REDIS_PREFIX}owners", sid, uid)
        ends = min(t for t in (expires, idle) if t is not None)
        pipeline.zadd(f"{REDIS_PREFIX}deadlines", {sid: _micros(ends)})
        if number % 5_000 == 4_999:
            pipeline.execute()
    pipeline.set(marker, path.name)
    pipeline.execute()
    client.close()


def postgres_population(path: Path) -> None:
    """The sessions of the SQLite population at ``path``, in the PostgreSQL store's tables."""
    import psycopg

    from nullptr_auth.stores.postgres import PostgresStore

    store = PostgresStore(postgres_url())
    store.get_user("nobody")  # creates the tables
    store.close()
    with psycopg.connect(POSTGRES, autocommit=True) as db:
        meta, sessions = f"{POSTGRES_PREFIX}meta", f"{POSTGRES_PREFIX}sessions"
        found = db.execute(
            f"SELECT value FROM {meta} WHERE name = 'bench-population'"  # noqa: S608
        ).fetchone()
        if found is not None and bytes(found[0]) == path.name.encode():
            return
        with db.transaction():
            db.execute(f"TRUNCATE {sessions}")
            with db.cursor().copy(f"COPY {sessions} ({_SESSION_COLUMNS}) FROM STDIN") as copy:
                for row in _rows(path):
                    copy.write_row((*row[:3], bytes(row[3]), *map(_utc, row[4:8]), *row[8:]))
            db.execute(f"DELETE FROM {meta} WHERE name = 'bench-population'")  # noqa: S608
            db.execute(
                f"INSERT INTO {meta} VALUES ('bench-population', %s)",  # noqa: S608
                (path.name.encode(),),
            )
        db.execute(f"ANALYZE {sessions}")


def _utc(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, timezone.utc)


# -- the floors -------------------------------------------------------------------------------
def _floor_rows(data: FloorData) -> list[tuple[str, str, str, bytes, float]]:
    with contextlib.closing(sqlite3.connect(data.path)) as db:
        rows = db.execute("SELECT id, user_id, username, token_hash, expires_at FROM sessions")
        return [(r[0], r[1], r[2], bytes(r[3]), r[4]) for r in rows]


def redis_floor(data: FloorData) -> None:
    """The floor's sessions as Redis hashes, ``<prefix><session id>``."""
    import redis

    client = redis.Redis.from_url(REDIS)
    marker = f"{FLOOR_REDIS_PREFIX}marker"
    if client.get(marker) == data.path.name.encode():
        return
    pipeline = client.pipeline(transaction=False)
    for number, (sid, uid, name, digest, expires) in enumerate(_floor_rows(data)):
        pipeline.hset(
            f"{FLOOR_REDIS_PREFIX}{sid}",
            mapping={"user_id": uid, "username": name, "token_hash": digest, "expires_at": expires},
        )
        if number % 5_000 == 4_999:
            pipeline.execute()
    pipeline.set(marker, data.path.name)
    pipeline.execute()
    client.close()


def postgres_floor(data: FloorData) -> None:
    """The floor's sessions in a table of its own, indexed by id."""
    import psycopg

    with psycopg.connect(POSTGRES, autocommit=True) as db:
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {FLOOR_TABLE} (id text PRIMARY KEY, user_id text,"
            " username text, token_hash bytea, expires_at double precision)"
        )
        db.execute("CREATE TABLE IF NOT EXISTS nullptr_auth_floor_marker (name text)")
        found = db.execute("SELECT name FROM nullptr_auth_floor_marker").fetchone()
        if found is not None and found[0] == data.path.name:
            return
        with db.transaction():
            db.execute(f"TRUNCATE {FLOOR_TABLE}")
            with db.cursor().copy(f"COPY {FLOOR_TABLE} FROM STDIN") as copy:
                for row in _floor_rows(data):
                    copy.write_row(row)
            db.execute("DELETE FROM nullptr_auth_floor_marker")
            db.execute("INSERT INTO nullptr_auth_floor_marker VALUES (%s)", (data.path.name,))
        db.execute(f"ANALYZE {FLOOR_TABLE}")


class RedisLookup(Lookup):
    """One ``HGETALL`` on a redis-py connection kept per thread."""

    def __init__(self) -> None:
        self._local = threading.local()

    def __call__(self, session_id: str) -> Row | None:
        client = getattr(self._local, "client", None)
        if client is None:
            import redis

            client = self._local.client = redis.Redis.from_url(REDIS, single_connection_client=True)
        fields = client.hgetall(f"{FLOOR_REDIS_PREFIX}{session_id}")
        if not fields:
            return None
        return (
            fields[b"user_id"].decode(),
            fields[b"username"].decode(),
            fields[b"token_hash"],
            float(fields[b"expires_at"]),
        )


class PostgresLookup(Lookup):
    """One prepared, indexed ``SELECT`` on a psycopg connection kept per thread."""

    _FIND = f"SELECT user_id, username, token_hash, expires_at FROM {FLOOR_TABLE} WHERE id = %s"  # noqa: S608

    def __init__(self) -> None:
        self._local = threading.local()

    def __call__(self, session_id: str) -> Row | None:
        db = getattr(self._local, "db", None)
        if db is None:
            import psycopg

            db = self._local.db = psycopg.connect(POSTGRES, autocommit=True)
        row = db.execute(self._FIND, (session_id,), prepare=True).fetchone()
        return None if row is None else (row[0], row[1], bytes(row[2]), row[3])
