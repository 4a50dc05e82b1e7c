"""A Pyramid application behind nullptr_auth, with a security policy that trusts it.

:class:`NullptrAuthSecurityPolicy` makes the user the middleware authenticated
Pyramid's identity, so ``request.identity``, ``request.authenticated_userid`` and view
permissions work as usual: the protected views ask for ``permission="view"``, and an
anonymous request is refused before the view runs, with the ``401`` the other examples
answer (a forbidden view turns Pyramid's ``403`` into it). Run it from the repository
root; users and sessions are kept in ``./nullptr_auth.db``, or wherever
``NULLPTR_AUTH_DATABASE`` points. Pyramid 2.1 still imports ``pkg_resources``, which
setuptools 81 deprecates and 82 removes, hence the pin::

    pip install -e . pyramid 'setuptools<81' waitress
    nullptr-auth user create alice
    waitress-serve --listen=127.0.0.1:8000 examples.pyramid_app:app
"""

from __future__ import annotations

import os
from typing import Any

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPForbidden
from pyramid.request import Request
from pyramid.response import Response
from pyramid.security import Allowed, Denied

from nullptr_auth import AuthMiddleware, Store, User

DATABASE = os.environ.get("NULLPTR_AUTH_DATABASE", "sqlite:///nullptr_auth.db")


class NullptrAuthSecurityPolicy:
    """Pyramid's ``ISecurityPolicy`` over the user in ``environ["nullptr_auth.user"]``.

    Every authenticated user holds every permission; for roles, hand the user's
    principals to :class:`pyramid.authorization.ACLHelper` in :meth:`permits`. Logging
    in and out are the middleware's (``POST`` and ``DELETE /session``), so
    :meth:`remember` and :meth:`forget` have no headers to add.
    """

    def identity(self, request: Request) -> User | None:
        user: User | None = request.environ["nullptr_auth.user"]
        return user

    def authenticated_userid(self, request: Request) -> str | None:
        user = request.identity
        return None if user is None else user.id

    def permits(self, request: Request, context: object, permission: str) -> Allowed | Denied:
        if request.identity is None:
            return Denied("anonymous requests hold no permission")
        return Allowed("authenticated by nullptr_auth")

    def remember(self, request: Request, userid: str, **kw: Any) -> list[tuple[str, str]]:
        return []

    def forget(self, request: Request, **kw: Any) -> list[tuple[str, str]]:
        return []


NOT_LOGGED_IN = {"error": {"code": "AUTHORIZATION_REQUIRED", "message": "Log in first."}}


def refused(error: HTTPForbidden, request: Request) -> Response:
    """The forbidden view: ``401`` for an anonymous request, as the other examples answer."""
    if request.identity is not None:
        return error  # logged in, but not allowed: Pyramid's 403 stands
    response = Response(json_body=NOT_LOGGED_IN, status=401)
    response.headers["WWW-Authenticate"] = "Token"
    return response


def hello(request: Request) -> dict[str, str]:
    return {"hello": "world"}


def me(request: Request) -> dict[str, str]:
    return {"id": request.authenticated_userid, "username": request.identity.username}


def echo(request: Request) -> Response:
    # body_file is read once, as it comes; request.body would first copy a large body
    # into a temporary file.
    return Response(body=request.body_file.read(), content_type="application/json")


def create_app(database: str | Store = DATABASE, **middleware_options: Any) -> AuthMiddleware:
    """The Pyramid app behind the middleware; options go to :class:`AuthMiddleware`."""
    with Configurator() as config:
        config.set_security_policy(NullptrAuthSecurityPolicy())
        config.add_route("hello", "/")
        config.add_route("me", "/me")
        config.add_route("echo", "/echo")
        config.add_view(hello, route_name="hello", request_method="GET", renderer="json")
        config.add_view(
            me, route_name="me", request_method="GET", renderer="json", permission="view"
        )
        config.add_view(echo, route_name="echo", request_method="POST", permission="view")
        config.add_forbidden_view(refused)
        wsgi_app = config.make_wsgi_app()
    return AuthMiddleware(wsgi_app, database, **middleware_options)


app = create_app()
