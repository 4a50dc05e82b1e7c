"""``nullptr-auth serve`` as a real process, driven over 127.0.0.1 with a real HTTP client.

Every test runs twice: on werkzeug's server (WSGI) and with ``--asgi`` on uvicorn."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from .conftest import PASSWORD

Serve = Callable[[], str]


def _start(database: str, log: Path, *options: str) -> tuple[subprocess.Popen[bytes], str]:
    command = [sys.executable, "-m", "nullptr_auth", "--database", database, "serve"]
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*command, "--port", "0", *options],
            stdout=output,
            stderr=output,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(rb"http://127\.0\.0\.1:(\d+)/", log.read_bytes())
        if found:
            return process, f"http://127.0.0.1:{found.group(1).decode()}"
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"the server did not start: {log.read_text()}")


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/auth.db"


@pytest.fixture(params=[(), ("--asgi",)], ids=["wsgi", "asgi"])
def serve(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[], tuple[subprocess.Popen[bytes], str]]]:
    """Start servers on the test's database; each is stopped at the end."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(*options: str) -> tuple[subprocess.Popen[bytes], str]:
        log = tmp_path / f"server-{len(processes)}.log"
        process, url = _start(database, log, *request.param, *options)
        processes.append(process)
        return process, url

    yield start
    for process in processes:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


def create_user(database: str, username: str = "alice") -> None:
    subprocess.run(
        [sys.executable, "-m", "nullptr_auth", "--database", database, "user", "create", username],
        input=PASSWORD + "\n",
        text=True,
        check=True,
        capture_output=True,
        timeout=60,
    )


def log_in(url: str, username: str = "alice") -> dict[str, str]:
    answer = requests.post(
        f"{url}/session", json={"username": username, "password": PASSWORD}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return {"Username": username, "Token": answer.json()["session_token"]}


def test_the_readme_walk_through(database: str, serve: Callable[..., tuple[object, str]]) -> None:
    create_user(database)
    _, url = serve()
    anonymous = requests.get(f"{url}/hello", timeout=10)
    assert anonymous.json() == {"path": "/hello", "remote_user": None, "user": None}
    headers = log_in(url)
    seen = requests.get(f"{url}/hello", headers=headers, timeout=10).json()
    assert seen["remote_user"] == "alice"
    assert seen["user"]["username"] == "alice"
    sessions = requests.get(f"{url}/session", headers=headers, timeout=10).json()
    assert sessions["sessions"][0]["user_agent"].startswith("python-requests")
    assert requests.delete(f"{url}/session", headers=headers, timeout=10).status_code == 204
    refused = requests.get(f"{url}/hello", headers=headers, timeout=10)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "INVALID_SESSION"


def test_metrics_are_shown_on_slash_metrics(
    database: str, serve: Callable[..., tuple[object, str]]
) -> None:
    create_user(database)
    _, url = serve("--metrics")
    log_in(url)
    requests.get(f"{url}/hello", headers={"Username": "alice", "Token": "forged"}, timeout=10)
    scrape = requests.get(f"{url}/metrics", timeout=10)
    assert scrape.headers["Content-Type"].startswith("text/plain")
    assert "\nnullptr_auth_logins_total 1.0\n" in scrape.text
    assert '\nnullptr_auth_responses_total{status="401"} 1.0\n' in scrape.text


def test_registration_is_on_in_the_demo(serve: Callable[..., tuple[object, str]]) -> None:
    _, url = serve()
    check = requests.get(f"{url}/user/checkUsername", params={"username": "carol"}, timeout=10)
    assert check.json() == {"available": True}
    answer = requests.post(
        f"{url}/user/register", json={"username": "carol", "password": PASSWORD}, timeout=10
    )
    assert answer.status_code == 200
    headers = {"Username": "carol", "Token": answer.json()["session_token"]}
    assert requests.get(f"{url}/x", headers=headers, timeout=10).json()["remote_user"] == "carol"


def test_a_chunked_login_body_is_read(
    database: str, serve: Callable[..., tuple[object, str]]
) -> None:
    create_user(database)
    _, url = serve()
    body = f'{{"username": "alice", "password": "{PASSWORD}"}}'.encode()
    answer = requests.post(
        f"{url}/session",
        data=iter([body[:10], body[10:]]),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def test_an_oversize_chunked_body_is_refused(serve: Callable[..., tuple[object, str]]) -> None:
    _, url = serve()
    chunks = (b"x" * 16384 for _ in range(64))  # 1 MiB, no Content-Length
    try:
        answer = requests.post(
            f"{url}/session",
            data=chunks,
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
    except requests.ConnectionError:
        return  # the server answered 413 and closed before the client finished sending
    assert answer.status_code == 413


def test_two_servers_share_one_sqlite_file(
    database: str, serve: Callable[..., tuple[object, str]]
) -> None:
    create_user(database)
    (_, first), (_, second) = serve(), serve()
    headers = log_in(first)
    assert requests.get(f"{second}/x", headers=headers, timeout=10).json()["remote_user"] == "alice"
    assert requests.delete(f"{second}/session", headers=headers, timeout=10).status_code == 204
    assert requests.get(f"{first}/x", headers=headers, timeout=10).status_code == 401


def test_a_login_that_answered_survives_kill_9(
    database: str, serve: Callable[..., tuple[subprocess.Popen[bytes], str]]
) -> None:
    create_user(database)
    process, url = serve()
    headers = log_in(url)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    _, restarted = serve()
    seen = requests.get(f"{restarted}/x", headers=headers, timeout=10).json()
    assert seen["remote_user"] == "alice"


def test_concurrent_clients_are_served(
    database: str, serve: Callable[..., tuple[object, str]]
) -> None:
    create_user(database)
    _, url = serve()
    headers = log_in(url)

    def authenticated_call(_: int) -> int:
        with requests.Session() as http:
            return http.get(f"{url}/x", headers=headers, timeout=10).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(authenticated_call, range(200)))
    assert statuses == [200] * 200
