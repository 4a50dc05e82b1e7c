from __future__ import annotations

import contextlib
import gc
import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest

from nullptr_auth.errors import StoreUnavailable
from nullptr_auth.models import Session, UserRecord
from nullptr_auth.stores import SQLiteStore, open_store
from nullptr_auth.stores._cache import DEFAULT_MEGABYTES, MISS, weight_of
from nullptr_auth.stores._revocations import Revocations
from nullptr_auth.stores.base import Reservation
from nullptr_auth.stores.sqlite import SCHEMA_VERSION

from .contract import T0, StoreContract, make_session, make_user


class TestSQLiteStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path, cached: bool) -> Iterator[SQLiteStore]:
        store = SQLiteStore(
            tmp_path / "auth.db", cache_megabytes=DEFAULT_MEGABYTES if cached else 0
        )
        yield store
        store.close()

    @pytest.fixture
    def other_view(self, tmp_path: Path, cached: bool) -> Iterator[SQLiteStore]:
        store = SQLiteStore(
            tmp_path / "auth.db", cache_megabytes=DEFAULT_MEGABYTES if cached else 0
        )
        yield store
        store.close()


def test_construction_does_no_io(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "auth.db")
    assert not (tmp_path / "auth.db").exists()


def test_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "auth.db")
    store.get_or_create_secret_key(b"k" * 32)
    mode = stat.S_IMODE(os.stat(tmp_path / "auth.db").st_mode)
    assert mode == 0o600
    store.close()


def test_database_runs_in_wal_mode_with_a_schema_version(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "auth.db")
    store.list_users()
    store.close()
    with sqlite3.connect(tmp_path / "auth.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        assert "WITHOUT ROWID" in _sessions_table_sql(db)
    db.close()


_VERSION_1_SESSIONS = """
CREATE TABLE nullptr_auth_sessions (
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
);
CREATE INDEX nullptr_auth_sessions_user ON nullptr_auth_sessions (user_id);
CREATE INDEX nullptr_auth_sessions_expires ON nullptr_auth_sessions (expires_at);
CREATE INDEX nullptr_auth_sessions_idle ON nullptr_auth_sessions (idle_expires_at);
"""
"""The sessions' table as schema version 1 (every release before stop 23) made it."""


def _sessions_table_sql(db: sqlite3.Connection) -> str:
    query = "SELECT sql FROM sqlite_master WHERE name = 'nullptr_auth_sessions'"
    return str(db.execute(query).fetchone()[0])


def _version_1_database(path: Path, sessions: int = 3) -> tuple[UserRecord, list[Session]]:
    """A database as version 1 left it: a user, a signing key, ``sessions`` sessions
    (one without deadlines, one with texts beyond ASCII) and a throttle count."""
    store = SQLiteStore(path)
    user = make_user()
    store.add_user(user)
    store.get_or_create_secret_key(b"k" * 32)
    made = [make_session(user) for _ in range(sessions)]
    made[0] = make_session(user, expires_at=None, idle_expires_at=None)
    made[1] = made[1]._replace(user_agent="Mözilla \x00 ✓", ip="::1", device="phone")
    for session in made:
        store.add_session(user, session)
    store.reserve_attempts([Reservation("ip:1", timedelta(minutes=1), 5)], T0)
    store.close()
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        rows = db.execute("SELECT * FROM nullptr_auth_sessions").fetchall()
        db.executescript(
            f"BEGIN; DROP TABLE nullptr_auth_sessions; {_VERSION_1_SESSIONS}"
            " PRAGMA user_version = 1; COMMIT;"
        )
        db.executemany("INSERT INTO nullptr_auth_sessions VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        assert "WITHOUT ROWID" not in _sessions_table_sql(db)
    return user, made


def test_a_version_1_database_is_upgraded_and_keeps_every_row(tmp_path: Path) -> None:
    user, sessions = _version_1_database(tmp_path / "auth.db")
    store = SQLiteStore(tmp_path / "auth.db", cache_megabytes=0)
    assert store.get_user("alice") == user
    assert store.get_or_create_secret_key(b"other" * 8) == b"k" * 32
    for session in sessions:
        assert store.find_session(session.id) == (user.user, session)
    assert sorted(store.list_sessions(user.id)) == sorted(sessions)
    assert store.get_failures("ip:1", T0) is not None
    store.close()
    with contextlib.closing(sqlite3.connect(tmp_path / "auth.db")) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert "WITHOUT ROWID" in _sessions_table_sql(db)
        indexes = {row[1] for row in db.execute("PRAGMA index_list(nullptr_auth_sessions)")}
        assert {
            "nullptr_auth_sessions_user",
            "nullptr_auth_sessions_expires",
            "nullptr_auth_sessions_idle",
        } <= indexes
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_database_an_older_release_marked_version_1_again_is_upgraded_again(
    tmp_path: Path,
) -> None:
    """Releases before version 2 set ``user_version = 1`` on any other version and use
    the tables as they are (docs/deploying.md): going back and forth keeps every row."""
    user, sessions = _version_1_database(tmp_path / "auth.db")
    upgrading = SQLiteStore(tmp_path / "auth.db")
    upgrading.list_users()
    upgrading.close()
    with contextlib.closing(sqlite3.connect(tmp_path / "auth.db", isolation_level=None)) as db:
        assert "WITHOUT ROWID" in _sessions_table_sql(db)
        db.execute("PRAGMA user_version = 1")  # what an older release does to it
    store = SQLiteStore(tmp_path / "auth.db", cache_megabytes=0)
    assert sorted(store.list_sessions(user.id)) == sorted(sessions)
    store.close()
    with contextlib.closing(sqlite3.connect(tmp_path / "auth.db")) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_processes_opening_a_version_1_database_at_once_upgrade_it_once(tmp_path: Path) -> None:
    _, sessions = _version_1_database(tmp_path / "auth.db", sessions=200)
    barrier = threading.Barrier(6)

    def open_and_count() -> int:
        store = SQLiteStore(tmp_path / "auth.db", cache_megabytes=0)
        barrier.wait()
        try:
            return len(store.list_sessions())
        finally:
            store.close()

    with ThreadPoolExecutor(6) as pool:
        counts = list(pool.map(lambda _: open_and_count(), range(6)))
    assert counts == [len(sessions)] * 6


def test_a_newer_schema_is_refused_and_left_as_it_is(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SQLiteStore(tmp_path / "auth.db")
    user = make_user()
    store.add_user(user)
    store.close()
    with contextlib.closing(sqlite3.connect(tmp_path / "auth.db", isolation_level=None)) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    newer = SQLiteStore(tmp_path / "auth.db")
    with pytest.raises(StoreUnavailable) as refused:
        newer.get_user("alice")
    newer.close()
    assert str(tmp_path) not in refused.value.message  # the answer's text
    assert f"schema version {SCHEMA_VERSION + 1}" in caplog.text
    with contextlib.closing(sqlite3.connect(tmp_path / "auth.db")) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
        assert db.execute("SELECT username FROM nullptr_auth_users").fetchall() == [("alice",)]


def test_an_unopenable_file_is_an_outage_not_a_crash(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "missing-directory" / "auth.db")
    with pytest.raises(StoreUnavailable):
        store.get_user("alice")


def test_a_locked_database_is_an_outage(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "auth.db", busy_timeout=0.05)
    store.add_user(make_user("alice"))
    blocker = sqlite3.connect(tmp_path / "auth.db")
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreUnavailable):
            store.add_user(make_user("bob"))
    finally:
        blocker.rollback()
        blocker.close()
        store.close()


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("sqlite://", id="no-path"),
        pytest.param("sqlite:///:memory:", id="in-memory"),
        pytest.param("mysql://localhost/db", id="unknown-scheme"),
        pytest.param("nullptr_auth.db", id="bare-path"),
    ],
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match=r"sqlite|scheme"):
        open_store(url)


def test_relative_and_absolute_paths(tmp_path: Path) -> None:
    relative = open_store("sqlite:///relative.db")
    absolute = open_store(f"sqlite:///{tmp_path}/absolute.db")
    assert isinstance(relative, SQLiteStore) and relative.path == "relative.db"
    assert isinstance(absolute, SQLiteStore) and absolute.path == f"{tmp_path}/absolute.db"


# -- the cache of sessions and its shared change counters ---------------------------------
def test_an_ending_in_another_process_is_seen_on_the_next_read(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "auth.db")
    alice = make_user()
    store.add_user(alice)
    store.add_session(alice.user, make_session(alice, "s1"))
    assert store.find_session("s1") is not None  # now cached
    script = (
        "import sys; from nullptr_auth.stores import SQLiteStore;"
        "store = SQLiteStore(sys.argv[1]); assert store.delete_session('s1'); store.close()"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "auth.db")], check=True)
    assert store.find_session("s1") is None
    store.close()


def test_cached_reads_do_not_touch_the_database(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "auth.db")
    alice = make_user()
    store.add_user(alice)
    store.add_session(alice.user, make_session(alice, "s1"))
    store.find_session("s1")
    with sqlite3.connect(tmp_path / "auth.db") as db:  # behind the store's back: no bump
        db.execute("DELETE FROM nullptr_auth_sessions")
    db.close()
    assert store.find_session("s1") is not None, "served from the cache"
    Revocations(f"{tmp_path}/auth.db-revocations").bump(["s1"])
    assert store.find_session("s1") is None, "a bump sends the next read to the database"
    store.close()


def test_the_collector_does_not_track_cached_sessions(tmp_path: Path) -> None:
    """A full cache holds some 68,000 sessions: as tracked objects, they made every full
    collection walk them all (docs/performance.md, stop 18)."""
    store = SQLiteStore(tmp_path / "auth.db")
    alice = make_user()
    store.add_user(alice)
    for n in range(3):
        store.add_session(alice.user, make_session(alice, f"s{n}"))
        store.find_session(f"s{n}")
    gc.collect()  # untracks the tuples whose items are all untracked: the inner ones,
    gc.collect()  # then the entries that hold them
    entries = list(store.cache._entries.values())
    assert len(entries) == 3
    assert not any(gc.is_tracked(entry) for entry in entries)
    assert store.find_session("s1") == store.find_session("s1")  # a hit builds it again
    store.close()


def test_counters_are_shared_and_only_grow(tmp_path: Path) -> None:
    first = Revocations(f"{tmp_path}/counters")
    second = Revocations(f"{tmp_path}/counters")
    before = first.stamp("a")
    assert before is not None
    second.bump(["a"])
    assert first.stamp("a") == (before[0], before[1], before[2] + 1)
    second.bump_all()
    assert first.stamp("a") == (before[0], before[1] + 1, before[2] + 1)
    assert first.stamp("unrelated")[2] in (0, before[2] + 1)  # type: ignore[index]  # another slot, unless it collides
    assert stat.S_IMODE(os.stat(f"{tmp_path}/counters").st_mode) == 0o600
    first.close()
    second.close()


def test_concurrent_bumps_from_processes_are_all_counted(tmp_path: Path) -> None:
    path = f"{tmp_path}/counters"
    script = (
        "import sys; from nullptr_auth.stores._revocations import Revocations;"
        "r = Revocations(sys.argv[1]); [r.bump(['a']) for _ in range(500)]; r.close()"
    )
    workers = [subprocess.Popen([sys.executable, "-c", script, path]) for _ in range(4)]
    for worker in workers:
        assert worker.wait(timeout=60) == 0
    counters = Revocations(path)
    assert counters.stamp("a")[2] == 2000  # type: ignore[index]
    counters.close()


def test_many_openers_of_a_new_database_at_once(tmp_path: Path) -> None:
    """Switching a new file to WAL fails at once, not after a wait, if anyone is busy;
    seen under load when two stores set up one new file together."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(12)

    def open_and_write() -> None:
        store = SQLiteStore(tmp_path / "auth.db")
        barrier.wait()
        try:
            for _ in range(10):
                store.reserve_attempts([Reservation("alice", timedelta(minutes=1), 1000)], T0)
        except BaseException as exc:  # reported below, in the test's own thread
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=open_and_write) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    store = SQLiteStore(tmp_path / "auth.db")
    assert store.get_failures("alice", T0) == (120, T0)
    store.close()


# -- the file at the path, looked at once a second by reads --------------------------------
def test_every_threads_reads_notice_a_replaced_or_deleted_file_within_the_second(
    tmp_path: Path,
) -> None:
    """Reads look at the file at the path at most once a second (docs/deploying.md's
    bound); a thread whose own look is not due yet still follows another's reopening."""
    from nullptr_auth.stores._revocations import CHECK_SECONDS

    path = tmp_path / "auth.db"
    store = SQLiteStore(path, cache_megabytes=0)
    alice = make_user()
    store.add_user(alice)
    store.add_session(alice.user, make_session(alice, "s1"))
    elsewhere = SQLiteStore(tmp_path / "replacement.db")
    elsewhere.add_user(alice)
    elsewhere.add_session(alice.user, make_session(alice, "s2"))
    elsewhere.close()

    def in_the_thread(session_id: str) -> object:
        try:
            return store.find_session(session_id) is not None
        except StoreUnavailable as exc:
            return exc

    def read(session_id: str) -> object:
        return other_thread.submit(in_the_thread, session_id).result()

    other_thread = ThreadPoolExecutor(1)  # one thread, its connection kept
    assert store.find_session("s1") is not None and read("s1") is True
    os.replace(tmp_path / "replacement.db", path)
    for suffix in ("-wal", "-shm"):
        Path(f"{tmp_path}/auth.db{suffix}").unlink(missing_ok=True)
    time.sleep(CHECK_SECONDS + 0.1)
    assert store.find_session("s2") is not None, "the replacement, after a second"
    assert read("s1") is False and read("s2") is True, "another thread follows at once"
    path.unlink()
    time.sleep(CHECK_SECONDS + 0.1)
    with pytest.raises(StoreUnavailable):
        store.find_session("s2")
    assert isinstance(read("s2"), StoreUnavailable), "and a lost file at once"
    other_thread.shutdown()
    store.close()


def test_a_cache_entry_is_charged_what_it_weighs(tmp_path: Path) -> None:
    """The budget is in bytes: an entry's charge (``ENTRY_BYTES`` plus its strings)
    must stay what ``tracemalloc`` measures it to hold, or the default 64 MB is not."""
    import tracemalloc

    store = SQLiteStore(tmp_path / "auth.db", cache_megabytes=64)
    try:
        alice = make_user()
        store.add_user(alice)
        ids = [f"{n:032x}" for n in range(5000)]
        for session_id in ids:
            store.add_session(alice.user, make_session(alice, session_id), limit=None)
        store.find_session("warm-up")  # the connection and the counters' mapping
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            assert all(store.find_session(session_id) is not None for session_id in ids)
            gc.collect()
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        held = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
        assert len(store.cache) == len(ids)
        # Never under what an entry holds; over it by at most a quarter (the entries
        # of Python 3.12 and later are some 11 % lighter than 3.11's, charged alike).
        assert 0.95 <= store.cache.size / held <= 1.25
    finally:
        store.close()


def test_a_full_cache_lets_the_least_recently_used_session_go_first(tmp_path: Path) -> None:
    """Least recently used first out, within the budget: a session read again stays,
    the one read longest ago goes."""
    alice = make_user()
    session = make_session(alice, "s0")
    charge = weight_of((alice.user, session))
    store = SQLiteStore(tmp_path / "auth.db", cache_megabytes=3.5 * charge / (1024 * 1024))
    try:
        store.add_user(alice)
        for session_id in ("s0", "s1", "s2", "s3"):
            store.add_session(alice.user, make_session(alice, session_id), limit=None)
        for session_id in ("s0", "s1", "s2"):  # three fit
            store.find_session(session_id)
        store.find_session("s0")  # read again: now s1 is the least recently used
        store.find_session("s3")
        kept = {s for s in ("s0", "s1", "s2", "s3") if store.cache.peek(s) is not MISS}
        assert kept == {"s0", "s2", "s3"}
    finally:
        store.close()
