"""The pytest plugin of nullptr_auth (entry point ``pytest11``): fixtures for the test
suites of applications behind the middleware.

``nullptr_auth_store`` is a throw-away ``memory://`` store, closed after the test::

    def test_login(nullptr_auth_store):
        app = AuthMiddleware(my_app, nullptr_auth_store, secret_keys=[KEY])
        client = Client(app)
        client.get("/profile", headers=login_headers(app, "alice"))

Pair it with :mod:`nullptr_auth.testing` for logged-in users without a password hash.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .stores import Store, open_store


@pytest.fixture
def nullptr_auth_store() -> Iterator[Store]:
    """A fresh ``memory://`` store: nothing in it outlives the test."""
    store = open_store("memory://")
    yield store
    store.close()
