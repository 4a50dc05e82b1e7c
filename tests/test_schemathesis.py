"""schemathesis against a real ``nullptr-auth serve``, driven by the OpenAPI document.

schemathesis generates requests for every documented operation from
``nullptr_auth/openapi.json`` (its examples first, then data of the documented shapes)
and sends them to the demo server over 127.0.0.1. Each answer must not be a server
error and must conform to the document: a documented status, content type, headers and
body. Operations that need a session get the headers of a fresh one, minted for each
request straight into the server's SQLite store (so a generated logout or password
change cannot starve the next request, and throttled logins do not matter).

schemathesis is installed by ``tox -e fuzz``; elsewhere this module is skipped.
``NULLPTR_AUTH_SCHEMATHESIS_EXAMPLES`` sets the examples per operation (default 25).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip(
    "schemathesis",
    reason="schemathesis is installed by `tox -e fuzz` only (pip install schemathesis)",
)

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from nullptr_auth import AuthMiddleware  # noqa: E402
from nullptr_auth.demo import demo_app  # noqa: E402
from nullptr_auth.models import User  # noqa: E402

from .conftest import PASSWORD  # noqa: E402
from .test_server import _start  # noqa: E402

DOCUMENT: dict[str, Any] = json.loads(
    resources.files("nullptr_auth").joinpath("openapi.json").read_text(encoding="utf-8")
)
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = int(os.environ.get("NULLPTR_AUTH_SCHEMATHESIS_EXAMPLES", "25"))


@dataclass
class Server:
    """The demo server's address, and a way to mint sessions in its store."""

    url: str
    minter: AuthMiddleware
    user: User

    def session_headers(self) -> dict[str, str]:
        return {"Username": self.user.username, "Token": self.minter.sessions.start(self.user)}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory: Path = tmp_path_factory.mktemp("schemathesis")
    database = f"sqlite:///{directory}/x.db"
    minter = AuthMiddleware(demo_app, database)  # shares the key the store keeps
    user = minter.accounts.create("alice", PASSWORD)
    process, url = _start(database, directory / "server.log")
    try:
        yield Server(url, minter, user)
    finally:
        process.terminate()
        process.wait(timeout=10)
        minter.store.close()


def _needs_a_session(case: Any) -> bool:
    operation = case.operation  # the documented one, even when another method is sent
    return bool(DOCUMENT["paths"][operation.path][operation.method.lower()].get("security"))


@SCHEMA.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_the_server_keeps_to_its_document(case: Any, server: Server) -> None:
    if _needs_a_session(case):  # instead of the random Username and Token it generated
        case.headers = {**(case.headers or {}), **server.session_headers()}
    case.call_and_validate(base_url=server.url, checks=CHECKS, timeout=30)
