"""The demo application behind ``nullptr-auth serve``: it shows what it was given.

Every path answers ``{"path", "remote_user", "user"}``, exactly what the wrapped
application saw in its environ, so the middleware's effect can be watched with curl.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

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
