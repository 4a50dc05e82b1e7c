"""Find the Redis and PostgreSQL servers the tests need, or skip the tests that need them.

A developer without the servers sees those tests skipped, with the reason; CI sets
``NULLPTR_AUTH_REQUIRE_SERVICES=1`` so that a missing server fails the run instead of
silently testing less. The URLs can be moved with ``NULLPTR_AUTH_TEST_REDIS_URL`` and
``NULLPTR_AUTH_TEST_POSTGRES_URL``.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlencode, urlsplit, urlunsplit

import pytest

REDIS_URL = "redis://127.0.0.1:6379/15"
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def missing(reason: str) -> NoReturn:
    """Skip, or fail when the environment says the services must be there."""
    if os.environ.get("NULLPTR_AUTH_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (NULLPTR_AUTH_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def redis_url() -> str:
    """The test Redis database's URL, once it answers PING."""
    url = os.environ.get("NULLPTR_AUTH_TEST_REDIS_URL", REDIS_URL)
    redis = pytest.importorskip("redis")
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
        client.close()
    except redis.RedisError:
        missing(f"Redis is not running on {_where(url, 6379)}")
    return url


def postgres_url() -> str:
    """The test PostgreSQL database's URL, once it accepts a connection."""
    url = os.environ.get("NULLPTR_AUTH_TEST_POSTGRES_URL", POSTGRES_URL)
    psycopg = pytest.importorskip("psycopg")
    try:
        psycopg.connect(url, connect_timeout=2).close()
    except psycopg.Error:
        missing(f"PostgreSQL is not running on {_where(url, 5432)}")
    return url


@contextmanager
def scratch_key_prefix(url: str) -> Iterator[str]:
    """A Redis key prefix of one test's own; its keys are deleted afterwards."""
    import redis

    prefix = f"test-{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


@contextmanager
def scratch_table_prefix(url: str) -> Iterator[str]:
    """A PostgreSQL table prefix of one test's own; its tables are dropped afterwards."""
    import psycopg
    from psycopg import sql

    prefix = f"test_{uuid.uuid4().hex[:12]}_"
    yield prefix
    with psycopg.connect(url, autocommit=True) as db:
        tables = db.execute(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE %s", (f"{prefix}%",)
        ).fetchall()
        for (table,) in tables:
            db.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))


def with_query(url: str, name: str, value: str) -> str:
    """``url`` with one more query parameter."""
    parts = urlsplit(url)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=query + urlencode({name: value})))


STORES = ["memory", "sqlite", "redis", "postgres"]
SHARED_STORES = STORES[1:]  # those that several processes can share


@contextmanager
def scratch_store(kind: str, directory: Path) -> Iterator[str]:
    """The URL of a store of one test's own, of ``kind`` (one of ``STORES``).

    SQLite's file goes in ``directory``; Redis keys and PostgreSQL tables carry a prefix of
    their own and are deleted afterwards.
    """
    if kind == "memory":
        yield "memory://"
    elif kind == "sqlite":
        yield f"sqlite:///{directory}/auth.db"
    elif kind == "redis":
        url = redis_url()
        with scratch_key_prefix(url) as prefix:
            yield with_query(url, "prefix", prefix)
    elif kind == "postgres":
        url = postgres_url()
        with scratch_table_prefix(url) as prefix:
            yield with_query(url, "table_prefix", prefix)
    else:
        raise ValueError(f"no such store kind: {kind!r}")


@pytest.fixture(params=STORES, name="store_url")
def every_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """conftest's ``store_url`` on every store: a module that imports this runs its
    ``make_auth`` tests once per store."""
    with scratch_store(request.param, tmp_path) as url:
        yield url


def program(name: str) -> str:
    """The path of a server program, looked up on PATH and in PostgreSQL's bin directories."""
    extra = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    search = os.pathsep.join([os.environ.get("PATH", ""), *map(str, extra)])
    found = shutil.which(name, path=search)
    if found is None:
        missing(f"{name} is not installed")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _where(url: str, default_port: int) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or default_port}"
