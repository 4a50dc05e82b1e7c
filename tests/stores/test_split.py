from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nullptr_auth.errors import StoreUnavailable
from nullptr_auth.stores import SQLiteStore
from nullptr_auth.stores.postgres import PostgresStore
from nullptr_auth.stores.redis import RedisStore
from nullptr_auth.stores.split import SplitStore

from ..services import postgres_url, redis_url, scratch_key_prefix, scratch_table_prefix
from .contract import StoreContract, make_session, make_user


@pytest.fixture
def prefixes() -> Iterator[tuple[str, str, str, str]]:
    """URLs and prefixes of this test's own: (postgres, table prefix, redis, key prefix)."""
    postgres, redis = postgres_url(), redis_url()
    with scratch_table_prefix(postgres) as tables, scratch_key_prefix(redis) as keys:
        yield postgres, tables, redis, keys


def _postgres_and_redis(prefixes: tuple[str, str, str, str]) -> SplitStore:
    postgres, tables, redis, keys = prefixes
    return SplitStore(
        users=PostgresStore(postgres, table_prefix=tables),
        sessions=RedisStore(redis, key_prefix=keys),
    )


class TestUsersInPostgresSessionsInRedis(StoreContract):
    @pytest.fixture
    def store(self, prefixes: tuple[str, str, str, str]) -> Iterator[SplitStore]:
        store = _postgres_and_redis(prefixes)
        yield store
        store.close()

    @pytest.fixture
    def other_view(self, prefixes: tuple[str, str, str, str]) -> Iterator[SplitStore]:
        store = _postgres_and_redis(prefixes)
        yield store
        store.close()


class TestTwoSQLiteFiles(StoreContract):
    """Needs no server: the delegation itself, checked wherever the suite runs."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SplitStore]:
        store = SplitStore(SQLiteStore(tmp_path / "users.db"), SQLiteStore(tmp_path / "s.db"))
        yield store
        store.close()

    @pytest.fixture
    def other_view(self, tmp_path: Path) -> Iterator[SplitStore]:
        store = SplitStore(SQLiteStore(tmp_path / "users.db"), SQLiteStore(tmp_path / "s.db"))
        yield store
        store.close()


def test_each_kind_lands_in_its_own_store(tmp_path: Path) -> None:
    users, sessions = SQLiteStore(tmp_path / "users.db"), SQLiteStore(tmp_path / "s.db")
    store = SplitStore(users, sessions)
    alice = make_user()
    store.add_user(alice)
    store.add_session(alice.user, make_session(alice, "s1"))
    store.get_or_create_secret_key(b"k" * 32)
    assert users.get_user("alice") == alice and sessions.get_user("alice") is None
    assert sessions.find_session("s1") is not None and users.find_session("s1") is None
    assert users.get_or_create_secret_key(b"x" * 32) == b"x" * 32, "the key is the sessions'"
    store.close()


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda s, i: s.set_password_hash(i, "$new", end_sessions=True), id="password"),
        pytest.param(lambda s, i: s.set_disabled(i, True), id="disable"),
        pytest.param(lambda s, i: s.delete_user(i), id="delete"),
    ],
)
def test_a_user_change_that_cannot_end_sessions_changes_nothing(
    tmp_path: Path, change: Callable[[SplitStore, str], object]
) -> None:
    users = SQLiteStore(tmp_path / "users.db")
    store = SplitStore(users, RedisStore("redis://127.0.0.1:1/0"))  # nothing listens there
    alice = make_user()
    users.add_user(alice)
    with pytest.raises(StoreUnavailable):
        change(store, alice.id)
    assert users.get_user("alice") == alice
    store.close()
