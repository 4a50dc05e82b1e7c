"""A Starlette application behind nullptr_auth.asgi.

The middleware wraps the whole application and sets Starlette's own conventions, so
``request.user`` (``is_authenticated``, ``display_name``, ``identity``) and
``request.auth.scopes`` work without Starlette's ``AuthenticationMiddleware``, and
``@requires("authenticated")`` guards a view. The user object of nullptr_auth is in
``request.scope["nullptr_auth.user"]``. Run it from the repository root; users and
sessions are kept in ``./nullptr_auth.db``, or wherever ``NULLPTR_AUTH_DATABASE``
points::

    pip install -e '.[asgi]' starlette uvicorn
    nullptr-auth user create alice
    uvicorn examples.starlette_app:app

``GET /`` is public; ``GET /me`` and ``POST /echo`` answer ``401`` to anonymous requests.
"""

from __future__ import annotations

import os
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nullptr_auth import Store, User
from nullptr_auth.asgi import AuthMiddleware

DATABASE = os.environ.get("NULLPTR_AUTH_DATABASE", "sqlite:///nullptr_auth.db")


def current_user(request: Request) -> User:
    """The user the middleware authenticated; an anonymous request ends here with 401."""
    if not request.user.is_authenticated:
        raise HTTPException(401, "Log in first.", headers={"WWW-Authenticate": "Token"})
    user: User = request.scope["nullptr_auth.user"]
    return user


async def hello(request: Request) -> Response:
    return JSONResponse({"hello": "world"})


async def me(request: Request) -> Response:
    user = current_user(request)
    return JSONResponse({"id": user.id, "username": user.username})


async def echo(request: Request) -> Response:
    current_user(request)
    return Response(await request.body(), media_type="application/json")


async def not_logged_in(request: Request, exc: Exception) -> Response:
    body = {"error": {"code": "AUTHORIZATION_REQUIRED", "message": "Log in first."}}
    return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Token"})


def create_app(database: str | Store = DATABASE, **middleware_options: Any) -> AuthMiddleware:
    """The Starlette app inside :class:`AuthMiddleware`; options go to the middleware."""
    starlette = Starlette(
        routes=[
            Route("/", hello, methods=["GET"]),
            Route("/me", me, methods=["GET"]),
            Route("/echo", echo, methods=["POST"]),
        ],
        exception_handlers={401: not_logged_in},
    )
    return AuthMiddleware(starlette, database, **middleware_options)


app = create_app()
