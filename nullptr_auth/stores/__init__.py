"""Where users and sessions live, chosen by URL.

========================  ==========================================================
``sqlite:///path.db``     the embedded default: one machine, any number of processes
``memory://``             this process only: tests and demos
``redis://host:port/N``   sessions shared by many app servers (``rediss://`` for TLS)
``postgresql://…``        users and sessions in the database the app already runs
========================  ==========================================================

The Redis and PostgreSQL stores are imported only when their scheme is asked for, so
their drivers stay optional extras (``nullptr_auth[redis]``, ``nullptr_auth[postgres]``).

Every store but ``memory://`` keeps a per-process cache of sessions (``_cache.py``);
``?cache=off`` in the URL turns it off, ``?cache_mb=N`` sets its budget in megabytes
(a ``?`` therefore ends an SQLite path).

Any object implementing :class:`~nullptr_auth.stores.base.Store` may be passed instead
of a URL.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from ._cache import megabytes_from
from .base import Store as Store
from .memory import MemoryStore as MemoryStore
from .sqlite import SQLiteStore as SQLiteStore

DEFAULT_DATABASE = "sqlite:///nullptr_auth.db"
SCHEMES = ("memory", "sqlite", "redis", "rediss", "postgresql", "postgres")


def open_store(url: str) -> Store:
    """The store a URL names; no connection is made yet.

    :raises ValueError: if the URL's scheme is unknown or it names no SQLite file.
    :raises ImportError: if the driver the scheme needs is not installed.
    """
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return MemoryStore()
    if scheme == "sqlite":
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
        path, _, query = path.partition("?")
        options = dict(parse_qsl(query, keep_blank_values=True))
        megabytes = megabytes_from(options.get("cache"), options.get("cache_mb"), None)
        if not path or path == ":memory:":
            raise ValueError(
                f"{url!r} names no SQLite file: use sqlite:///relative.db or "
                "sqlite:////absolute/path.db (memory:// keeps data in memory)"
            )
        return SQLiteStore(path, cache_megabytes=megabytes)
    if scheme in ("redis", "rediss"):
        from .redis import RedisStore

        return RedisStore(url)
    if scheme in ("postgresql", "postgres"):
        from .postgres import PostgresStore

        return PostgresStore(url)
    raise ValueError(
        f"unknown database URL {url!r}: the scheme must be one of "
        + ", ".join(f"{name}://" for name in SCHEMES)
    )
