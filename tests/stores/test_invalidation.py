"""The session caches of Redis and PostgreSQL, against real servers and real processes.

A worker process caches a session; this process ends it, changes the user's password,
disables or deletes the user; the worker must refuse the session within the bound.
And when the invalidation connection is cut (``CLIENT KILL``, ``pg_terminate_backend``),
the cache must stop serving: a change made while it was down is never missed.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nullptr_auth.stores import Store, open_store
from nullptr_auth.stores._cache import MISS

from ..services import postgres_url, redis_url, scratch_key_prefix, scratch_table_prefix
from .contract import PROPAGATION, eventually, make_session, make_user, serving

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["redis", "postgres"])
def url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "redis":
        base = redis_url()
        with scratch_key_prefix(base) as prefix:
            yield f"{base}?prefix={prefix}&cache=on"
    else:
        base = postgres_url()
        with scratch_table_prefix(base) as prefix:
            yield f"{base}?table_prefix={prefix}&cache=on"


def _line(process: subprocess.Popen[str], within: float) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], within)
    if not ready:
        raise AssertionError(f"the worker said nothing within {within} s")
    return process.stdout.readline().strip()


CHANGES: list[tuple[str, Callable[[Store, str], object]]] = [
    ("session-ended", lambda s, u: s.delete_session("s1")),
    ("password-changed", lambda s, u: s.set_password_hash(u, "$argon2id$new", end_sessions=True)),
    ("user-disabled", lambda s, u: s.set_disabled(u, True)),
    ("user-deleted", lambda s, u: s.delete_user(u)),
]


@pytest.mark.parametrize("change", [pytest.param(c, id=name) for name, c in CHANGES])
def test_another_process_refuses_the_session_within_the_bound(
    url: str, change: Callable[[Store, str], object]
) -> None:
    store = open_store(url)
    alice = make_user()
    store.add_user(alice)
    store.add_session(alice.user, make_session(alice, "s1"))
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.stores.watcher", url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *sys.path])),
    )
    assert worker.stdin is not None
    try:
        worker.stdin.write("s1\n")
        worker.stdin.flush()
        assert _line(worker, 60) == "cached"
        change(store, alice.id)
        assert store.find_session("s1") is None  # this process: at once
        assert _line(worker, PROPAGATION) == "refused"
    finally:
        worker.kill()
        worker.communicate()  # waits, and closes the pipes
        store.close()


def _cut(url: str, store: Store) -> None:
    """Kill the server side of the store's invalidation connection."""
    if url.startswith("redis"):
        import redis

        client = redis.Redis.from_url(url.split("?")[0])
        name = f"nullptr_auth-tracking-{store.key_prefix}"  # type: ignore[attr-defined]
        for found in client.client_list():
            if found.get("name") == name:
                client.client_kill_filter(_id=found["id"])
        client.close()
    else:
        import psycopg

        with psycopg.connect(url.split("?")[0], autocommit=True) as db:
            db.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s",
                (f"nullptr_auth listener {store.table_prefix}",),  # type: ignore[attr-defined]
            )


def test_a_cut_invalidation_connection_stops_the_cache_until_it_is_back(url: str) -> None:
    """A change made while the channel is down is not heard: nothing read before may be
    served after. The cache stops serving at the cut and starts afresh."""
    store, other = serving(open_store(url)), open_store(url)
    alice = make_user()
    store.add_user(alice)
    store.add_session(alice.user, make_session(alice, "s1"))
    channel = store.cache.channel  # type: ignore[attr-defined]
    try:
        while store.cache.peek("s1") is MISS:  # type: ignore[attr-defined]
            assert store.find_session("s1") is not None
        _cut(url, store)
        deadline = time.monotonic() + 10
        while channel.live:
            assert time.monotonic() < deadline, "the cut was not noticed"
            time.sleep(0.001)
        assert store.cache.peek("s1") is MISS  # type: ignore[attr-defined]
        other.delete_sessions(alice.id)  # while the channel is down: maybe never heard
        deadline = time.monotonic() + 10
        while not channel.live:
            assert time.monotonic() < deadline, "the channel did not come back"
            time.sleep(0.01)
        assert store.find_session("s1") is None
    finally:
        store.close()
        other.close()


def _child_exit_code(pid: int, within: float) -> int:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError(f"the forked process did not finish within {within} s")


def _cached_again(store: Store) -> bool:
    return store.find_session("s1") is not None and store.cache.peek("s1") is not MISS  # type: ignore[attr-defined]


def _forked_cache_check(store: Store, to_parent: int, from_parent: int) -> int:
    """In the child: what the parent cached is not served; a listener of the child's own
    comes up, and hears the parent end the session. The exit code says which failed."""
    cache, channel = store.cache, store.cache.channel  # type: ignore[attr-defined]
    if cache.peek("s1") is not MISS:
        return 3  # served a copy no listener of this process vouches for
    store.find_session("s1")  # the first look starts this process's listener
    if not eventually(lambda: channel.live, 10):
        return 4
    if not eventually(lambda: _cached_again(store), 10):
        return 5
    os.write(to_parent, b"c")
    os.read(from_parent, 1)  # the parent has ended the session
    return 0 if eventually(lambda: cache.peek("s1") is MISS, PROPAGATION) else 6


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_worker_listens_for_itself_and_serves_nothing_it_did_not_hear(url: str) -> None:
    """A server that loads the application and then forks its workers (gunicorn's
    ``--preload``) copies the cache and the channel's state, but not its listener thread.
    """
    import warnings

    store, other = serving(open_store(url)), open_store(url)
    alice = make_user()
    store.add_user(alice)
    store.add_session(alice.user, make_session(alice, "s1"))
    while store.cache.peek("s1") is MISS:  # type: ignore[attr-defined]
        assert store.find_session("s1") is not None
    child_reads, parent_writes = os.pipe()
    parent_reads, child_writes = os.pipe()
    with warnings.catch_warnings():  # forking a threaded process is what such servers do
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = _forked_cache_check(store, child_writes, child_reads)
        finally:
            os._exit(code)
    try:
        ready, _, _ = select.select([parent_reads], [], [], 30)
        if ready:
            os.read(parent_reads, 1)
            other.delete_session("s1")
        os.write(parent_writes, b"d")
        assert _child_exit_code(pid, 30) == 0
    finally:
        for fd in (child_reads, parent_writes, parent_reads, child_writes):
            os.close(fd)
        store.close()
        other.close()
