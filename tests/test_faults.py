"""Faults injected into real pieces: each ends in a bounded 503 or a clear error, never in
a crash, a hang, or an ended session accepted again (issue 11; ``tox -e faults``).

The pieces are real: a small tmpfs mounted for the test (a full disk, a read-only one),
gunicorn workers and ``nullptr-auth serve`` processes, and the Redis and PostgreSQL
servers ``tests/stores/test_outages.py`` starts on spare ports. Bounds are generous
(a 5 s timeout must answer within 15 s): the point is that there is one, on a loaded
machine too. ``docs/deploying.md`` says what each fault looks like to an operator.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
import webtest

from nullptr_auth import AuthMiddleware
from nullptr_auth.demo import demo_app
from nullptr_auth.errors import StoreUnavailable
from nullptr_auth.stores import SQLiteStore, Store
from nullptr_auth.stores.postgres import PostgresStore
from nullptr_auth.stores.sqlite import CHECK_SECONDS

from .conftest import CHEAP_HASHER, PASSWORD
from .stores.test_outages import (  # noqa: F401 - module-scoped fixtures, used by name
    PostgresServer,
    RedisServer,
    postgres_server,
)
from .test_many_workers import SECRET_KEYS, gunicorn_command, start, stop

pytestmark = pytest.mark.servers

BOUND = 15.0  # seconds: what "bounded" means here, for a 5 s timeout on a loaded machine
SERVE = ["nullptr_auth", "serve", "--port", "{port}"]


# -- helpers ------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs of this test's own, unmounted afterwards."""
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"no small filesystem can be made here: mount says {mounted.stderr.strip()!r}")
    yield mountpoint
    subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def fill(disk: Path) -> Path:
    """Write until the disk is full; return the file to delete to free it again."""
    filler = disk / "filler"
    with filler.open("wb") as output:
        try:
            while True:
                output.write(b"\0" * 65536)
                output.flush()
        except OSError:
            pass
    return filler


def remount(disk: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(disk)], check=True)


def in_process(database: str | Store) -> AuthMiddleware:
    """Another process's view of the store, as a running server would have it."""
    return AuthMiddleware(
        demo_app,
        database,
        registration=True,
        secret_keys=SECRET_KEYS.split(","),
        password_hasher=CHEAP_HASHER,
        allow_weak_hashing_for_tests=True,
        clock=lambda: datetime.now(timezone.utc),
    )


def logged_in(database: str, username: str = "alice") -> dict[str, str]:
    """Register a user and log her in through the store directly; her request headers."""
    auth = in_process(database)
    try:
        answer = webtest.TestApp(auth).post_json(
            "/user/register", {"username": username, "password": PASSWORD}
        )
    finally:
        auth.store.close()
    return {"Username": username, "Token": answer.json["session_token"]}


def register(base: str, username: str = "alice") -> dict[str, str]:
    credentials = {"username": username, "password": PASSWORD}
    answer = requests.post(f"{base}/user/register", json=credentials, timeout=BOUND)
    assert answer.status_code == 200, answer.text
    return {"Username": username, "Token": answer.json()["session_token"]}


def whoami(base: str, headers: dict[str, str]) -> int:
    return requests.get(f"{base}/whoami", headers=headers, timeout=BOUND).status_code


def eventually(check: Callable[[], bool], seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def every(base: str, headers: dict[str, str], status: int, times: int = 12) -> bool:
    """Whether ``times`` requests in a row (over every worker, likely) answer ``status``."""
    return all(whoami(base, headers) == status for _ in range(times))


class Servers:
    """Servers started with ``start``'s arguments; every one is stopped afterwards."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def __call__(
        self, command: list[str], database: str, log: Path, **variables: str | None
    ) -> str:
        process, base = start(command, database, log, **variables)
        self.started.append(process)
        return base


@pytest.fixture
def servers() -> Iterator[Servers]:
    started = Servers()
    yield started
    for process in started.started:
        stop(process)


# -- 1. a full disk -----------------------------------------------------------------------
def test_a_full_disk_is_an_answer_not_a_crash_and_passes(
    small_disk: Path, tmp_path: Path, servers: Servers
) -> None:
    """Seen: the sparse counter file, mapped, killed every worker with SIGBUS."""
    database = f"sqlite:///{small_disk}/auth.db"
    headers = logged_in(database)
    Path(f"{small_disk}/auth.db-revocations").unlink(missing_ok=True)
    filler = fill(small_disk)
    base = servers(gunicorn_command(2), database, tmp_path / "gunicorn.log")

    for _ in range(6):  # a worker killed by SIGBUS resets the connection instead
        assert whoami(base, headers) in (200, 503)
    body = {"username": "alice", "password": PASSWORD}
    assert requests.post(f"{base}/session", json=body, timeout=BOUND).status_code in (200, 503)

    filler.unlink()
    assert eventually(
        lambda: requests.post(f"{base}/session", json=body, timeout=BOUND).status_code == 200
    ), "writes work again once space is freed, without a restart"
    assert every(base, headers, 200)
    assert requests.delete(f"{base}/session", headers=headers, timeout=BOUND).status_code == 204
    assert every(base, headers, 401)


# -- 2. the counter file stops being the shared one ---------------------------------------
def test_a_deleted_counter_file_does_not_keep_an_ended_session_alive(
    tmp_path: Path, servers: Servers
) -> None:
    """Seen: the file deleted under a running server, re-created by a new process; the
    two then counted in different files and the ended session was served from cache."""
    database = f"sqlite:///{tmp_path}/auth.db"
    base = servers(SERVE, database, tmp_path / "serve.log")
    headers = register(base)
    assert whoami(base, headers) == 200  # cached in the server now
    Path(f"{tmp_path}/auth.db-revocations").unlink()
    time.sleep(CHECK_SECONDS + 0.5)  # the server looks at the file at most once a second

    other = in_process(database)  # a new process: it makes a new counter file
    webtest.TestApp(other).delete("/session", headers=headers, status=204)
    other.store.close()
    assert whoami(base, headers) == 401


def test_a_database_reached_through_a_symlink_shares_its_counters(
    tmp_path: Path, servers: Servers
) -> None:
    """Seen: a release directory linking to shared data: the process that opened the
    link and the one that opened the real path each made their own counter file."""
    (tmp_path / "shared").mkdir()
    (tmp_path / "release").mkdir()
    sqlite3.connect(tmp_path / "shared" / "auth.db").close()
    (tmp_path / "release" / "auth.db").symlink_to(tmp_path / "shared" / "auth.db")
    base = servers(SERVE, f"sqlite:///{tmp_path}/release/auth.db", tmp_path / "serve.log")
    headers = register(base)
    assert whoami(base, headers) == 200  # cached

    other = in_process(f"sqlite:///{tmp_path}/shared/auth.db")
    webtest.TestApp(other).delete("/session", headers=headers, status=204)
    other.store.close()
    assert whoami(base, headers) == 401, "refused on the very next request"


# -- 3. the database file deleted or replaced ---------------------------------------------
def test_a_deleted_database_is_a_503_until_a_backup_is_restored(
    tmp_path: Path, servers: Servers
) -> None:
    """Seen: workers answered 200 from the unlinked file for as long as they ran."""
    database = f"sqlite:///{tmp_path}/auth.db"
    log = tmp_path / "gunicorn.log"
    base = servers(gunicorn_command(2), database, log)
    headers = register(base)
    assert every(base, headers, 200)
    backup = tmp_path / "backup.db"
    command = ["nullptr_auth", "--database", database, "backup", str(backup)]
    subprocess.run([sys.executable, "-m", *command], check=True, timeout=60)

    (tmp_path / "auth.db").unlink()
    time.sleep(CHECK_SECONDS + 0.5)  # the workers look at the file at least once a second
    assert every(base, headers, 503), "never 200 from a file that is gone"
    assert "auth.db is gone" in log.read_text()

    for side in ("-wal", "-shm", "-revocations"):  # the restore procedure of deploying.md
        Path(f"{tmp_path}/auth.db{side}").unlink(missing_ok=True)
    shutil.copy(backup, tmp_path / "restoring.db")
    (tmp_path / "restoring.db").rename(tmp_path / "auth.db")
    assert eventually(lambda: every(base, headers, 200)), "reopened by itself"
    assert requests.delete(f"{base}/session", headers=headers, timeout=BOUND).status_code == 204
    assert every(base, headers, 401)


# -- 4. a connection that went bad ---------------------------------------------------------
def test_a_database_opened_read_only_recovers_when_it_is_writable_again(
    small_disk: Path, tmp_path: Path, servers: Servers
) -> None:
    """Seen: a worker that opened the file read-only answered 503 until restarted: SQLite
    opens a file it may not write read-only, silently, and the connection stays so."""
    database = f"sqlite:///{small_disk}/auth.db"
    headers = logged_in(database)
    killed = "import os, sys; from nullptr_auth.stores import SQLiteStore;" + (
        "SQLiteStore(sys.argv[1]).list_users(); os._exit(0)"
    )  # a worker killed mid-flight leaves -wal and -shm, which a reader can use
    subprocess.run([sys.executable, "-c", killed, f"{small_disk}/auth.db"], check=True)
    body = {"username": "alice", "password": PASSWORD}
    remount(small_disk, "ro")
    try:
        base = servers(gunicorn_command(1), database, tmp_path / "gunicorn.log")
        for _ in range(3):
            assert requests.post(f"{base}/session", json=body, timeout=BOUND).status_code == 503
            assert whoami(base, headers) == 503
    finally:
        remount(small_disk, "rw")
    assert eventually(
        lambda: requests.post(f"{base}/session", json=body, timeout=BOUND).status_code == 200
    ), "the worker writes again, without a restart"
    assert every(base, headers, 200)


# -- 5. PostgreSQL that does not answer ----------------------------------------------------
@pytest.fixture
def postgres(postgres_server: PostgresServer) -> tuple[PostgresServer, str]:  # noqa: F811
    """The module's cluster, and a table prefix of this test's own."""
    return postgres_server, f"t{uuid.uuid4().hex[:12]}_"


def timed(request: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    return request(), time.monotonic() - started


def test_a_lock_held_on_postgresql_is_a_503_within_the_timeout(
    postgres: tuple[PostgresServer, str],
) -> None:
    """Seen: with a table lock held for 15 s, requests waited 14.5 s."""
    import psycopg

    server, prefix = postgres
    store = PostgresStore(server.url, table_prefix=prefix)  # the default timeout, 5 s
    client = webtest.TestApp(in_process(store))
    headers = register_in(client)
    with psycopg.connect(server.url) as holder:
        holder.execute(f"LOCK TABLE {prefix}sessions IN ACCESS EXCLUSIVE MODE")
        release = threading.Timer(40, holder.rollback)  # what the unfixed store waits for
        release.start()
        answer, seconds = timed(lambda: client.get("/whoami", headers=headers, status="*"))
        release.cancel()
        holder.rollback()
    assert answer.status_int == 503
    assert seconds < BOUND
    assert client.get("/whoami", headers=headers).status_int == 200
    store.close()


def test_a_frozen_postgresql_is_a_503_within_the_timeout_and_recovers(
    postgres: tuple[PostgresServer, str],
) -> None:
    """Seen: with the server stopped by SIGSTOP, requests hung for 40 s and more."""
    server, prefix = postgres
    store = PostgresStore(server.url, table_prefix=prefix, timeout=2.0)
    client = webtest.TestApp(in_process(store))
    headers = register_in(client)
    answers: list[tuple[int, float]] = []

    def ask() -> None:
        answer, seconds = timed(lambda: client.get("/whoami", headers=headers, status="*"))
        answers.append((answer.status_int, seconds))

    frozen = cluster_processes(server)
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        askers = [threading.Thread(target=ask) for _ in range(4)]
        for asker in askers:
            asker.start()
        for asker in askers:
            asker.join(timeout=BOUND + 10)
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
    assert len(answers) == 4, "every request answered while the server was frozen"
    assert all(status == 503 and seconds < BOUND for status, seconds in answers), answers
    assert eventually(lambda: client.get("/whoami", headers=headers, status="*").status_int == 200)
    store.close()


def test_a_read_on_a_kept_connection_is_shut_down_at_its_deadline_when_frozen(
    postgres: tuple[PostgresServer, str],
) -> None:
    """A thread keeps its reading connection between reads (stop 18), watched through a
    slot set once per call: a frozen server must still be a 503 within the timeout."""
    server, prefix = postgres
    store = PostgresStore(server.url, table_prefix=prefix, timeout=2.0)
    assert store.find_session("none") is None  # this thread's connection, now kept
    frozen = cluster_processes(server)
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            store.find_session("none")  # within the second: no check, the kept one
        seconds = time.monotonic() - started
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
    assert seconds < 2.0 + 0.5 + 1.0, seconds  # the timeout, the grace, the scan and slack
    assert eventually(lambda: store.find_session("none") is None)
    store.close()


def test_concurrent_first_uses_during_an_outage_wait_side_by_side(
    postgres: tuple[PostgresServer, str],
) -> None:
    """Seen: the n-th of 16 concurrent requests waited n x 3 s (48 s for the last)."""
    server, prefix = postgres
    store = PostgresStore(server.url, table_prefix=prefix)
    server.stop()
    waits: list[float] = []
    try:

        def first_use() -> None:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                store.get_user("alice")
            waits.append(time.monotonic() - started)

        users = [threading.Thread(target=first_use) for _ in range(16)]
        for user in users:
            user.start()
        for user in users:
            user.join(timeout=120)
    finally:
        server.start()
        store.close()
    assert len(waits) == 16
    assert max(waits) < BOUND, sorted(waits)


def register_in(client: webtest.TestApp) -> dict[str, str]:
    answer = client.post_json("/user/register", {"username": "alice", "password": PASSWORD})
    return {"Username": "alice", "Token": answer.json["session_token"]}


def cluster_processes(server: PostgresServer) -> list[int]:
    """The postmaster of the test's cluster and every process it started."""
    postmaster = int((server.directory / "data" / "postmaster.pid").read_text().split()[0])
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                children.append(int(entry.name))
    return [postmaster, *children]


# -- 6. a generated key in a Redis that forgets ---------------------------------------------
def test_processes_agree_on_the_generated_key_after_redis_forgets_it(
    tmp_path: Path, servers: Servers
) -> None:
    """Seen: after a restart of Redis without persistence, old workers kept the key they
    had and a new process stored another: 37 % of fresh sessions were refused."""
    redis = RedisServer(tmp_path, persistent=False)
    redis.start()
    try:
        no_keys = {"NULLPTR_AUTH_SECRET_KEYS": None}  # the key generated and kept in Redis
        old = servers(gunicorn_command(4), redis.url, tmp_path / "gunicorn.log", **no_keys)
        headers = register(old, "before")
        pids = set()
        for _ in range(200):  # until every worker has read the key, as it verified
            answer = requests.get(f"{old}/whoami", headers=headers, timeout=BOUND)
            assert answer.status_code == 200
            pids.add(answer.headers["X-Worker-Pid"])
            if len(pids) == 4:
                break
        redis.stop()
        redis.start()  # empty: users, sessions and the key are gone
        time.sleep(1.5)  # longer than a worker waits before it reads the key again
        new = servers(SERVE, redis.url, tmp_path / "serve.log", **no_keys)

        refused = []
        for number in range(12):
            issuer, other = (new, old) if number % 2 == 0 else (old, new)
            headers = register(issuer, f"user{number}")
            for base in (other, old, old, old, old, new):
                status = whoami(base, headers)
                if status != 200:
                    refused.append((number, base == new, status))
        assert refused == []
    finally:
        redis.stop()


# -- 7. memory under login load --------------------------------------------------------------
def test_concurrent_logins_do_not_grow_memory_per_request_thread(
    tmp_path: Path, servers: Servers
) -> None:
    """Seen: ``serve`` grew from 50 MB to 330 MB in ten seconds of concurrent logins, as
    every request thread kept argon2's 19 MiB in an arena of its own."""
    from concurrent.futures import ThreadPoolExecutor

    base = servers(SERVE, f"sqlite:///{tmp_path}/auth.db", tmp_path / "serve.log")
    pid = servers.started[-1].pid  # serve hashes with the default hasher: 19 MiB a hash
    # 24 users: one address may register 30 in 15 minutes
    names = [f"user{n}" for n in range(24)]
    before = peak_mib(pid)
    with ThreadPoolExecutor(32) as clients:
        list(clients.map(lambda name: register(base, name), names))
        body = [{"username": names[n % 24], "password": PASSWORD} for n in range(128)]
        statuses = list(
            clients.map(
                lambda fields: requests.post(f"{base}/session", json=fields, timeout=60),
                body,
            )
        )
    assert all(answer.status_code == 200 for answer in statuses)
    slots = os.cpu_count() or 2  # serve's default: one hashing slot per CPU
    # 19 MiB a slot, and room for 32 request threads' own stacks and arenas (the
    # unfixed server grew by 400 MiB and more here, on 2 CPUs)
    assert peak_mib(pid) - before < slots * 19 + 64, "about base + slots x 19 MiB"


def peak_mib(pid: int) -> float:
    """VmHWM, the peak resident memory of a process so far, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


# -- 8. files the library did not create ---------------------------------------------------
def test_a_database_others_may_read_is_named_in_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "auth.db"
    sqlite3.connect(path).close()
    path.chmod(0o644)
    store = SQLiteStore(path)
    with caplog.at_level(logging.WARNING, logger="nullptr_auth"):
        store.list_users()
    store.close()
    warned = [record.getMessage() for record in caplog.records]
    assert any(str(path) in message and "644" in message for message in warned), warned


@pytest.mark.parametrize(
    ("url", "timeout"),
    [
        pytest.param("postgresql://db/app", 5.0, id="default"),
        pytest.param("postgresql://db/app?timeout=1.5", 1.5, id="in-the-url"),
        pytest.param("postgresql://db/app?sslmode=disable&timeout=2", 2.0, id="among-others"),
    ],
)
def test_the_postgresql_timeout_comes_from_the_url(url: str, timeout: float) -> None:
    pytest.importorskip("psycopg")
    store = PostgresStore(url)
    assert store.timeout == timeout
    assert "timeout" not in store._url, "libpq would refuse it"


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf"])
def test_a_postgresql_timeout_must_be_a_positive_number(value: str) -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(ValueError, match="timeout"):
        PostgresStore(f"postgresql://db/app?timeout={value}")
