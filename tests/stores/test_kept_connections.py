"""Redis and PostgreSQL: each reading thread keeps a connection, but only half the pool.

A kept connection saves the pool's checkout on every read (docs/performance.md, stop
18). Kept by too many threads, it would leave none for writes; kept by a thread that
ended, it would be lost. Against real servers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nullptr_auth.stores.postgres import PostgresStore
from nullptr_auth.stores.redis import RedisStore

from ..services import scratch_store
from .contract import T0, make_session, make_user


@pytest.fixture(params=["redis", "postgres"])
def small_pool(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A store of the kind whose pool holds four connections."""
    kind = RedisStore if request.param == "redis" else PostgresStore
    with scratch_store(request.param, tmp_path) as url:
        store = kind(url, max_connections=4, timeout=2.0)
        yield store
        store.close()


def test_reading_threads_keep_at_most_half_the_pool(small_pool: Any) -> None:
    """A burst of first reads and the writes meanwhile still find a connection; and a
    thread that ended gives its connection back when another thread keeps one."""
    store = small_pool
    alice = make_user()
    store.add_user(alice)
    store.add_session(alice.user, make_session(alice, "s1"))

    def reader(start: threading.Barrier, reading: threading.Barrier, done: threading.Event) -> None:
        start.wait()  # first reads all at once: more threads than the pool holds
        found.append(store.find_session("s1") is not None)
        reading.wait()
        done.wait()

    found: list[bool] = []
    for _ in range(2):  # the second batch reclaims the first's connections
        start, reading = threading.Barrier(12, timeout=30), threading.Barrier(13, timeout=30)
        done = threading.Event()
        readers = [threading.Thread(target=reader, args=(start, reading, done)) for _ in range(12)]
        for thread in readers:
            thread.start()
        reading.wait()  # twelve threads that have read, and are still alive
        store.touch_session("s1", T0, None)  # a write, with two connections left
        assert store.find_session("s1") is not None
        done.set()
        for thread in readers:
            thread.join()
    assert found == [True] * 24
    assert len(store._kept) <= 2
