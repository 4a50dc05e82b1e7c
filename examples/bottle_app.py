"""A Bottle application behind nullptr_auth.

The routes live on Bottle's default application, and the middleware wraps
``bottle.default_app()``; routes read the user from ``bottle.request.environ``. Run it
from the repository root; users and sessions are kept in ``./nullptr_auth.db``, or
wherever ``NULLPTR_AUTH_DATABASE`` points::

    pip install -e . bottle waitress
    nullptr-auth user create alice
    waitress-serve --listen=127.0.0.1:8000 examples.bottle_app:app

``GET /`` is public; ``GET /me`` and ``POST /echo`` answer ``401`` to anonymous requests.
"""

from __future__ import annotations

import json
import os
from typing import Any

import bottle

from nullptr_auth import AuthMiddleware, Store, User

DATABASE = os.environ.get("NULLPTR_AUTH_DATABASE", "sqlite:///nullptr_auth.db")
NOT_LOGGED_IN = {"error": {"code": "AUTHORIZATION_REQUIRED", "message": "Log in first."}}


def current_user() -> User:
    """The user the middleware authenticated; an anonymous request ends here with 401."""
    user: User | None = bottle.request.environ["nullptr_auth.user"]
    if user is None:
        headers = {"Content-Type": "application/json", "WWW-Authenticate": "Token"}
        raise bottle.HTTPResponse(json.dumps(NOT_LOGGED_IN), 401, headers)
    return user


@bottle.get("/")
def hello() -> dict[str, str]:
    return {"hello": "world"}


@bottle.get("/me")
def me() -> dict[str, str]:
    user = current_user()
    return {"id": user.id, "username": user.username}


@bottle.post("/echo")
def echo() -> bytes:
    current_user()
    bottle.response.content_type = "application/json"
    body: bytes = bottle.request.body.read()
    return body


def create_app(database: str | Store = DATABASE, **middleware_options: Any) -> AuthMiddleware:
    """Bottle's default app behind the middleware; options go to :class:`AuthMiddleware`."""
    return AuthMiddleware(bottle.default_app(), database, **middleware_options)


app = create_app()
