"""A FastAPI application behind nullptr_auth.asgi, the user as a dependency.

The FastAPI way to need a logged-in user is a dependency: :func:`current_user` gives
the :class:`~nullptr_auth.User` the middleware authenticated, or answers ``401`` (with
``WWW-Authenticate: Token``) before the endpoint runs; ``CurrentUser`` is the annotated
type to put in an endpoint's signature. ``request.user`` and ``request.auth`` work too
(the middleware sets Starlette's conventions). Run it from the repository root; users
and sessions are kept in ``./nullptr_auth.db``, or wherever ``NULLPTR_AUTH_DATABASE``
points::

    pip install -e '.[asgi]' fastapi uvicorn
    nullptr-auth user create alice
    uvicorn examples.fastapi_app:app

``GET /`` is public; ``GET /me`` and ``POST /echo`` answer ``401`` to anonymous requests.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from nullptr_auth import Store, User
from nullptr_auth.asgi import AuthMiddleware

DATABASE = os.environ.get("NULLPTR_AUTH_DATABASE", "sqlite:///nullptr_auth.db")


def current_user(request: Request) -> User:
    """The authenticated user, or 401 before the endpoint runs."""
    user: User | None = request.scope.get("nullptr_auth.user")
    if user is None:
        raise HTTPException(401, "Log in first.", headers={"WWW-Authenticate": "Token"})
    return user


CurrentUser = Annotated[User, Depends(current_user)]


async def not_logged_in(request: Request, exc: Exception) -> Response:
    """The contract's error envelope, as the middleware's own 401 has it."""
    body = {"error": {"code": "AUTHORIZATION_REQUIRED", "message": "Log in first."}}
    return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Token"})


def create_app(database: str | Store = DATABASE, **middleware_options: Any) -> AuthMiddleware:
    """The FastAPI app inside :class:`AuthMiddleware`; options go to the middleware.

    (``api.add_middleware(AuthMiddleware, database=...)`` works as well; wrapping keeps
    the middleware object at hand, for ``app.accounts`` and ``app.sessions``.)
    """
    api = FastAPI(exception_handlers={401: not_logged_in})

    @api.get("/")
    def hello() -> dict[str, str]:
        return {"hello": "world"}

    @api.get("/me")
    def me(user: CurrentUser) -> dict[str, str]:
        return {"id": user.id, "username": user.username}

    @api.post("/echo")
    async def echo(request: Request, user: CurrentUser) -> Response:
        return Response(await request.body(), media_type="application/json")

    return AuthMiddleware(api, database, **middleware_options)


app = create_app()
