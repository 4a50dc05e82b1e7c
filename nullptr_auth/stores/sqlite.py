"""``sqlite:///path.db``: the embedded default, for one machine and any number of processes.

Every thread gets its own connection; the database runs in WAL mode with a busy
timeout, so readers never wait for writers and concurrent writers queue instead of
failing. ``synchronous=FULL`` makes a login that answered ``200`` survive a crash of the
process or the machine. The file is created readable by its owner only (mode 0600),
because it holds the signing key when none is configured.

Tables are prefixed ``nullptr_auth_`` so they can live in an application's own database;
``PRAGMA user_version`` records the schema version for later migrations.

Authentication reads a session on every request, and Python's ``sqlite3`` releases the
GIL around each step: in a threaded server a busy neighbour thread can then make every
read wait milliseconds for the GIL. So each process keeps the sessions it has read in a
small cache, and a file of change counters in shared memory (``<path>-revocations``,
see ``_revocations.py``) tells it, without a system call, when any process has ended or
touched a cached session since: an ended session is refused on the very next request
everywhere. A cached copy is also never older than a few seconds.

Files change under running processes, and the store notices (see ``docs/deploying.md``):

- The database and the counter file are found by the resolved path, so a process that
  reaches the database through a symlink shares the counters of one that does not.
- Before each write, and at least once a second while sessions are read or served from
  the cache, the store checks that the file at the path is the one it opened. A
  file that is gone answers ``503`` (the reason is logged) until it is back, and is never
  re-created by a process that has used it; a file replaced by another reopens on it.
- A connection that failed with anything but a constraint violation is closed, and the
  next use opens a new one: a disk that was full or read-only does not leave it broken.
- An existing file is opened for writing, or not at all: a read-only one is an error,
  never a connection that fails on its first write.
- A warning names the database file or a side file (``-wal``, ``-shm``,
  ``-revocations``) that others than its owner may read: they hold the signing key.
"""

from __future__ import annotations

import contextlib
import errno
import hmac
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from ..errors import CredentialsChanged, StoreUnavailable, TooManySessions, UsernameTaken
from ..models import Session, User, UserRecord
from ._cache import DEFAULT_MEGABYTES, MISS, CacheStats, SessionCache
from ._revocations import CHECK_SECONDS, Revocations, Stamp
from .base import Reservation

SCHEMA_VERSION = 2
_UTC = timezone.utc
_from_timestamp = datetime.fromtimestamp  # bound once: two look-ups less a time read
CACHE_SECONDS = 5.0
_SIDE_FILES = ("", "-wal", "-shm", "-revocations")
logger = logging.getLogger(__name__)
_SESSIONS_TABLE = """{name} (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    username TEXT NOT NULL,
    token_hash BLOB NOT NULL,
    created_at REAL NOT NULL,
    last_seen_at REAL NOT NULL,
    expires_at REAL,
    idle_expires_at REAL,
    user_agent TEXT NOT NULL,
    ip TEXT NOT NULL,
    device TEXT NOT NULL
) WITHOUT ROWID"""
"""Sessions are found by their id alone: keyed by it, without a rowid, one B-tree search
answers a read instead of the id's index and then the table (1.3-2.4 µs of a 12 µs read
over 100,000 sessions, docs/performance.md, stop 23)."""
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS nullptr_auth_meta (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS nullptr_auth_users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS {_SESSIONS_TABLE.format(name="nullptr_auth_sessions")};
CREATE TABLE IF NOT EXISTS nullptr_auth_failures (
    key TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    last_failure_at REAL NOT NULL,
    ends_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS nullptr_auth_sessions_user
    ON nullptr_auth_sessions (user_id);
CREATE INDEX IF NOT EXISTS nullptr_auth_sessions_expires
    ON nullptr_auth_sessions (expires_at);
CREATE INDEX IF NOT EXISTS nullptr_auth_sessions_idle
    ON nullptr_auth_sessions (idle_expires_at);
"""
_UPGRADES = {
    1: f"""
CREATE TABLE {_SESSIONS_TABLE.format(name="nullptr_auth_sessions_v2")};
INSERT INTO nullptr_auth_sessions_v2 SELECT
    id, user_id, username, token_hash, created_at, last_seen_at, expires_at,
    idle_expires_at, user_agent, ip, device
FROM nullptr_auth_sessions;
DROP TABLE nullptr_auth_sessions;
ALTER TABLE nullptr_auth_sessions_v2 RENAME TO nullptr_auth_sessions;
""",  # noqa: S608 - constants of this module only
}
"""What brings the tables of each earlier version to the next, before :data:`_SCHEMA`
creates whatever is missing (the sessions' indexes, dropped with their old table)."""
_SESSION_COLUMNS = (
    "s.id, s.user_id, s.created_at, s.last_seen_at, s.expires_at, s.idle_expires_at,"
    " s.user_agent, s.ip, s.device, s.token_hash"
)
_FIND_SESSION = (
    "SELECT username, user_id, created_at, last_seen_at, expires_at, idle_expires_at,"
    " user_agent, ip, device, token_hash FROM nullptr_auth_sessions WHERE id = ?"
)
"""Not the id: it is the one asked for (each column answered costs some 1,500
instructions: docs/performance.md, stop 19)."""
_LIVE_COUNT = "SELECT count FROM nullptr_auth_failures WHERE key = ? AND ends_at > ?"
_COUNT_ATTEMPT = """
INSERT INTO nullptr_auth_failures VALUES (:key, 1, :now, :now + :window)
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN ends_at <= :now THEN 1 ELSE count + 1 END,
    last_failure_at = :now,
    ends_at = :now + :window
"""


class SQLiteStore:
    """A :class:`~nullptr_auth.stores.base.Store` in one SQLite file.

    :param path: the database file; created (mode 0600) on first use; symlinks are
        resolved, once, here.
    :param busy_timeout: seconds a writer waits for another before giving up.
    :param cache_megabytes: the budget of the session cache (see ``_cache.py``); ``0``
        reads every session from the database.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 10.0,
        cache_megabytes: float = DEFAULT_MEGABYTES,
    ) -> None:
        self.path = os.fspath(path)
        self.busy_timeout = busy_timeout
        self._file = os.path.realpath(self.path)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: dict[threading.Thread, sqlite3.Connection] = {}
        self._schema_ready: tuple[int, int] | None = None  # the file whose schema is checked
        self._opened: tuple[int, int] | None = None  # the file last opened
        self._next_check = 0.0  # of the file at the path, by a cache hit
        self._next_read_check = 0.0  # by a read
        self._fault: str | None = None
        self._abandoned: list[sqlite3.Connection] = []
        self._revocations = Revocations(f"{self._file}-revocations")
        self.cache = SessionCache(self, megabytes=cache_megabytes, max_age=CACHE_SECONDS)

    def __repr__(self) -> str:
        return f"<SQLiteStore {self.path!r}>"

    # -- users ------------------------------------------------------------------------
    def add_user(self, user: UserRecord) -> None:
        try:
            with self._cursor() as db:
                db.execute(
                    "INSERT INTO nullptr_auth_users VALUES (?, ?, ?, ?, ?)",
                    (
                        user.id,
                        user.username,
                        user.password_hash,
                        user.created_at.timestamp(),
                        user.disabled,
                    ),
                )
        except StoreUnavailable as exc:
            if isinstance(exc.__cause__, sqlite3.IntegrityError):
                raise UsernameTaken() from exc.__cause__
            raise

    def get_user(self, username: str) -> UserRecord | None:
        with self._cursor() as db:
            row = db.execute(
                "SELECT * FROM nullptr_auth_users WHERE username = ?", (username,)
            ).fetchone()
        return None if row is None else _user(row)

    def list_users(self) -> list[UserRecord]:
        with self._cursor() as db:
            rows = db.execute("SELECT * FROM nullptr_auth_users ORDER BY username").fetchall()
        return [_user(row) for row in rows]

    def set_password_hash(
        self, user_id: str, password_hash: str, *, end_sessions: bool, keep: str | None = None
    ) -> bool:
        return self._update_user(
            "password_hash", password_hash, user_id, end_sessions=end_sessions, keep=keep
        )

    def set_disabled(self, user_id: str, disabled: bool) -> bool:
        return self._update_user("disabled", disabled, user_id, end_sessions=disabled)

    def _update_user(
        self,
        column: str,
        value: object,
        user_id: str,
        *,
        end_sessions: bool,
        keep: str | None = None,
    ) -> bool:
        """Set one column of a user and, in the same transaction, end their sessions."""
        with self._cursor() as db:
            found = (
                db.execute(
                    f"UPDATE nullptr_auth_users SET {column} = ? WHERE id = ?",  # noqa: S608 - a constant
                    (value, user_id),
                ).rowcount
                == 1
            )
            ended = found and end_sessions and _delete_sessions(db, user_id, keep) > 0
        if ended:
            self._changed_all()
        return found

    def delete_user(self, user_id: str) -> bool:
        with self._cursor() as db:
            ended = _delete_sessions(db, user_id, None)
            found = db.execute("DELETE FROM nullptr_auth_users WHERE id = ?", (user_id,)).rowcount
        if ended:
            self._changed_all()
        return found == 1

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
        evicted: list[str] = []
        checked = limit is not None or verified_hash is not None
        with self._cursor(immediate=checked) as db:
            if verified_hash is not None:
                _check_credentials(db, user.id, verified_hash)
            if limit is not None:
                evicted = _make_room(db, user.id, session.created_at.timestamp(), limit, evict)
            db.execute(
                "INSERT INTO nullptr_auth_sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    session.id,
                    session.user_id,
                    user.username,
                    session.token_hash,
                    session.created_at.timestamp(),
                    session.last_seen_at.timestamp(),
                    _timestamp(session.expires_at),
                    _timestamp(session.idle_expires_at),
                    session.user_agent,
                    session.ip,
                    session.device,
                ),
            )
        if evicted:
            self._changed(evicted)

    def cache_stats(self) -> CacheStats | None:
        """The session cache's hits, misses, entries and bytes; ``None`` with it off.
        Read by :mod:`nullptr_auth.metrics` when scraped."""
        return self.cache.stats()

    def find_session(self, session_id: str) -> tuple[User, Session] | None:
        """From this process's cache while no process has changed the session since.

        A miss checks that the counters are the shared ones; when they cannot be
        trusted, the session is read from the database and not cached.
        """
        return self.cache.get(session_id, self._read_session)

    def _read_session(self, session_id: str) -> tuple[User, Session] | None:
        row = self._read_one(_FIND_SESSION, (session_id,))
        if row is None:
            return None
        username, user_id, created, seen, expires, idle, agent, ip, device, token_hash = row
        session = Session(
            session_id,
            user_id,
            _from_timestamp(created, _UTC),
            _from_timestamp(seen, _UTC),
            None if expires is None else _from_timestamp(expires, _UTC),
            None if idle is None else _from_timestamp(idle, _UTC),
            agent,
            ip,
            device,
            token_hash,
        )
        return User(user_id, username), session

    def cached_session(self, session_id: str) -> tuple[User, Session] | None:
        """The session from this process's cache if it certainly holds now, without
        I/O (CachingStore: an event loop calls it); ``None`` when only a read can tell."""
        found = self.cache.peek(session_id)
        return None if found is MISS else found  # type: ignore[return-value]

    def list_sessions(self, user_id: str | None = None) -> list[Session]:
        query = f"SELECT {_SESSION_COLUMNS} FROM nullptr_auth_sessions s"  # noqa: S608
        with self._cursor() as db:
            if user_id is None:
                rows = db.execute(f"{query} ORDER BY s.created_at, s.id").fetchall()
            else:
                rows = db.execute(
                    f"{query} WHERE s.user_id = ? ORDER BY s.created_at, s.id", (user_id,)
                ).fetchall()
        return [_session(row) for row in rows]

    def touch_session(
        self, session_id: str, last_seen_at: datetime, idle_expires_at: datetime | None
    ) -> None:
        with self._cursor() as db:
            db.execute(
                "UPDATE nullptr_auth_sessions SET last_seen_at = ?, idle_expires_at = ?"
                " WHERE id = ?",
                (last_seen_at.timestamp(), _timestamp(idle_expires_at), session_id),
            )
        self._changed([session_id])

    def delete_session(self, session_id: str, user_id: str | None = None) -> bool:
        with self._cursor() as db:
            if user_id is None:
                cursor = db.execute("DELETE FROM nullptr_auth_sessions WHERE id = ?", (session_id,))
            else:
                cursor = db.execute(
                    "DELETE FROM nullptr_auth_sessions WHERE id = ? AND user_id = ?",
                    (session_id, user_id),
                )
        if cursor.rowcount == 1:
            self._changed([session_id])
        return cursor.rowcount == 1

    def delete_sessions(self, user_id: str, *, keep: str | None = None) -> int:
        with self._cursor() as db:
            ended = _delete_sessions(db, user_id, keep)
        if ended:
            self._changed_all()
        return ended

    def purge_sessions(self, now: datetime) -> int:
        with self._cursor() as db:
            db.execute("DELETE FROM nullptr_auth_failures WHERE ends_at <= ?", (now.timestamp(),))
            purged = db.execute(
                "DELETE FROM nullptr_auth_sessions"
                " WHERE expires_at <= :now OR idle_expires_at <= :now",
                {"now": now.timestamp()},
            ).rowcount
        if purged:
            self._changed_all()
        return purged

    # -- throttling counters ----------------------------------------------------------
    def reserve_attempts(self, reservations: Sequence[Reservation], now: datetime) -> int | None:
        """In one write transaction; committed without waiting for the disk (see _cursor)."""
        moment = now.timestamp()
        with self._cursor(immediate=True, durable=False) as db:
            for index, reservation in enumerate(reservations):
                row = db.execute(_LIVE_COUNT, (reservation.key, moment)).fetchone()
                if row is not None and row[0] >= reservation.ceiling:
                    return index
            db.executemany(
                _COUNT_ATTEMPT,
                [
                    {"key": r.key, "now": moment, "window": r.window.total_seconds()}
                    for r in reservations
                ],
            )
        return None

    def get_failures(self, key: str, now: datetime) -> tuple[int, datetime] | None:
        with self._cursor() as db:
            row = db.execute(
                "SELECT count, last_failure_at FROM nullptr_auth_failures"
                " WHERE key = ? AND ends_at > ?",
                (key, now.timestamp()),
            ).fetchone()
        return None if row is None else (int(row[0]), datetime.fromtimestamp(row[1], timezone.utc))

    def release_attempts(self, uncount: Sequence[str], end: Sequence[str]) -> None:
        uncounted = [(key,) for key in uncount]
        with self._cursor(durable=False) as db:
            db.executemany(
                "UPDATE nullptr_auth_failures SET count = count - 1 WHERE key = ?", uncounted
            )
            db.executemany(
                "DELETE FROM nullptr_auth_failures WHERE key = ? AND count <= 0", uncounted
            )
            db.executemany(
                "DELETE FROM nullptr_auth_failures WHERE key = ?", [(key,) for key in end]
            )

    # -- the signing key --------------------------------------------------------------
    def get_or_create_secret_key(self, candidate: bytes) -> bytes:
        """The kept key, read first: only a database without one is written to."""
        query = "SELECT value FROM nullptr_auth_meta WHERE name = 'secret_key'"
        with self._cursor() as db:
            row = db.execute(query).fetchone()
        if row is None:
            with self._cursor() as db:
                db.execute(
                    "INSERT OR IGNORE INTO nullptr_auth_meta VALUES ('secret_key', ?)",
                    (candidate,),
                )
                row = db.execute(query).fetchone()
        return bytes(row[0])

    def backup(self, path: str | os.PathLike[str]) -> None:
        """Copy the database, consistently, to a new file (owner-only) with SQLite's
        online backup: running processes go on reading and writing meanwhile.

        :raises FileExistsError: if ``path`` exists.
        :raises StoreUnavailable: if the database cannot be read.
        """
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        with self._cursor() as db:
            target = sqlite3.connect(path)
            try:
                db.backup(target)
            finally:
                target.close()

    def close(self) -> None:
        """Close every connection this store opened, in any thread; the next use reopens."""
        with self._lock:
            self._local = threading.local()
            for connection in self._connections.values():
                connection.close()
            self._connections.clear()
            self.cache.clear()
        self._revocations.close()

    # -- the cache of sessions --------------------------------------------------------
    def stamp(self, session_id: str, *, check: bool = False) -> Stamp | None:
        """The cache's :class:`~nullptr_auth.stores._cache.Channel`: the session's change
        counters, and ``None`` once a second if the file at the path is not the one open."""
        if not check:
            now = time.monotonic()
            if now >= self._next_check:  # at most once a second, the file at the path
                self._next_check = now + CHECK_SECONDS
                if _identity(self._file) != self._opened:
                    return None
        return self._revocations.stamp(session_id, check=check)

    def _changed(self, session_ids: list[str]) -> None:
        """Tell every process these sessions changed; call after the change is committed."""
        try:
            self._revocations.bump(session_ids)
        except (OSError, ValueError) as exc:
            raise StoreUnavailable() from exc

    def _changed_all(self) -> None:
        try:
            self._revocations.bump_all()
        except (OSError, ValueError) as exc:
            raise StoreUnavailable() from exc

    # -- connections ------------------------------------------------------------------
    @contextmanager
    def _cursor(
        self, *, immediate: bool = False, durable: bool = True
    ) -> Iterator[sqlite3.Connection]:
        """This thread's connection in one transaction; driver errors become StoreUnavailable.

        ``immediate`` takes the write lock first, for a read that decides a write.
        Without ``durable``, the commit does not wait for the disk (``synchronous =
        NORMAL``, still atomic and consistent in WAL mode): for throttling counts, whose
        loss in a power cut is harmless, never for users or sessions.
        """
        try:
            connection = self._connection()
            if not durable:
                connection.execute("PRAGMA synchronous = NORMAL")
            try:
                with connection:
                    if immediate:
                        connection.execute("BEGIN IMMEDIATE")
                    yield connection
            finally:
                if not durable:
                    connection.execute("PRAGMA synchronous = FULL")
        except (sqlite3.Error, OSError) as exc:
            if not isinstance(exc, sqlite3.IntegrityError):  # it may be the connection's
                self._discard_connection()
            raise StoreUnavailable() from exc

    def _read_one(self, query: str, arguments: tuple[Any, ...]) -> Any:
        """One row of one query, as :meth:`_cursor` would read it but without its
        generator and ``with`` frames (a single ``SELECT`` runs in a read transaction of
        its own): this is the miss path of every authenticated request.

        It looks at the file at the path at most once a second, as the cache does
        (``os.stat`` was a tenth of a read): a file deleted or replaced is noticed within
        that second, as docs/deploying.md promises. Every write still looks first.
        """
        try:
            connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
            if (
                connection is None
                or time.monotonic() >= self._next_read_check
                or self._local.identity != self._opened  # another thread reopened
            ):
                connection = self._connection()
                self._next_read_check = time.monotonic() + CHECK_SECONDS
            return connection.execute(query, arguments).fetchone()
        except (sqlite3.Error, OSError) as exc:
            self._discard_connection()
            raise StoreUnavailable() from exc

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection to the file at the path now, opened if need be."""
        identity = self._current_file()
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None and self._local.identity != identity:
            self._report(f"the database file {self._file} was replaced: reopening it")
            self._discard_connection(elsewhere=True)
            connection = None
        if connection is None:
            connection = self._connect()
            with self._lock:
                self._close_connections_of_finished_threads()
                self._connections[threading.current_thread()] = connection
                self._local.connection, self._local.identity = connection, identity
                self._opened = identity
        return connection

    def _current_file(self) -> tuple[int, int]:
        """The file at the path; created on first use only, so a lost one stays lost.

        :raises StoreUnavailable: if the file this store used is gone.
        """
        if self._opened is None:
            self._create_file()
        identity = _identity(self._file)
        if identity is None:
            self.cache.clear()
            self._next_read_check = 0.0  # every thread's next read looks again
            reason = f"the database file {self._file} is gone; restore it (docs/deploying.md)"
            self._report(reason)
            # The reason goes to the log and the CLI, not to clients: it names a path.
            raise StoreUnavailable() from FileNotFoundError(errno.ENOENT, reason)
        if self._fault is not None and identity == self._opened:
            logger.warning("the database file %s is back", self._file)
            self._fault = None
        return identity

    def _report(self, reason: str) -> None:
        """Log a fault once, not on every request it fails."""
        if self._fault != reason:
            self._fault = reason
            logger.error("%s", reason)

    def _discard_connection(self, *, elsewhere: bool = False) -> None:
        """Close this thread's connection, after an error that may stick to it.

        ``elsewhere``: the connection's file is no longer at the path. Closing it as
        usual would checkpoint its WAL and then delete ``-wal`` *by name*, which may by
        now be the WAL of the file put in its place; so it closes without (Python 3.12+)
        or is never closed.
        """
        self.cache.clear()
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is None:
            return
        with self._lock:
            self._connections.pop(threading.current_thread(), None)
            if elsewhere and not _no_checkpoint_on_close(connection):
                self._abandoned.append(connection)
                return
        with contextlib.suppress(sqlite3.Error):
            connection.close()

    def _connect(self) -> sqlite3.Connection:
        # Writable, or an error: SQLite would open a read-only file read-only, silently.
        os.close(os.open(self._file, os.O_RDWR))
        connection = sqlite3.connect(
            self._file,
            timeout=self.busy_timeout,
            check_same_thread=False,
            # Writes take the write lock first: a deferred transaction that reads and then
            # writes fails at once (SQLITE_BUSY_SNAPSHOT) if another process wrote between.
            isolation_level="IMMEDIATE",
        )
        try:
            connection.execute("PRAGMA synchronous = FULL")
            self._ensure_schema(connection)
        except BaseException:
            connection.close()
            raise
        return connection

    def _close_connections_of_finished_threads(self) -> None:
        """A thread's connection outlives the thread; close it when the next one opens."""
        for thread in [thread for thread in self._connections if not thread.is_alive()]:
            self._connections.pop(thread).close()

    def _create_file(self) -> None:
        """Create the file owner-only before SQLite does, so the key is never world-readable.

        Not when its side files are there: then the database was in use and is lost,
        and an empty one in its place would quietly end every session and forget every
        user. :raises StoreUnavailable: then.
        """
        if os.path.exists(self._file):
            return
        left = [f"{self._file}{s}" for s in _SIDE_FILES[1:] if os.path.exists(self._file + s)]
        # Side files appear after the database: if it is there now, another thread or
        # process created both between the two looks, and nothing is lost.
        if left and not os.path.exists(self._file):
            reason = (
                f"the database file {self._file} is gone, but {', '.join(left)} are there:"
                " restore it, or remove them to start an empty database (docs/deploying.md)"
            )
            self._report(reason)
            # The reason goes to the log and the CLI, not to clients: it names a path.
            raise StoreUnavailable() from FileNotFoundError(errno.ENOENT, reason)
        with contextlib.suppress(FileExistsError):
            os.close(os.open(self._file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))

    def _warn_if_readable(self) -> None:
        """Name every file of this database that others than its owner may read."""
        for suffix in _SIDE_FILES:
            name = f"{self._file}{suffix}"
            with contextlib.suppress(OSError):
                mode = os.stat(name).st_mode
                if mode & 0o077:
                    logger.warning(
                        "%s is readable by others than its owner (mode %03o), and it holds"
                        " the signing key and every session: chmod 600 it",
                        name,
                        mode & 0o777,
                    )

    def _ensure_schema(self, connection: sqlite3.Connection) -> None:
        """Create the tables once per database: later openers only read the version.

        Switching to WAL needs a moment alone with the file and, unlike a transaction,
        fails at once instead of waiting when another connection is busy, so it is
        retried until the busy timeout; the version is set in the schema's transaction.
        """
        identity = _identity(self._file)
        with self._lock:
            if self._schema_ready is not None and self._schema_ready == identity:
                return
            if _version(connection) != SCHEMA_VERSION:
                _while_locked(self.busy_timeout, connection.execute, "PRAGMA journal_mode = WAL")
                self._upgrade(connection)
            self._schema_ready = identity
        self._warn_if_readable()

    def _upgrade(self, connection: sqlite3.Connection) -> None:
        """Create the tables, or bring an earlier version's to :data:`SCHEMA_VERSION`, in
        one transaction that holds the write lock from its start: of several processes
        opening an old database at once, one upgrades it and the others find it done.
        Every row is kept; a version newer than this code knows is left untouched.

        :raises StoreUnavailable: for a newer version (the log says which; the answer
            does not name the file).
        """
        connection.execute("BEGIN IMMEDIATE")
        try:
            version = _version(connection)
            if version > SCHEMA_VERSION:
                self._report(
                    f"{self._file} is at schema version {version},"
                    f" and this nullptr_auth knows version {SCHEMA_VERSION}: left as it is"
                )
                raise StoreUnavailable()
            # version 0: a new database (or one an application made), which _SCHEMA creates
            upgrades = range(version, SCHEMA_VERSION) if version else range(0)
            script = "".join(_UPGRADES[from_version] for from_version in upgrades)
            for statement in (script + _SCHEMA).split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            connection.commit()
        except BaseException:
            connection.rollback()
            raise


def _version(connection: sqlite3.Connection) -> int:
    version: int = connection.execute("PRAGMA user_version").fetchone()[0]
    return version


def _no_checkpoint_on_close(connection: sqlite3.Connection) -> bool:
    """Tell a connection to leave its WAL alone when closed, where Python can say so."""
    option = getattr(sqlite3, "SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE", None)
    if option is None:
        return False
    try:
        connection.setconfig(option, True)  # type: ignore[attr-defined,unused-ignore]
    except sqlite3.Error:
        return False
    return True


def _identity(path: str) -> tuple[int, int] | None:
    """The device and inode of the file at ``path``, or ``None`` if there is none."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


def _while_locked(timeout: float, step: Callable[[str], object], argument: str) -> None:
    """Run ``step`` until SQLite stops saying the database is locked, for ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            step(argument)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _check_credentials(db: sqlite3.Connection, user_id: str, verified_hash: str) -> None:
    """:raises CredentialsChanged: unless the user exists, is enabled and has this hash."""
    row = db.execute(
        "SELECT password_hash, disabled FROM nullptr_auth_users WHERE id = ?", (user_id,)
    ).fetchone()
    if row is None or row[1] or not hmac.compare_digest(row[0], verified_hash):
        raise CredentialsChanged()


def _delete_sessions(db: sqlite3.Connection, user_id: str, keep: str | None) -> int:
    return db.execute(
        "DELETE FROM nullptr_auth_sessions WHERE user_id = ? AND id IS NOT ?", (user_id, keep)
    ).rowcount


def _make_room(
    db: sqlite3.Connection, user_id: str, now: float, limit: int, evict: bool
) -> list[str]:
    """End the least recently used sessions so that one more fits; return their ids."""
    live = db.execute(
        "SELECT id FROM nullptr_auth_sessions WHERE user_id = :user"
        " AND (expires_at IS NULL OR expires_at > :now)"
        " AND (idle_expires_at IS NULL OR idle_expires_at > :now)"
        " ORDER BY last_seen_at, created_at",
        {"user": user_id, "now": now},
    ).fetchall()
    excess = len(live) + 1 - limit
    if excess > 0 and not evict:
        raise TooManySessions()
    evicted = live[: max(excess, 0)]
    db.executemany("DELETE FROM nullptr_auth_sessions WHERE id = ?", evicted)
    return [session_id for (session_id,) in evicted]


def _timestamp(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def _datetime(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, timezone.utc)


def _user(row: Any) -> UserRecord:
    user_id, username, password_hash, created_at, disabled = row
    return UserRecord(
        user_id,
        username,
        password_hash,
        datetime.fromtimestamp(created_at, timezone.utc),
        bool(disabled),
    )


def _session(row: Any) -> Session:
    session_id, user_id, created, last_seen, expires, idle, agent, ip, device, token_hash = row
    return Session(
        session_id,
        user_id,
        datetime.fromtimestamp(created, timezone.utc),
        datetime.fromtimestamp(last_seen, timezone.utc),
        _datetime(expires),
        _datetime(idle),
        agent,
        ip,
        device,
        bytes(token_hash),
    )
