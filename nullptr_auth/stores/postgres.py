"""``postgresql://…``: users and sessions in the PostgreSQL database the app already runs.

Use it when the application keeps its own data in PostgreSQL: one backup, one thing to
run, and every app server sees a session end at once. Install the driver with
``pip install 'nullptr_auth[postgres]'`` (psycopg 3 and its pool)::

    AuthMiddleware(app, database="postgresql://app@db.internal/shop?table_prefix=auth_")

The tables are created on first use when missing (``CREATE TABLE IF NOT EXISTS`` under
an advisory lock, so app servers starting together do not trip over each other). Their
names start with ``nullptr_auth_`` unless ``table_prefix=`` or the URL's
``?table_prefix=`` says otherwise:

=========================  ===============================================================
``<prefix>schema_version`` one row: the version of these tables, ``1``; a later release
                           that changes them migrates from the number it finds here
``<prefix>users``          id, username (unique), password_hash, created_at, disabled
``<prefix>sessions``       id (primary key: finding a session is one index lookup),
                           user_id, username, token_hash, created_at, last_seen_at,
                           expires_at, idle_expires_at, user_agent, ip, device;
                           indexed by user_id and by each deadline
``<prefix>failures``       key, count, last_failure_at, ends_at: runs of failed logins
``<prefix>meta``           name, value: the generated signing key
=========================  ===============================================================

Times are ``timestamptz``. Every method is one transaction; a login under a session
limit also takes a transaction-scoped advisory lock on the user, so concurrent logins
never exceed it.

Connections come from a ``psycopg_pool.ConnectionPool`` opened on first use. Each is
checked before it is handed out, so after a restart of the server the pool replaces
the dead ones by itself. A thread that reads sessions keeps the connection it read on
for its next read (at most half the pool is kept so; the rest serves writes and other
threads), checked as the pool would after a second unused, and given back to the pool
after an error or when the thread has ended. Every connection's ``TimeZone`` is UTC.

Every method answers within ``timeout`` seconds (5 by default, or the URL's
``?timeout=``), or fails with :class:`~nullptr_auth.errors.StoreUnavailable`
(``503``); so does any other error of the driver. The bound holds for each way a
server can fail to answer: no connection free or none to be made (the pool's wait,
which callers do concurrently, not in turn), a lock held by someone else
(``lock_timeout``), a slow statement (``statement_timeout``), and a server that stopped
answering altogether (frozen, or a network that drops packets): a watchdog thread shuts
down the socket of a transaction past its deadline, so that the blocked read returns;
the pool then replaces that connection. (A kept connection's read sets its deadline in a
slot that the watchdog scans every quarter of a second.)
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import re
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import CredentialsChanged, StoreUnavailable, TooManySessions, UsernameTaken
from ..models import Session, User, UserRecord
from ._cache import MISS, CacheStats, SessionCache, megabytes_from
from ._kept import Kept
from ._tracking import MAX_AGE, Tracking, postgres_listener
from .base import Reservation

if TYPE_CHECKING:
    import psycopg
    import psycopg_pool

    Connection = psycopg.Connection[tuple[Any, ...]]
    Cursor = psycopg.Cursor[tuple[Any, ...]]

SCHEMA_VERSION = 1
DEFAULT_PREFIX = "nullptr_auth_"
DEFAULT_TIMEOUT = 5.0
CHECK_SECONDS = 1.0
_NOTIFY_IDS = 200  # ids in one NOTIFY at most (its payload holds 8,000 bytes); more: "*"
_GRACE = 0.5  # past the deadline, for the server's own timeouts to answer first
_SCAN = 0.25  # how often the watchdog looks at the kept connections' deadlines
_NEVER = float("inf")
_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,38}")  # + "sessions_idle_expires_at" <= 63
_SESSION_COLUMNS = (
    "id, user_id, created_at, last_seen_at, expires_at, idle_expires_at,"
    " user_agent, ip, device, token_hash"
)
_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS {schema_version} (version integer NOT NULL)",
    """CREATE TABLE IF NOT EXISTS {meta} (name text PRIMARY KEY, value bytea NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS {users} (
        id text PRIMARY KEY,
        username text NOT NULL UNIQUE,
        password_hash text NOT NULL,
        created_at timestamptz NOT NULL,
        disabled boolean NOT NULL DEFAULT false)""",
    """CREATE TABLE IF NOT EXISTS {sessions} (
        id text PRIMARY KEY,
        user_id text NOT NULL,
        username text NOT NULL,
        token_hash bytea NOT NULL,
        created_at timestamptz NOT NULL,
        last_seen_at timestamptz NOT NULL,
        expires_at timestamptz,
        idle_expires_at timestamptz,
        user_agent text NOT NULL,
        ip text NOT NULL,
        device text NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS {failures} (
        key text PRIMARY KEY,
        count integer NOT NULL,
        last_failure_at timestamptz NOT NULL,
        ends_at timestamptz NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS {sessions_user_id} ON {sessions} (user_id)",
    "CREATE INDEX IF NOT EXISTS {sessions_expires_at} ON {sessions} (expires_at)",
    "CREATE INDEX IF NOT EXISTS {sessions_idle_expires_at} ON {sessions} (idle_expires_at)",
    """INSERT INTO {schema_version} (version)
        SELECT {version} WHERE NOT EXISTS (SELECT FROM {schema_version})""",
]
_QUERIES = {
    "add_user": "INSERT INTO {users} (id, username, password_hash, created_at, disabled)"
    " VALUES (%s, %s, %s, %s, %s)",
    "get_user": "SELECT id, username, password_hash, created_at, disabled FROM {users}"
    " WHERE username = %s",
    "list_users": "SELECT id, username, password_hash, created_at, disabled FROM {users}"
    ' ORDER BY username COLLATE "C"',
    "set_password_hash": "UPDATE {users} SET password_hash = %s WHERE id = %s",
    "set_disabled": "UPDATE {users} SET disabled = %s WHERE id = %s",
    "delete_user": "DELETE FROM {users} WHERE id = %s",
    "add_session": "INSERT INTO {sessions} (id, user_id, username, token_hash, created_at,"
    " last_seen_at, expires_at, idle_expires_at, user_agent, ip, device)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
    "live_sessions": "SELECT id FROM {sessions} WHERE user_id = %(user)s"
    " AND (expires_at IS NULL OR expires_at > %(now)s)"
    " AND (idle_expires_at IS NULL OR idle_expires_at > %(now)s)"
    ' ORDER BY last_seen_at, created_at, id COLLATE "C"',
    "find_session": "SELECT username, {columns} FROM {sessions} WHERE id = %s",
    "all_sessions": 'SELECT {columns} FROM {sessions} ORDER BY created_at, id COLLATE "C"',
    "user_sessions": "SELECT {columns} FROM {sessions} WHERE user_id = %s"
    ' ORDER BY created_at, id COLLATE "C"',
    "touch_session": "UPDATE {sessions} SET last_seen_at = %s, idle_expires_at = %s WHERE id = %s"
    " RETURNING id",
    "delete_session": "DELETE FROM {sessions} WHERE id = %s RETURNING id",
    "delete_owned_session": "DELETE FROM {sessions} WHERE id = %s AND user_id = %s RETURNING id",
    "delete_sessions": "DELETE FROM {sessions} WHERE user_id = %s AND id IS DISTINCT FROM %s::text"
    " RETURNING id",
    "evict": "DELETE FROM {sessions} WHERE id = ANY(%s) RETURNING id",
    "purge_sessions": "DELETE FROM {sessions}"
    " WHERE expires_at <= %(now)s OR idle_expires_at <= %(now)s RETURNING id",
    "notify": "SELECT pg_notify(%s, %s)",
    "purge_failures": "DELETE FROM {failures} WHERE ends_at <= %s",
    "count_attempt": "INSERT INTO {failures} AS f (key, count, last_failure_at, ends_at)"
    " VALUES (%(key)s, 1, %(now)s, %(ends)s) ON CONFLICT (key) DO UPDATE SET"
    " count = CASE WHEN f.ends_at <= excluded.last_failure_at THEN 1 ELSE f.count + 1 END,"
    " last_failure_at = excluded.last_failure_at, ends_at = excluded.ends_at"
    " WHERE f.ends_at <= excluded.last_failure_at OR f.count < %(ceiling)s"
    " RETURNING count",
    "counts_lazily": "SET LOCAL synchronous_commit = off",
    "get_failures": "SELECT count, last_failure_at FROM {failures} WHERE key = %s AND ends_at > %s",
    "uncount_attempt": "UPDATE {failures} SET count = count - 1 WHERE key = %s",
    "drop_empty_run": "DELETE FROM {failures} WHERE key = %s AND count <= 0",
    "clear_failures": "DELETE FROM {failures} WHERE key = %s",
    "check_credentials": "SELECT password_hash, disabled FROM {users} WHERE id = %s FOR SHARE",
    "keep_secret_key": "INSERT INTO {meta} (name, value) VALUES ('secret_key', %s)"
    " ON CONFLICT (name) DO NOTHING",
    "secret_key": "SELECT value FROM {meta} WHERE name = 'secret_key'",
    "lock": "SELECT pg_advisory_xact_lock(%s)",
    "schema_version": "SELECT version FROM {schema_version}",
}


class PostgresStore:
    """A :class:`~nullptr_auth.stores.base.Store` in PostgreSQL tables.

    :param url: a libpq URL, ``postgresql://user:password@host:port/dbname``
        (``postgres://`` too); a ``?table_prefix=`` query sets the table prefix, and
        ``?timeout=`` the timeout.
    :param table_prefix: the start of every table's name, an identifier of at most 39
        characters; overrides the URL's ``?table_prefix=``.
    :param max_connections: how many connections this object keeps at most.
    :param timeout: the most seconds any method takes, waiting for a connection
        included, before it gives up; overrides the URL's ``?timeout=`` (default 5).
    :param connect_timeout: seconds to wait for the server when connecting.
    :param cache_megabytes: the budget of the session cache (``_cache.py``); ``0`` reads
        every session from the database. Overrides the URL's ``?cache=off`` /
        ``?cache_mb=``.
    :raises ImportError: if psycopg or psycopg_pool is not installed.
    :raises ValueError: if the table prefix is not a plain identifier, or the timeout
        not a positive number.
    """

    def __init__(
        self,
        url: str,
        *,
        table_prefix: str | None = None,
        max_connections: int = 10,
        timeout: float | None = None,
        connect_timeout: int = 2,
        cache_megabytes: float | None = None,
    ) -> None:
        self._driver, self._pool_driver, sql = _driver()
        url, url_timeout = _split_query(url, "timeout")
        url, cache = _split_query(url, "cache")
        url, cache_mb = _split_query(url, "cache_mb")
        budget = megabytes_from(cache, cache_mb, cache_megabytes, default=0.0)
        self._url, url_prefix = _split_prefix(url)
        self.timeout = _timeout(timeout, url_timeout)
        self.table_prefix: str = (
            table_prefix if table_prefix is not None else url_prefix or DEFAULT_PREFIX
        )
        if not _PREFIX.fullmatch(self.table_prefix):
            raise ValueError(
                f"table_prefix {self.table_prefix!r} must be a letter or underscore followed"
                " by at most 38 letters, digits or underscores"
            )
        self._pool_options = {
            "max_size": max_connections,
            "timeout": self.timeout,
            "connect_timeout": min(connect_timeout, max(1, int(self.timeout))),
        }
        names = {
            name: sql.Identifier(f"{self.table_prefix}{name}") for name in _table_and_index_names()
        }
        names.update(columns=sql.SQL(_SESSION_COLUMNS), version=sql.Literal(SCHEMA_VERSION))
        self._schema = [sql.SQL(statement).format(**names) for statement in _SCHEMA]
        self._sql: dict[str, Any] = {  # psycopg.sql.Composed, then bytes (_ready_pool)
            key: sql.SQL(query).format(**names) for key, query in _QUERIES.items()
        }
        self._lock = threading.Lock()
        self._watchdog = _Watchdog()
        self._deadline = threading.local()
        self._used: weakref.WeakKeyDictionary[Connection, float] = weakref.WeakKeyDictionary()
        self._kept: Kept[_Kept] = Kept()  # threads' connections for reads: _kept_connection
        self._pool = self._new_pool()
        self._ready = False
        self.channel = f"{self.table_prefix}sessions"
        self._tracking = Tracking(
            postgres_listener(self._listening_connection, self.channel),
            f"nullptr_auth postgres listener {self.table_prefix}",
        )
        self.cache = SessionCache(self._tracking, megabytes=budget, max_age=MAX_AGE)

    def __repr__(self) -> str:
        parts = urlsplit(self._url)
        where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"
        return f"<PostgresStore {where} table_prefix={self.table_prefix!r}>"

    # -- users ------------------------------------------------------------------------
    def add_user(self, user: UserRecord) -> None:
        try:
            with self._transaction() as db:
                db.execute(
                    self._sql["add_user"],
                    (user.id, user.username, user.password_hash, user.created_at, user.disabled),
                )
        except StoreUnavailable as exc:
            if isinstance(exc.__cause__, self._driver.errors.UniqueViolation):
                raise UsernameTaken() from exc.__cause__
            raise

    def get_user(self, username: str) -> UserRecord | None:
        with self._transaction() as db:
            row = db.execute(self._sql["get_user"], (username,)).fetchone()
        return None if row is None else _user(row)

    def list_users(self) -> list[UserRecord]:
        with self._transaction() as db:
            rows = db.execute(self._sql["list_users"]).fetchall()
        return [_user(row) for row in rows]

    def set_password_hash(
        self, user_id: str, password_hash: str, *, end_sessions: bool, keep: str | None = None
    ) -> bool:
        with self._changing() as (db, ended):
            found = db.execute(self._sql["set_password_hash"], (password_hash, user_id)).rowcount
            if found and end_sessions:
                ended += self._ended(db, "delete_sessions", (user_id, keep))
        return found == 1

    def set_disabled(self, user_id: str, disabled: bool) -> bool:
        with self._changing() as (db, ended):
            found = db.execute(self._sql["set_disabled"], (disabled, user_id)).rowcount
            if found and disabled:
                ended += self._ended(db, "delete_sessions", (user_id, None))
        return found == 1

    def delete_user(self, user_id: str) -> bool:
        """The user first: that locks its row, so a login in flight waits, then sees it gone."""
        with self._changing() as (db, ended):
            found = db.execute(self._sql["delete_user"], (user_id,)).rowcount == 1
            ended += self._ended(db, "delete_sessions", (user_id, None))
        return found

    # -- sessions ---------------------------------------------------------------------
    def add_session(
        self,
        user: User,
        session: Session,
        *,
        limit: int | None = None,
        evict: bool = True,
        verified_hash: str | None = None,
    ) -> None:
        with self._changing() as (db, ended):
            if verified_hash is not None:
                # FOR SHARE holds the user row: a change to the user waits for this
                # session to commit (and then ends it), or this waits and sees the change.
                row = db.execute(self._sql["check_credentials"], (user.id,)).fetchone()
                if row is None or row[1] or not hmac.compare_digest(row[0], verified_hash):
                    raise CredentialsChanged()
            if limit is not None:
                ended += self._make_room(db, user.id, session.created_at, limit, evict)
            db.execute(
                self._sql["add_session"],
                (
                    session.id,
                    user.id,
                    user.username,
                    session.token_hash,
                    session.created_at,
                    session.last_seen_at,
                    session.expires_at,
                    session.idle_expires_at,
                    session.user_agent,
                    session.ip,
                    session.device,
                ),
            )

    def cache_stats(self) -> CacheStats | None:
        """The session cache's hits, misses, entries and bytes; ``None`` with it off.
        Read by :mod:`nullptr_auth.metrics` when scraped."""
        return self.cache.stats()

    def find_session(self, session_id: str) -> tuple[User, Session] | None:
        """From this process's cache while no ``NOTIFY`` has named the session since;
        else one prepared statement, one round trip."""
        return self.cache.get(session_id, self._read_session)

    def cached_session(self, session_id: str) -> tuple[User, Session] | None:
        """The session from this process's cache if it certainly holds now, without
        I/O (CachingStore: an event loop calls it); ``None`` when only a read can tell."""
        found = self.cache.peek(session_id)
        return None if found is MISS else found  # type: ignore[return-value]

    def _read_session(self, session_id: str) -> tuple[User, Session] | None:
        row = self._read_one(self._sql["find_session"], (session_id,))
        if row is None:
            return None
        session = _session(row[1:])
        return User(session.user_id, row[0]), session

    def list_sessions(self, user_id: str | None = None) -> list[Session]:
        with self._transaction() as db:
            if user_id is None:
                rows = db.execute(self._sql["all_sessions"]).fetchall()
            else:
                rows = db.execute(self._sql["user_sessions"], (user_id,)).fetchall()
        return [_session(row) for row in rows]

    def touch_session(
        self, session_id: str, last_seen_at: datetime, idle_expires_at: datetime | None
    ) -> None:
        with self._changing() as (db, ended):
            ended += self._ended(db, "touch_session", (last_seen_at, idle_expires_at, session_id))

    def delete_session(self, session_id: str, user_id: str | None = None) -> bool:
        with self._changing() as (db, ended):
            if user_id is None:
                ended += self._ended(db, "delete_session", (session_id,))
            else:
                ended += self._ended(db, "delete_owned_session", (session_id, user_id))
        return len(ended) == 1

    def delete_sessions(self, user_id: str, *, keep: str | None = None) -> int:
        with self._changing() as (db, ended):
            ended += self._ended(db, "delete_sessions", (user_id, keep))
        return len(ended)

    def purge_sessions(self, now: datetime) -> int:
        with self._changing() as (db, ended):
            db.execute(self._sql["purge_failures"], (now,))
            ended += self._ended(db, "purge_sessions", {"now": now})
        return len(ended)

    # -- throttling counters ----------------------------------------------------------
    def reserve_attempts(self, reservations: Sequence[Reservation], now: datetime) -> int | None:
        """Each count is one conditional upsert, holding its row until all are made.

        Rows are taken in key order, here and in :meth:`release_attempts`, so two
        transactions on overlapping keys queue instead of deadlocking.
        """
        try:
            with self._transaction() as db:
                db.execute(self._sql["counts_lazily"])
                by_key = sorted(enumerate(reservations), key=lambda pair: pair[1].key)
                for index, reservation in by_key:
                    counted = db.execute(
                        self._sql["count_attempt"],
                        {
                            "key": reservation.key,
                            "now": now,
                            "ends": now + reservation.window,
                            "ceiling": reservation.ceiling,
                        },
                    ).fetchone()
                    if counted is None:
                        raise _Refused(index)
        except _Refused as refused:  # raised inside: the transaction was rolled back
            return refused.index
        return None

    def get_failures(self, key: str, now: datetime) -> tuple[int, datetime] | None:
        with self._transaction() as db:
            row = db.execute(self._sql["get_failures"], (key, now)).fetchone()
        return None if row is None else (int(row[0]), _utc(row[1]))

    def release_attempts(self, uncount: Sequence[str], end: Sequence[str]) -> None:
        with self._transaction() as db:
            db.execute(self._sql["counts_lazily"])
            for key in sorted({*uncount, *end}):
                if key in end:
                    db.execute(self._sql["clear_failures"], (key,))
                else:
                    db.execute(self._sql["uncount_attempt"], (key,))
                    db.execute(self._sql["drop_empty_run"], (key,))

    # -- the signing key --------------------------------------------------------------
    def get_or_create_secret_key(self, candidate: bytes) -> bytes:
        """The kept key, read first: only a database without one is written to."""
        with self._transaction() as db:
            row = db.execute(self._sql["secret_key"]).fetchone()
            if row is None:
                db.execute(self._sql["keep_secret_key"], (candidate,))
                row = db.execute(self._sql["secret_key"]).fetchone()
        return bytes(_first(row))

    def close(self) -> None:
        """Close every connection of the pool; the next use opens a new pool."""
        self._tracking.close()
        self.cache.clear()
        with self._lock:
            pool, self._pool, self._ready = self._pool, self._new_pool(), False
            kept = self._kept.clear()
        for reader in kept:
            self._watchdog.forget(reader.slot)
            pool.putconn(reader.connection)
        pool.close()

    # -- connections ------------------------------------------------------------------
    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """A pooled connection in one transaction, within the timeout; driver errors
        (a pool timeout, a cancelled statement, a socket shut by the watchdog) become
        StoreUnavailable."""
        with self._connection() as connection, connection.transaction():
            yield connection

    @contextmanager
    def _connection(self, deadline: float | None = None) -> Iterator[Connection]:
        """A pooled connection, in autocommit: one statement is one round trip, with no
        ``BEGIN`` and ``COMMIT`` around it. Within the timeout (or ``deadline``), like
        ``_transaction``."""
        if deadline is None:
            deadline = time.monotonic() + self.timeout
        self._deadline.at = deadline
        try:
            pool = self._ready_pool(deadline)
            # The watch outlives the pool's block: leaving it commits, which may hang too.
            with (
                self._watchdog.watching(deadline + _GRACE) as watch,
                pool.connection(timeout=_left(deadline)) as connection,
            ):
                watch(connection)
                yield connection
                self._used[connection] = time.monotonic()
        except (self._driver.Error, self._pool_driver.PoolTimeout) as exc:
            raise StoreUnavailable() from exc

    @contextmanager
    def _changing(self) -> Iterator[tuple[Connection, list[str]]]:
        """A transaction that may end or change sessions: the caller adds their ids to
        the list. Every process hears of them by a ``NOTIFY`` sent in the same
        transaction; this process refuses them as soon as it commits."""
        ended: list[str] = []
        with self._transaction() as db:
            yield db, ended
            if ended:
                payload = " ".join(ended) if len(ended) <= _NOTIFY_IDS else "*"
                db.execute(self._sql["notify"], (self.channel, payload))
        if len(ended) > _NOTIFY_IDS:
            self._tracking.changed_all()
        else:
            self._tracking.changed(ended)

    def _ended(self, db: Connection, query: str, arguments: Any) -> list[str]:
        """Run a statement that answers the ids of the sessions it changed."""
        return [row[0] for row in db.execute(self._sql[query], arguments)]

    def _listening_connection(self) -> Connection:
        """The listener's own connection, outside the pool."""
        connection: Connection = self._driver.connect(
            self._url,
            autocommit=True,
            application_name=f"nullptr_auth listener {self.table_prefix}",
            **self._connect_options(),
        )
        return connection

    def _read_one(self, query: bytes, arguments: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """One row of one prepared statement in one round trip, on this thread's kept
        connection (see :meth:`_kept_connection`), or through the pool.

        A connection that turns out to be dead (the server restarted since its last
        use, which is why the pool did not check it) is tried once more on another,
        within the same deadline.
        """
        deadline = time.monotonic() + self.timeout
        for attempt in (1, 2):
            try:
                reader = self._kept_connection(deadline)
                if reader is None:
                    with self._connection(deadline) as db:
                        row: tuple[Any, ...] | None = db.execute(
                            query, arguments, prepare=True
                        ).fetchone()
                        return row
                reader.slot.deadline = deadline + _GRACE  # the watchdog's: one per call
                try:
                    row = reader.cursor.execute(query, arguments, prepare=True).fetchone()
                except BaseException:
                    self._give_back(reader)
                    raise
                finally:
                    reader.slot.deadline = _NEVER
                reader.used = time.monotonic()
                return row
            except (self._driver.Error, self._pool_driver.PoolTimeout) as exc:
                lost = isinstance(exc, self._driver.OperationalError) and _connection_lost(exc)
                if attempt == 2 or not lost or time.monotonic() >= deadline:
                    raise StoreUnavailable() from exc
            except StoreUnavailable as exc:
                cause = exc.__cause__
                lost = isinstance(cause, self._driver.OperationalError) and _connection_lost(cause)
                if attempt == 2 or not lost or time.monotonic() >= deadline:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _kept_connection(self, deadline: float) -> _Kept | None:
        """This thread's connection for reads, checked out of the pool once and kept,
        or ``None`` when half the pool is kept already (the rest stays for writes and
        for other threads).

        A checkout and return through the pool cost 70,000 instructions a read, twice
        the statement's own (docs/performance.md, stop 18); a kept one costs a look-up.
        It is checked as the pool would, after a second unused; the watchdog watches it
        through a slot of its own (:meth:`_Watchdog.keep`), set once per call. A kept
        connection that failed goes back to the pool, which replaces a broken one; so
        does the connection of a thread that has ended, when another thread keeps one.
        """
        reader = self._kept.mine()
        if reader is not None:
            if time.monotonic() - reader.used < CHECK_SECONDS:
                return reader
            self._deadline.at = deadline
            try:
                self._check(reader.connection)
            except BaseException:
                self._give_back(reader)
                raise
            return reader
        pool = self._ready_pool(deadline)

        def take() -> _Kept:
            self._deadline.at = deadline
            connection = pool.getconn(timeout=_left(deadline))
            slot = self._watchdog.keep(connection)
            return _Kept(connection, connection.cursor(), slot, time.monotonic())

        def release(ended: _Kept) -> None:
            self._watchdog.forget(ended.slot)
            pool.putconn(ended.connection)

        limit = int(self._pool_options["max_size"]) // 2
        return self._kept.keep(take, limit=limit, release=release)

    def _give_back(self, reader: _Kept) -> None:
        """Return a kept connection to the pool (after an error: it may be broken)."""
        self._kept.drop(reader)
        self._watchdog.forget(reader.slot)
        with suppress(Exception):
            self._pool.putconn(reader.connection)

    def _ready_pool(self, deadline: float) -> psycopg_pool.ConnectionPool[Connection]:
        """The pool, opened and with the tables created on first use.

        Only opening takes the lock: callers wait for a first connection side by side,
        each within its own deadline, not one after another.
        """
        with self._lock:
            pool = self._pool
            if not self._ready:
                pool.open(wait=False)
        if not self._ready:
            with (
                self._watchdog.watching(deadline + _GRACE) as watch,
                pool.connection(timeout=_left(deadline)) as connection,
            ):
                watch(connection)
                with connection.transaction():
                    self._create_tables(connection)
                # Rendered once: psycopg would compose each statement anew on every
                # execute, a third of a read's time in Python (docs/performance.md).
                self._sql = {key: _bytes(query, connection) for key, query in self._sql.items()}
            self._ready = True
        return pool

    def _configure(self, connection: Connection) -> None:
        """Bound every statement and lock wait on a new connection by the timeout."""
        milliseconds = str(int(self.timeout * 1000))
        settings = {"statement_timeout": milliseconds, "lock_timeout": milliseconds}
        # timestamptz values then arrive in datetime.timezone.utc, with nothing to convert
        settings["TimeZone"] = "UTC"
        for setting, value in settings.items():
            connection.execute("SELECT set_config(%s, %s, false)", (setting, value))
        connection.commit()

    def _check(self, connection: Connection) -> None:
        """The pool's check of a connection it hands out, under the caller's deadline:
        a frozen server would otherwise hang it.

        A connection that answered within the last second is handed out unchecked: a
        check is a round trip, and on a busy site it would double the cost of a read.
        """
        used = self._used.get(connection)
        if used is not None and time.monotonic() - used < CHECK_SECONDS:
            return
        deadline = getattr(self._deadline, "at", time.monotonic() + self.timeout)
        with self._watchdog.watching(deadline + _GRACE) as watch:
            watch(connection)
            self._pool_driver.ConnectionPool.check_connection(connection)

    def _connect_options(self) -> dict[str, Any]:
        return {
            "connect_timeout": self._pool_options["connect_timeout"],
            # A peer that vanished (a machine down, packets dropped) is noticed in
            # seconds, not in the kernel's two hours.
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 2,
            "tcp_user_timeout": int(self._pool_options["timeout"] * 1000),
        }

    def _new_pool(self) -> psycopg_pool.ConnectionPool[Connection]:
        options = self._pool_options
        pool: psycopg_pool.ConnectionPool[Connection] = self._pool_driver.ConnectionPool(
            self._url,
            min_size=1,
            max_size=options["max_size"],
            open=False,
            timeout=options["timeout"],
            reconnect_timeout=10.0,
            configure=self._configure,
            check=self._check,
            kwargs={
                "autocommit": True,  # transactions are explicit: see _transaction
                **self._connect_options(),
            },
            name=f"nullptr_auth {self.table_prefix}",
        )
        return pool

    def _create_tables(self, connection: Connection) -> None:
        connection.execute(self._sql["lock"], (_lock_key("schema", self.table_prefix),))
        for statement in self._schema:
            connection.execute(statement)
        versions = connection.execute(self._sql["schema_version"]).fetchall()
        if versions != [(SCHEMA_VERSION,)]:
            raise StoreUnavailable(
                f"the {self.table_prefix}* tables are at schema version {versions},"
                f" and this nullptr_auth knows version {SCHEMA_VERSION}"
            )

    def _make_room(
        self, db: Connection, user_id: str, now: datetime, limit: int, evict: bool
    ) -> list[str]:
        """End the least recently used sessions so that one more fits, holding the user."""
        db.execute(self._sql["lock"], (_lock_key("user", self.table_prefix, user_id),))
        found = db.execute(self._sql["live_sessions"], {"user": user_id, "now": now})
        live = [row[0] for row in found]
        excess = len(live) + 1 - limit
        if excess > 0 and not evict:
            raise TooManySessions()
        if excess > 0:
            return self._ended(db, "evict", (live[:excess],))
        return []


class _Refused(Exception):
    """Rolls back a reservation that a full run refused; carries its index."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


def _driver() -> tuple[Any, Any, Any]:
    """psycopg, psycopg_pool and psycopg.sql, imported on first use: they stay optional."""
    try:
        import psycopg
        import psycopg_pool
        from psycopg import sql
    except ImportError as exc:
        raise ImportError(
            "the PostgreSQL store needs psycopg and psycopg_pool:"
            " pip install 'nullptr_auth[postgres]'"
        ) from exc
    return psycopg, psycopg_pool, sql


def _split_prefix(url: str) -> tuple[str, str | None]:
    """The URL without its ``table_prefix`` query argument (libpq would refuse it)."""
    return _split_query(url, "table_prefix")


def _split_query(url: str, argument: str) -> tuple[str, str | None]:
    """The URL without one of our query arguments, and its (last) value."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    values = [value for name, value in query if name == argument]
    rest = urlencode([(name, value) for name, value in query if name != argument])
    return urlunsplit(parts._replace(query=rest)), (values[-1] if values else None)


def _timeout(given: float | None, in_url: str | None) -> float:
    """The timeout: the argument, else the URL's, else the default; a positive number."""
    if given is None:
        try:
            given = DEFAULT_TIMEOUT if in_url is None else float(in_url)
        except ValueError:
            given = -1.0
    if not 0 < given < float("inf"):
        raise ValueError(f"timeout must be a positive number of seconds, not {in_url or given!r}")
    return given


def _left(deadline: float) -> float:
    return max(0.01, deadline - time.monotonic())


class _Slot:
    """A kept connection's deadline, which its thread sets once per call (``_NEVER``
    between calls) and the watchdog reads without a lock."""

    __slots__ = ("deadline", "fd")

    def __init__(self, fd: int) -> None:
        self.deadline = _NEVER
        self.fd = fd


class _Kept:
    """A thread's connection for reads, kept out of the pool: a cursor kept with it
    (making one, with its adapters, cost 28,000 instructions a read: docs/performance.md,
    stop 19), its watchdog slot, and when it last answered."""

    __slots__ = ("connection", "cursor", "slot", "used")

    def __init__(self, connection: Connection, cursor: Cursor, slot: _Slot, used: float) -> None:
        self.connection = connection
        self.cursor = cursor
        self.slot = slot
        self.used = used


class _Watchdog:
    """Shuts down the socket of a transaction that outlives its deadline.

    A frozen server (``SIGSTOP``, a hung machine behind a live network) answers no
    statement, and its kernel may still acknowledge every packet, so neither the
    server's timeouts nor TCP's notice. ``shutdown`` on the socket makes the blocked
    read return at once; unlike closing it, it is safe from another thread.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._watched: dict[int, tuple[float, int]] = {}  # ticket -> (deadline, socket)
        self._tickets = itertools.count()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._wakes_at = -1.0  # when the thread wakes up next (inf: when notified)
        self._slots: set[_Slot] = set()  # kept connections': scanned every _SCAN s

    @contextmanager
    def watching(self, deadline: float) -> Iterator[Callable[[Connection], None]]:
        """Within the block, the connection passed to the function it gives is watched."""
        ticket = next(self._tickets)

        def watch(connection: Connection) -> None:
            with self._condition:
                self._start()
                self._watched[ticket] = (deadline, connection.pgconn.socket)
                if deadline < self._wakes_at:  # it sleeps past this deadline: wake it
                    self._condition.notify()

        try:
            yield watch
        finally:
            with self._condition:
                self._watched.pop(ticket, None)

    def keep(self, connection: Connection) -> _Slot:
        """A slot for a kept connection: its thread sets ``deadline`` for each call, with
        one assignment and no lock; the watchdog looks at every slot each ``_SCAN``
        seconds, so a call past its deadline is shut down at most that much later."""
        slot = _Slot(connection.pgconn.socket)
        with self._condition:
            self._start()
            self._slots.add(slot)
            if self._wakes_at > time.monotonic() + _SCAN:
                self._condition.notify()
        return slot

    def forget(self, slot: _Slot) -> None:
        with self._condition:
            self._slots.discard(slot)

    def _start(self) -> None:
        """One thread per process that uses the store (a fork has none of its parent's)."""
        if self._thread is None or self._pid != os.getpid():
            self._pid = os.getpid()
            # A fork's copies name the parent's sockets, which are not its to shut.
            self._watched.clear()
            self._slots.clear()
            self._wakes_at = -1.0
            self._thread = threading.Thread(
                target=self._run, name="nullptr_auth postgres watchdog", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        with self._condition:
            while True:
                now = time.monotonic()
                for ticket, (deadline, fd) in list(self._watched.items()):
                    if deadline <= now:
                        del self._watched[ticket]
                        _shut_down(fd)
                for slot in self._slots:
                    if slot.deadline <= now:
                        slot.deadline = _NEVER
                        _shut_down(slot.fd)
                nearest = min((deadline for deadline, _ in self._watched.values()), default=None)
                if self._slots:
                    nearest = min(nearest or _NEVER, now + _SCAN)
                self._wakes_at = float("inf") if nearest is None else nearest
                self._condition.wait(None if nearest is None else max(0.0, nearest - now))
                self._wakes_at = -1.0


def _bytes(query: Any, connection: Connection) -> bytes:
    """A ``psycopg.sql.Composed`` statement as the bytes the server is sent."""
    return query if isinstance(query, bytes) else cast("bytes", query.as_bytes(connection))


def _connection_lost(error: BaseException) -> bool:
    """Whether a driver error says the connection is gone (not a statement's error)."""
    return getattr(error, "sqlstate", None) is None


def _shut_down(fd: int) -> None:
    with suppress(OSError):
        stuck = socket.socket(fileno=os.dup(fd))
        try:
            stuck.shutdown(socket.SHUT_RDWR)
        finally:
            stuck.close()


def _table_and_index_names() -> list[str]:
    tables = ["schema_version", "meta", "users", "sessions", "failures"]
    indexes = ["sessions_user_id", "sessions_expires_at", "sessions_idle_expires_at"]
    return tables + indexes


def _lock_key(*parts: str) -> int:
    """A 64-bit advisory lock key for these parts (collisions only make a lock shared)."""
    digest = hashlib.blake2b("\0".join(("nullptr_auth", *parts)).encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def _first(row: tuple[Any, ...] | None) -> Any:
    """The first column of a row the statement always answers."""
    if row is None:
        raise StoreUnavailable("the database answered no row where one was due")
    return row[0]


def _utc(moment: datetime) -> datetime:
    """In UTC: as every connection's ``TimeZone`` (``_configure``) gives it already."""
    return moment if moment.tzinfo is timezone.utc else moment.astimezone(timezone.utc)


def _optional_utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else _utc(moment)


def _user(row: Any) -> UserRecord:
    user_id, username, password_hash, created_at, disabled = row
    return UserRecord(user_id, username, password_hash, _utc(created_at), bool(disabled))


def _session(row: Any) -> Session:
    """The session of a row; its times are converted only when they are not in UTC
    already (one look: every time of a row comes in its connection's ``TimeZone``)."""
    session_id, user_id, created, last_seen, expires, idle, agent, ip, device, token_hash = row
    if created.tzinfo is not timezone.utc:
        created, last_seen = _utc(created), _utc(last_seen)
        expires, idle = _optional_utc(expires), _optional_utc(idle)
    return Session(
        session_id,
        user_id,
        created,
        last_seen,
        expires,
        idle,
        agent,
        ip,
        device,
        bytes(token_hash),
    )
