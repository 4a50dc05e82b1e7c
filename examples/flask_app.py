"""A Flask application behind nullptr_auth.

The middleware wraps ``app.wsgi_app``, not ``app``, so ``app`` stays a Flask object
(``flask run``, ``app.test_client()`` and extensions keep working). Views read the user
from ``request.environ``. Run it from the repository root; users and sessions are kept
in ``./nullptr_auth.db``, or wherever ``NULLPTR_AUTH_DATABASE`` points::

    pip install -e . flask
    nullptr-auth user create alice
    flask --app examples.flask_app run

``GET /`` is public; ``GET /me`` and ``POST /echo`` answer ``401`` to anonymous requests.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, Response, abort, request

from nullptr_auth import AuthMiddleware, Store, User

DATABASE = os.environ.get("NULLPTR_AUTH_DATABASE", "sqlite:///nullptr_auth.db")


def current_user() -> User:
    """The user the middleware authenticated; an anonymous request ends here with 401."""
    user: User | None = request.environ["nullptr_auth.user"]
    if user is None:
        abort(401)
    return user


def create_app(database: str | Store = DATABASE, **middleware_options: Any) -> Flask:
    """The Flask app; ``middleware_options`` go to :class:`AuthMiddleware`."""
    app = Flask(__name__)
    app.wsgi_app = AuthMiddleware(app.wsgi_app, database, **middleware_options)  # type: ignore[method-assign]

    @app.get("/")
    def hello() -> dict[str, str]:
        return {"hello": "world"}

    @app.get("/me")
    def me() -> dict[str, str]:
        user = current_user()
        return {"id": user.id, "username": user.username}

    @app.post("/echo")
    def echo() -> Response:
        current_user()
        return Response(request.get_data(), mimetype="application/json")

    @app.errorhandler(401)
    def not_logged_in(error: Exception) -> tuple[dict[str, Any], int, dict[str, str]]:
        body = {"error": {"code": "AUTHORIZATION_REQUIRED", "message": "Log in first."}}
        return body, 401, {"WWW-Authenticate": "Token"}

    return app


app = create_app()
