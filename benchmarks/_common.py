"""What every benchmark shares: the bare app, the middleware as the benchmark builds it,
and request environs shaped like the ones a real server hands over.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import argon2
from werkzeug.test import EnvironBuilder, run_wsgi_app

from nullptr_auth import AuthMiddleware, Store

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

BENCH_KEY = "nullptr-auth-benchmark-signing-key-0123456789"
USERNAME = "alice"
PASSWORD = "correct horse battery staple"
HELLO = b"hello"
NO_ACTIVITY_WRITES = timedelta(days=14)
"""An ``activity_interval`` for rows that must not write: no session of a population
outlives it (it is the default idle timeout, and a population whose sessions have ended
is built again). An hour did not do: the populations are reused for days, and once one
was an hour old, the first visit of each of its sessions wrote its activity, so the
``(in turn)`` rows, which visit each session once, wrote on every request."""


def hello(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The bare app: the least a WSGI application can do, so overheads stand out."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [HELLO]


def middleware(
    database: str | Store,
    *,
    cheap_hashing: bool = True,
    app: WSGIApplication = hello,
    **options: Any,
) -> AuthMiddleware:
    """nullptr_auth as a deployment would build it, with the benchmark's signing key.

    Cheap hashing is for setting data up (creating users); the login benchmark passes
    ``cheap_hashing=False`` to time the default hasher. ``options`` go to the middleware.
    """
    if cheap_hashing:
        options.setdefault(
            "password_hasher",
            argon2.PasswordHasher.from_parameters(argon2.profiles.CHEAPEST),
        )
        options.setdefault("allow_weak_hashing_for_tests", True)
    # the populations give one user thousands of sessions: no default limit may evict them
    options.setdefault("max_sessions_per_user", None)
    return AuthMiddleware(app, database, secret_keys=[BENCH_KEY], **options)


def environ(headers: dict[str, str] | None = None, path: str = "/hello") -> dict[str, Any]:
    """A GET environ as werkzeug's test server builds it (about twenty keys)."""
    built = EnvironBuilder(
        path=path, headers=headers or {}, environ_base={"REMOTE_ADDR": "127.0.0.1"}
    ).get_environ()
    return dict(built)


def auth_headers(token: str, username: str = USERNAME) -> dict[str, str]:
    return {"Username": username, "Token": token}


def check(app: WSGIApplication, environ: dict[str, Any], name: str) -> None:
    """Refuse to time a contender whose request does not succeed: 401s are fast."""
    body, status, _ = run_wsgi_app(app, dict(environ))
    content = b"".join(body)
    if not status.startswith("200"):
        raise RuntimeError(f"{name}: expected 200, got {status} {content[:200]!r}")


def probe(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The bare app, answering 403 unless upstream authenticated someone (``REMOTE_USER``).

    Built into a contender in place of :func:`hello` to check, once, that its request
    is really authenticated: an anonymous pass-through is fast too.
    """
    if not environ.get("REMOTE_USER"):
        start_response("403 Forbidden", [("Content-Type", "text/plain")])
        return [b"not authenticated"]
    return hello(environ, start_response)
