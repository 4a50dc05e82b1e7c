"""The Flask and Falcon examples under gunicorn: no spelling of a covered path gets past.

gunicorn hands ``PATH_INFO`` over as the client sent it; werkzeug then merges repeated
slashes and Falcon drops leading ones, so ``//me`` reaches the ``/me`` view. Each
example is served with ``require_auth`` covering its protected routes, and an anonymous
request for any spelling of them must be refused by the middleware, before the app runs.
The examples' views also refuse anonymous requests by themselves, so the test tells the
two apart by the answer: the middleware's has its own message and ``Cache-Control:
no-store``. The requests are sent with ``http.client``, which puts the path on the
request line exactly as given (``requests`` would normalise some of them).
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nullptr_auth import AuthMiddleware
from nullptr_auth.errors import AuthorizationRequired

from ..conftest import PASSWORD
from ..services import free_port, missing
from .conftest import EXAMPLES, ROOT, Example

pytestmark = pytest.mark.servers

FLASK_AND_FALCON = [pytest.param(e, id=e.name) for e in EXAMPLES if e.name in ("flask", "falcon")]
REQUIRE_AUTH = ["/me", "/echo"]
SPELLINGS = [
    pytest.param("GET", "//me", id="double-slash"),
    pytest.param("GET", "///me", id="triple-slash"),
    pytest.param("GET", "/./me", id="dot"),
    pytest.param("GET", "/x/../me", id="dot-dot"),
    pytest.param("GET", "//me/", id="double-slash-trailing-slash"),
    pytest.param("GET", "/.//me", id="dot-then-double-slash"),
    pytest.param("POST", "//echo", id="post-double-slash"),
]


@dataclass(frozen=True)
class Served:
    port: int
    mount: str  # the SCRIPT_NAME gunicorn was started with

    def send(
        self, method: str, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """One request with ``path`` (after the mount) on the request line verbatim."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            body = b'{"secret": true}' if method == "POST" else None
            connection.request(method, self.mount + path, body=body, headers=headers or {})
            answer = connection.getresponse()
            return answer.status, dict(answer.getheaders()), answer.read()
        finally:
            connection.close()


@pytest.fixture(params=[pytest.param("", id="root"), pytest.param("/mount", id="mounted")])
def served(
    request: pytest.FixtureRequest,
    example: Example,
    server_env: dict[str, str],
    tmp_path: Path,
) -> Iterator[Served]:
    """The example under gunicorn's threaded worker, with ``require_auth`` on its routes."""
    if importlib.util.find_spec("gunicorn") is None:
        missing(f"gunicorn is not installed; tox -e {example.name} runs this")
    _add_alice(server_env["NULLPTR_AUTH_DATABASE"])
    port = free_port()
    target = f"{example.module}:create_app(require_auth={REQUIRE_AUTH!r})"
    command = ["gunicorn", "--worker-class", "gthread", "--threads", "8",
               "--no-control-socket", "--bind", f"127.0.0.1:{port}", target]  # fmt: skip
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", *command],
            cwd=ROOT,
            env={**server_env, "SCRIPT_NAME": request.param},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield _wait_until_served(Served(port, request.param), server, log)
    finally:
        server.terminate()
        server.wait(timeout=30)


def _add_alice(database: str) -> None:
    auth = AuthMiddleware(lambda environ, start_response: [], database)
    auth.accounts.create("alice", PASSWORD)
    auth.store.close()


def _wait_until_served(served: Served, server: subprocess.Popen[bytes], log: Path) -> Served:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            served.send("GET", "/")
            return served
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise AssertionError(f"gunicorn did not start:\n{log.read_text()}")


@pytest.mark.parametrize("example", FLASK_AND_FALCON, indirect=True)
@pytest.mark.parametrize(("method", "path"), SPELLINGS)
def test_no_spelling_of_a_covered_path_reaches_the_app(
    served: Served, method: str, path: str
) -> None:
    status, headers, body = served.send(method, path)
    assert status == 401, body
    assert json.loads(body) == {
        "error": {"code": "AUTHORIZATION_REQUIRED", "message": AuthorizationRequired().message}
    }, "the app answered: the request got past require_auth"
    assert headers["Cache-Control"] == "no-store"
    assert headers["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("example", FLASK_AND_FALCON, indirect=True)
def test_the_doubled_slash_does_reach_the_view_with_a_session(served: Served) -> None:
    """What the refusal above protects: the framework routes ``//me`` to ``/me``."""
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    credentials = json.dumps({"username": "alice", "password": PASSWORD})
    connection.request("POST", f"{served.mount}/session", credentials,
                       {"Content-Type": "application/json"})  # fmt: skip
    login = connection.getresponse()
    token = json.loads(login.read())["session_token"]
    connection.close()
    status, _, body = served.send("GET", "//me", {"Username": "alice", "Token": token})
    assert status == 200, body
    assert json.loads(body)["username"] == "alice"
