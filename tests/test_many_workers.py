"""Many processes on one shared store, as a deployment runs them.

Four gunicorn worker processes serve ``tests/worker_app.py`` on each shared store while
sixteen clients register, log in, use their sessions, log out and check that the ended
token is refused. Then two ``nullptr-auth serve`` processes share one Redis: a token
issued by one works on the other, and ending it on one ends it on both.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from .services import SHARED_STORES, free_port, missing, scratch_store

pytestmark = pytest.mark.servers

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEYS = "many-workers-secret-key-of-32-bytes,an-older-key-still-verifying-tokens"
PASSWORD = "correct horse battery"
WORKERS = 4
CLIENTS = 16
SECONDS = 4.0


@pytest.fixture(params=SHARED_STORES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of a shared store of this test's own."""
    with scratch_store(request.param, tmp_path) as url:
        yield url


def start(
    command: list[str], database: str, log: Path, **variables: str | None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start a server on a free ``{port}`` with the shared configuration (and environment
    ``variables`` over it, ``None`` to unset one); wait for it."""
    port = free_port()
    settings = {
        **os.environ,
        "NULLPTR_AUTH_DATABASE": database,
        "NULLPTR_AUTH_SECRET_KEYS": SECRET_KEYS,
        "NULLPTR_AUTH_TEST_CHEAP_HASHING": "1",
        "PYTHONPATH": str(ROOT),
        **variables,
    }
    environment = {name: value for name, value in settings.items() if value is not None}
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", *(part.format(port=port) for part in command)],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60  # workers importing on a loaded machine take a while
    while time.monotonic() < deadline and process.poll() is None:
        try:
            requests.get(f"{base}/ready", timeout=5)
            return process, base
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.05)
    process.kill()
    process.wait(timeout=10)
    raise AssertionError(f"the server did not start:\n{log.read_text()}")


def gunicorn_command(workers: int = WORKERS) -> list[str]:
    """gunicorn serving ``tests/worker_app.py`` with sync workers; skips if not installed."""
    if importlib.util.find_spec("gunicorn") is None:
        missing("gunicorn is not installed")
    return ["gunicorn", "--workers", str(workers), "--worker-class", "sync",
            "--no-control-socket",  # one shared ~/.gunicorn socket clashes across runs
            "--bind", "127.0.0.1:{port}", "tests.worker_app:application"]  # fmt: skip


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        raise


@pytest.fixture
def gunicorn(database: str, tmp_path: Path) -> Iterator[str]:
    process, base = start(gunicorn_command(), database, tmp_path / "gunicorn.log")
    yield base
    stop(process)


@dataclass
class Tally:
    """What the clients saw; every list should stay empty."""

    server_errors: list[str] = field(default_factory=list)
    live_token_refused: list[str] = field(default_factory=list)
    ended_token_accepted: list[str] = field(default_factory=list)
    workers: set[str] = field(default_factory=set)
    sessions: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, answer: requests.Response) -> requests.Response:
        with self.lock:
            if answer.status_code >= 500:
                self.server_errors.append(f"{answer.status_code} {answer.text}")
            self.workers.add(answer.headers.get("X-Worker-Pid", "?"))
        return answer


def client(base: str, number: int, deadline: float, tally: Tally) -> None:
    """Register, then log in again and again; use each session, end it, try it once more."""
    http = requests.Session()
    username = f"c{number}-{uuid.uuid4().hex[:8]}"
    credentials = {"username": username, "password": PASSWORD}
    path = "/user/register"
    while time.monotonic() < deadline:
        answer = tally.saw(http.post(f"{base}{path}", json=credentials, timeout=10))
        path = "/session"
        if answer.status_code != 200:
            continue
        headers = {"Username": username, "Token": answer.json()["session_token"]}
        with tally.lock:
            tally.sessions += 1
        for _ in range(3):
            answer = tally.saw(http.get(f"{base}/hello", headers=headers, timeout=10))
            if answer.status_code != 200 or answer.json()["remote_user"] != username:
                tally.live_token_refused.append(f"{answer.status_code} {answer.text}")
        tally.saw(http.get(f"{base}/session", headers=headers, timeout=10))
        tally.saw(http.delete(f"{base}/session", headers=headers, timeout=10))
        answer = tally.saw(http.get(f"{base}/hello", headers=headers, timeout=10))
        if answer.status_code != 401:
            tally.ended_token_accepted.append(f"{answer.status_code} {answer.text}")


def test_gunicorn_workers_share_every_session(gunicorn: str) -> None:
    tally = Tally()
    deadline = time.monotonic() + SECONDS
    threads = [
        threading.Thread(target=client, args=(gunicorn, number, deadline, tally))
        for number in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert tally.server_errors == []
    assert tally.live_token_refused == []
    assert tally.ended_token_accepted == []
    assert tally.sessions >= CLIENTS
    assert len(tally.workers) == WORKERS, "every worker answered"


def test_two_servers_on_one_redis_share_sessions(tmp_path: Path) -> None:
    with scratch_store("redis", tmp_path) as database:
        servers = [
            start(
                ["nullptr_auth", "serve", "--port", "{port}"], database, tmp_path / f"serve{n}.log"
            )
            for n in (1, 2)
        ]
        try:
            check_two_servers(*(base for _, base in servers))
        finally:
            for process, _ in servers:
                process.terminate()
                process.wait(timeout=20)


def check_two_servers(first: str, second: str) -> None:
    credentials: dict[str, Any] = {"username": "alice", "password": PASSWORD}
    token = requests.post(f"{first}/user/register", json=credentials, timeout=10).json()
    headers = {"Username": "alice", "Token": token["session_token"]}
    seen = requests.get(f"{second}/whoami", headers=headers, timeout=10).json()
    assert seen["user"] == {"id": token["user_id"], "username": "alice"}
    assert requests.delete(f"{second}/session", headers=headers, timeout=10).status_code == 204
    assert requests.get(f"{first}/whoami", headers=headers, timeout=10).status_code == 401
