from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator

import psycopg
import pytest

from nullptr_auth.errors import StoreUnavailable
from nullptr_auth.stores import open_store
from nullptr_auth.stores._cache import DEFAULT_MEGABYTES
from nullptr_auth.stores.postgres import PostgresStore

from ..services import postgres_url, scratch_table_prefix
from .contract import PROPAGATION, StoreContract, make_session, make_user, serving


@pytest.fixture
def url() -> str:
    return postgres_url()


@pytest.fixture
def prefix(url: str) -> Iterator[str]:
    with scratch_table_prefix(url) as prefix:
        yield prefix


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def propagation(self, cached: bool) -> float:
        return PROPAGATION if cached else 0.0

    @pytest.fixture
    def store(self, url: str, prefix: str, cached: bool) -> Iterator[PostgresStore]:
        store = PostgresStore(
            url, table_prefix=prefix, cache_megabytes=DEFAULT_MEGABYTES if cached else 0
        )
        yield serving(store)
        store.close()

    @pytest.fixture
    def other_view(self, url: str, prefix: str, cached: bool) -> Iterator[PostgresStore]:
        store = PostgresStore(
            url, table_prefix=prefix, cache_megabytes=DEFAULT_MEGABYTES if cached else 0
        )
        yield serving(store)
        store.close()


def test_construction_does_no_io() -> None:
    store = PostgresStore("postgresql://nobody@127.0.0.1:1/nowhere?table_prefix=a_")
    assert repr(store) == "<PostgresStore 127.0.0.1:1/nowhere table_prefix='a_'>"
    store.close()


def test_an_unreachable_server_is_an_outage_that_fails_fast() -> None:
    store = PostgresStore("postgresql://nobody@127.0.0.1:1/nowhere", timeout=0.5)
    with pytest.raises(StoreUnavailable) as raised:
        store.find_session("s1")
    assert isinstance(raised.value.__cause__, psycopg.OperationalError)
    store.close()


@pytest.mark.parametrize(
    "table_prefix",
    [
        pytest.param("auth; DROP TABLE x", id="injection"),
        pytest.param("1auth_", id="leading-digit"),
        pytest.param("a" * 40, id="too-long"),
        pytest.param("auth-", id="hyphen"),
    ],
)
def test_a_table_prefix_must_be_an_identifier(table_prefix: str) -> None:
    with pytest.raises(ValueError, match="table_prefix"):
        PostgresStore("postgresql://localhost/db", table_prefix=table_prefix)


def test_urls_choose_the_store_and_the_prefix() -> None:
    both = [open_store(f"{scheme}://h/db?table_prefix=x_") for scheme in ("postgresql", "postgres")]
    assert [store.table_prefix for store in both] == ["x_", "x_"]  # type: ignore[attr-defined]
    assert PostgresStore("postgresql://h/db").table_prefix == "nullptr_auth_"


def test_tables_carry_a_schema_version(url: str, prefix: str) -> None:
    store = PostgresStore(url, table_prefix=prefix)
    store.list_users()
    store.close()
    with psycopg.connect(url) as db:
        table = psycopg.sql.Identifier(f"{prefix}schema_version")
        query = psycopg.sql.SQL("SELECT version FROM {}").format(table)
        assert db.execute(query).fetchall() == [(1,)]


def test_stores_starting_together_create_the_tables_once(url: str, prefix: str) -> None:
    stores = [PostgresStore(url, table_prefix=prefix) for _ in range(6)]
    errors: list[BaseException] = []

    def first_use(store: PostgresStore) -> None:
        try:
            store.list_users()
        except BaseException as exc:  # reported below, in the test's own thread
            errors.append(exc)

    threads = [threading.Thread(target=first_use, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    assert errors == []


def test_a_session_is_found_by_its_primary_key(url: str, prefix: str) -> None:
    store = PostgresStore(url, table_prefix=prefix)
    alice = make_user()
    store.add_session(alice.user, make_session(alice, "s1"))
    store.close()
    with psycopg.connect(url) as db:
        table = psycopg.sql.Identifier(f"{prefix}sessions")
        query = psycopg.sql.SQL("EXPLAIN SELECT * FROM {} WHERE id = 's1'").format(table)
        db.execute("SET enable_seqscan = off")
        plan = " ".join(row[0] for row in db.execute(query).fetchall())
    assert f"{prefix}sessions_pkey" in plan


def test_a_missing_driver_names_the_pip_line() -> None:
    script = (
        "import sys; sys.modules['psycopg_pool'] = None\n"
        "from nullptr_auth.stores import open_store\n"
        "try:\n    open_store('postgresql://localhost/db')\n"
        "except ImportError as error:\n    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert "pip install 'nullptr_auth[postgres]'" in result.stdout
