"""A store's server goes away and comes back: the middleware answers 503, then recovers.

Each test runs its own Redis and PostgreSQL server on a free port, stops it under a
running middleware and starts it again: no test touches a server anyone else uses.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import webtest

from nullptr_auth.stores.base import Store
from nullptr_auth.stores.postgres import PostgresStore
from nullptr_auth.stores.redis import RedisStore

from ..conftest import PASSWORD, MakeAuth, login
from ..services import free_port, missing, program

pytestmark = pytest.mark.servers


class RedisServer:
    """``redis-server`` in a directory of its own, with an append-only file so data survives
    (unless ``persistent=False``: then a restart forgets everything)."""

    def __init__(self, directory: Path, *, persistent: bool = True) -> None:
        self.directory = directory
        self.persistent = persistent
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                program("redis-server"),
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.directory),
                "--save", "",
                "--appendonly", "yes" if self.persistent else "no",
                "--appendfsync", "always",
            ],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_for_port(self.port)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


class PostgresServer:
    """A PostgreSQL cluster of its own, run as the ``postgres`` user when the tests run as root.

    ``initdb`` refuses to run as root, and the server must own its data directory.
    """

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="nullptr-auth-pg-"))
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as_user:
            shutil.chown(self.directory, "postgres")

    def create(self) -> None:
        self._run(program("initdb"), "-D", f"{self.directory}/data", "-U", "postgres",
                  "-A", "trust", "--no-sync")  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self._run(program("pg_ctl"), "-D", f"{self.directory}/data", "-w", "-o", options,
                  "-l", f"{self.directory}/log", "start")  # fmt: skip

    def stop(self) -> None:
        self._run(program("pg_ctl"), "-D", f"{self.directory}/data", "-w", "-m", "fast", "stop")

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def _run(self, *command: str) -> None:
        subprocess.run([*self._as_user, *command], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[PostgresServer]:
    program("initdb")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        missing("initdb refuses root, and runuser is not there to run it as postgres")
    server = PostgresServer()
    try:
        server.create()
        server.start()
        yield server
        server.stop()
    finally:
        server.remove()


Outage = tuple[Store, Callable[[], None], Callable[[], None]]


@pytest.fixture(params=[pytest.param("redis", id="redis"), pytest.param("postgres", id="postgres")])
def outage(request: pytest.FixtureRequest) -> Iterator[Outage]:
    """A store on a server of its own, and how to stop and start that server."""
    server: RedisServer | PostgresServer = request.getfixturevalue(f"{request.param}_server")
    store: Store
    if isinstance(server, RedisServer):
        store = RedisStore(server.url)
    else:
        store = PostgresStore(server.url, timeout=1.0)
    yield store, server.stop, server.start
    if _stopped(server):  # the test failed while its server was down
        server.start()
    store.close()


def test_an_outage_is_a_503_until_the_server_is_back(outage: Outage, make_auth: MakeAuth) -> None:
    store, stop, start = outage
    auth = make_auth(store)
    client = webtest.TestApp(auth)
    auth.accounts.create("alice", PASSWORD)
    headers = login(client)
    assert client.get("/anything", headers=headers).json["user"]["username"] == "alice"

    stop()
    answer = client.get("/anything", headers=headers, status=503)
    assert answer.json["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert answer.content_type == "application/json"
    assert client.get("/anything").json["user"] is None, "anonymous requests still pass"
    body = {"username": "alice", "password": PASSWORD}
    answer = client.post_json("/session", body, status=503)
    assert answer.json["error"]["code"] == "SERVICE_UNAVAILABLE"

    start()
    assert _eventually(lambda: client.get("/anything", headers=headers, expect_errors=True))
    assert client.get("/anything", headers=headers).json["user"]["username"] == "alice"


def _eventually(request: Callable[[], webtest.TestResponse], seconds: float = 15.0) -> bool:
    """Whether a request answers 200 within some seconds (a pool may wait to reconnect)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if request().status_int == 200:
            return True
        time.sleep(0.1)
    return False


def _stopped(server: RedisServer | PostgresServer) -> bool:
    try:
        _wait_for_port(server.port, seconds=0.0)
    except TimeoutError:
        return True
    return False


def _wait_for_port(port: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"nothing listens on port {port}") from None
            time.sleep(0.05)
