from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from nullptr_auth.errors import StoreUnavailable
from nullptr_auth.stores import SQLiteStore, open_store

from .contract import StoreContract, make_user


class TestSQLiteStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SQLiteStore]:
        store = SQLiteStore(tmp_path / "auth.db")
        yield store
        store.close()

    @pytest.fixture
    def other_view(self, tmp_path: Path) -> Iterator[SQLiteStore]:
        store = SQLiteStore(tmp_path / "auth.db")
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
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    db.close()


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
