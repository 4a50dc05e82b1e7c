"""The demo application behind ``nullptr-auth serve``: it shows what it was given.

Every path answers ``{"path", "remote_user", "user"}``, exactly what the wrapped
application saw in its environ, so the middleware's effect can be watched with curl.
:func:`create_app` wraps it as ``nullptr-auth serve`` does, for a production server::

    gunicorn --workers 4 'nullptr_auth.demo:create_app()'
    waitress-serve --call nullptr_auth.demo:create_app
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .middleware import AuthMiddleware
from .stores import DEFAULT_DATABASE

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


def demo_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    user = environ.get("nullptr_auth.user")
    body = json.dumps(
        {
            "path": environ.get("PATH_INFO", ""),
            "remote_user": environ.get("REMOTE_USER"),
            "user": None if user is None else {"id": user.id, "username": user.username},
        }
    ).encode() + b"\n"  # ends the line at a shell prompt, as the middleware's answers do
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def create_app(
    database: str | None = None, sessions: str | None = None, **options: Any
) -> AuthMiddleware:
    """The demo app behind the middleware, with registration on, as ``serve`` runs it.

    :param database: the store; ``None`` reads ``NULLPTR_AUTH_DATABASE``, else the default.
    :param sessions: a separate session store; ``None`` reads ``NULLPTR_AUTH_SESSIONS``.
    :param options: more :class:`~nullptr_auth.AuthMiddleware` options
        (``trusted_proxies=1`` behind one reverse proxy).
    """
    return AuthMiddleware(
        demo_app,
        database or os.environ.get("NULLPTR_AUTH_DATABASE", DEFAULT_DATABASE),
        sessions=sessions or os.environ.get("NULLPTR_AUTH_SESSIONS") or None,
        registration=True,
        **options,
    )
