"""A Falcon application (WSGI mode) behind nullptr_auth.

The middleware wraps the ``falcon.App``; responders read the user from ``req.env``, and
a ``falcon.before`` hook turns anonymous requests away from the protected resources.
Run it from the repository root; users and sessions are kept in ``./nullptr_auth.db``,
or wherever ``NULLPTR_AUTH_DATABASE`` points::

    pip install -e . falcon waitress
    nullptr-auth user create alice
    waitress-serve --listen=127.0.0.1:8000 examples.falcon_app:app

``GET /`` is public; ``GET /me`` and ``POST /echo`` answer ``401`` to anonymous requests.
"""

from __future__ import annotations

import json
import os
from typing import Any

import falcon

from nullptr_auth import AuthMiddleware, Store, User

DATABASE = os.environ.get("NULLPTR_AUTH_DATABASE", "sqlite:///nullptr_auth.db")


NOT_LOGGED_IN = {"error": {"code": "AUTHORIZATION_REQUIRED", "message": "Log in first."}}


def require_user(req: falcon.Request, resp: falcon.Response, resource: object, params: Any) -> None:
    """A ``falcon.before`` hook: anonymous requests get 401 before the responder runs.

    ``falcon.HTTPStatus`` rather than ``falcon.HTTPUnauthorized``, so that the body has
    the middleware's ``{"error": {"code", "message"}}`` shape instead of Falcon's own.
    """
    if req.env["nullptr_auth.user"] is None:
        raise falcon.HTTPStatus(
            falcon.HTTP_401,
            headers={"Content-Type": falcon.MEDIA_JSON, "WWW-Authenticate": "Token"},
            text=json.dumps(NOT_LOGGED_IN),
        )


class Hello:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"hello": "world"}


@falcon.before(require_user)
class Me:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        user: User = req.env["nullptr_auth.user"]  # never None here: see require_user
        resp.media = {"id": user.id, "username": user.username}


@falcon.before(require_user)
class Echo:
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = req.bounded_stream.read()


def create_app(database: str | Store = DATABASE, **middleware_options: Any) -> AuthMiddleware:
    """The Falcon app behind the middleware; options go to :class:`AuthMiddleware`."""
    app = falcon.App()
    app.add_route("/", Hello())
    app.add_route("/me", Me())
    app.add_route("/echo", Echo())
    return AuthMiddleware(app, database, **middleware_options)


app = create_app()
