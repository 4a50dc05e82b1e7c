"""docs/frameworks.md's FastAPI snippet: ``nullptr_auth.testing`` with FastAPI's own
``TestClient``, through :mod:`nullptr_auth.asgi` (``tox -e fastapi``)."""

from __future__ import annotations

import warnings

import pytest

pytest.importorskip("fastapi", reason="tox -e fastapi installs FastAPI")

# Starlette 1.x warns that its TestClient will move from httpx to httpx2 (not yet on
# the package index here); the client works as documented.
_HTTPX_MOVE = "ignore:Using `httpx` with `starlette.testclient` is deprecated"
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from nullptr_auth.stores.base import Store  # noqa: E402
from nullptr_auth.testing import bearer_headers, cookie_headers, login_headers  # noqa: E402

from ..conftest import SECRET_KEY  # noqa: E402

pytestmark = [pytest.mark.fastapi, pytest.mark.filterwarnings(_HTTPX_MOVE)]


def test_fastapis_test_client_with_the_testing_helpers(nullptr_auth_store: Store) -> None:
    from examples.fastapi_app import create_app

    auth = create_app(
        nullptr_auth_store,
        transports=["headers", "bearer", "cookie"],
        secret_keys=[SECRET_KEY],
    )
    client = TestClient(auth)
    for headers in (login_headers(auth, "alice"), bearer_headers(auth, "alice")):
        assert client.get("/me", headers=headers).json()["username"] == "alice"
    browser = cookie_headers(auth, "alice")
    answer = client.post("/echo", headers=browser, content=b"{}")
    assert answer.status_code == 200
    del browser["X-CSRF-Token"]  # the cookie alone on an app route: refused before the app
    answer = client.post("/echo", headers=browser, content=b"{}")
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "CSRF_FAILED"
