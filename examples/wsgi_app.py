"""A plain WSGI application behind nullptr_auth: no framework, only PEP 3333.

Run it from the repository root; users and sessions are kept in ``./nullptr_auth.db``,
or wherever ``NULLPTR_AUTH_DATABASE`` points (the ``nullptr-auth`` command reads it too)::

    pip install -e . waitress
    nullptr-auth user create alice
    waitress-serve --listen=127.0.0.1:8000 examples.wsgi_app:app

    curl -X POST localhost:8000/session -H 'Content-Type: application/json' \\
         -d '{"username": "alice", "password": "…"}'          # → {"session_token": …}
    curl localhost:8000/me -H 'Username: alice' -H "Token: $TOKEN"

``GET /`` is public; ``GET /me`` and ``POST /echo`` answer ``401`` to anonymous requests.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from nullptr_auth import AuthMiddleware, Store, User

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

DATABASE = os.environ.get("NULLPTR_AUTH_DATABASE", "sqlite:///nullptr_auth.db")
NOT_LOGGED_IN = {"error": {"code": "AUTHORIZATION_REQUIRED", "message": "Log in first."}}


def application(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """Route on method and path; the middleware has put the user (or ``None``) in the environ."""
    route = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
    user: User | None = environ["nullptr_auth.user"]
    headers = [("Content-Type", "application/json")]
    if route == ("GET", "/"):
        status, body = "200 OK", json.dumps({"hello": "world"}).encode()
    elif route not in {("GET", "/me"), ("POST", "/echo")}:
        status, body = "404 Not Found", b'{"error": {"code": "NOT_FOUND"}}'
    elif user is None:
        status, body = "401 Unauthorized", json.dumps(NOT_LOGGED_IN).encode()
        headers.append(("WWW-Authenticate", "Token"))
    elif route == ("GET", "/me"):
        status, body = "200 OK", json.dumps({"id": user.id, "username": user.username}).encode()
    else:
        status, body = "200 OK", _read_body(environ)
    start_response(status, [*headers, ("Content-Length", str(len(body)))])
    return [body]


def _read_body(environ: WSGIEnvironment) -> bytes:
    """The request body, untouched: the middleware never reads it on the app's paths."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length > 0 else b""


def create_app(database: str | Store = DATABASE, **middleware_options: Any) -> AuthMiddleware:
    """The application behind the middleware; options go to :class:`AuthMiddleware`."""
    return AuthMiddleware(application, database, **middleware_options)


app = create_app()
