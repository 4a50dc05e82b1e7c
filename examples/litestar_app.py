"""A Litestar application behind nullptr_auth.asgi.

Litestar reads ``request.user`` from ``scope["user"]``, which the middleware sets (an
object with ``is_authenticated``); the :class:`~nullptr_auth.User` itself is in
``request.scope["nullptr_auth.user"]``. Run it from the repository root; users and
sessions are kept in ``./nullptr_auth.db``, or wherever ``NULLPTR_AUTH_DATABASE``
points::

    pip install -e '.[asgi]' litestar uvicorn
    nullptr-auth user create alice
    uvicorn examples.litestar_app:app

``GET /`` is public; ``GET /me`` and ``POST /echo`` answer ``401`` to anonymous requests.
"""

from __future__ import annotations

import os
from typing import Any

from litestar import Litestar, Request, Response, get, post
from litestar.exceptions import NotAuthorizedException

from nullptr_auth import Store, User
from nullptr_auth.asgi import AuthMiddleware

DATABASE = os.environ.get("NULLPTR_AUTH_DATABASE", "sqlite:///nullptr_auth.db")


def current_user(request: Request[Any, Any, Any]) -> User:
    """The authenticated user; an anonymous request ends here with 401."""
    user: User | None = request.scope.get("nullptr_auth.user")  # type: ignore[attr-defined]
    if user is None:
        raise NotAuthorizedException("Log in first.", headers={"WWW-Authenticate": "Token"})
    return user


@get("/")
async def hello() -> dict[str, str]:
    return {"hello": "world"}


@get("/me")
async def me(request: Request[Any, Any, Any]) -> dict[str, str]:
    user = current_user(request)
    return {"id": user.id, "username": user.username}


@post("/echo", status_code=200)
async def echo(request: Request[Any, Any, Any]) -> Response[bytes]:
    current_user(request)
    return Response(await request.body(), media_type="application/json")


def not_logged_in(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The contract's error envelope, as the middleware's own 401 has it."""
    body = {"error": {"code": "AUTHORIZATION_REQUIRED", "message": "Log in first."}}
    return Response(body, status_code=401, headers={"WWW-Authenticate": "Token"})


def create_app(database: str | Store = DATABASE, **middleware_options: Any) -> AuthMiddleware:
    """The Litestar app inside :class:`AuthMiddleware`; options go to the middleware."""
    litestar = Litestar(
        [hello, me, echo], exception_handlers={NotAuthorizedException: not_logged_in}
    )
    return AuthMiddleware(litestar, database, **middleware_options)


app = create_app()
