"""The demo application behind ``nullptr-auth serve``: it shows what it was given.

Every path answers ``{"path", "remote_user", "user"}``, exactly what the wrapped
application saw in its environ, so the middleware's effect can be watched with curl.
:func:`asgi_demo` is the same demo over ASGI, for any ASGI server (the ``asgi`` extra)::

    NULLPTR_AUTH_DATABASE=sqlite:///nullptr_auth.db uvicorn --factory nullptr_auth.demo:asgi_demo
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from .asgi import AuthMiddleware as ASGIAuthMiddleware


def demo_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    user = environ.get("nullptr_auth.user")
    body = json.dumps(
        {
            "path": environ.get("PATH_INFO", ""),
            "remote_user": environ.get("REMOTE_USER"),
            "user": None if user is None else {"id": user.id, "username": user.username},
        }
    ).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


async def demo_asgi_app(scope: Any, receive: Any, send: Any) -> None:
    """:func:`demo_app` for ASGI: the scope's path and user (``remote_user`` is the
    username, as ``REMOTE_USER`` would be)."""
    if scope["type"] != "http":
        return
    user = scope.get("nullptr_auth.user")
    body = json.dumps(
        {
            "path": scope.get("path", ""),
            "remote_user": None if user is None else user.username,
            "user": None if user is None else {"id": user.id, "username": user.username},
        }
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def asgi_demo() -> ASGIAuthMiddleware:
    """The ASGI demo behind :class:`nullptr_auth.asgi.AuthMiddleware`, registration on,
    on ``NULLPTR_AUTH_DATABASE`` (or the default store), as ``serve`` does."""
    from .asgi import AuthMiddleware
    from .stores import DEFAULT_DATABASE

    database = os.environ.get("NULLPTR_AUTH_DATABASE", DEFAULT_DATABASE)
    return AuthMiddleware(demo_asgi_app, database, registration=True)
