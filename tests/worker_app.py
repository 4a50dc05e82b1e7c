"""The WSGI application ``tests/test_many_workers.py`` runs under gunicorn.

The demo app behind the middleware, registration on, configured as a deployment would
be: ``NULLPTR_AUTH_DATABASE`` names the shared store and ``NULLPTR_AUTH_SECRET_KEYS``
the keys (and ``NULLPTR_AUTH_SESSIONS`` a separate sessions store, if set).
``NULLPTR_AUTH_TEST_CHEAP_HASHING=1`` swaps in argon2's cheapest profile so that a few
seconds of load are spent on the store, not on hashing;
``NULLPTR_AUTH_TEST_TRUSTED_PROXIES`` sets ``trusted_proxies`` (so a test can speak from
many addresses) and ``NULLPTR_AUTH_TEST_HIDE_USERS=1`` sets ``reveal_unknown_users=False``.
Every answer names the worker process that gave it in an ``X-Worker-Pid`` header.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import argon2

from nullptr_auth import AuthMiddleware
from nullptr_auth.demo import demo_app

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

_cheap = os.environ.get("NULLPTR_AUTH_TEST_CHEAP_HASHING") == "1"
auth = AuthMiddleware(
    demo_app,
    os.environ["NULLPTR_AUTH_DATABASE"],
    sessions=os.environ.get("NULLPTR_AUTH_SESSIONS") or None,
    registration=True,
    trusted_proxies=int(os.environ.get("NULLPTR_AUTH_TEST_TRUSTED_PROXIES", "0")),
    reveal_unknown_users=os.environ.get("NULLPTR_AUTH_TEST_HIDE_USERS") != "1",
    password_hasher=argon2.PasswordHasher.from_parameters(argon2.profiles.CHEAPEST)
    if _cheap
    else None,
    allow_weak_hashing_for_tests=_cheap,
)
atexit.register(auth.store.close)  # a worker told to stop closes its pool, not the GC


def application(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    def start_naming_the_worker(status: str, headers: Any, exc_info: Any = None) -> Any:
        headers = [*headers, ("X-Worker-Pid", str(os.getpid()))]
        return start_response(status, headers, exc_info)

    return auth(environ, start_naming_the_worker)
