"""Carry the contract's sessions in ``Authorization: Bearer`` or in the session cookie.

The HTTP contract's tests authenticate with ``Username`` and ``Token``. Issue 15's
transports must pass the same contract, so rather than a copy of each test per
transport, :class:`Carried` stands in front of the middleware and moves the session of
each request to the transport under test, as a client of that transport would send it::

    webtest -> Carried -> AuthMiddleware (or AsgiUnderWsgi -> asgi.AuthMiddleware)

A request with both ``Username`` and ``Token`` loses them and gets, for ``bearer``,
``Authorization: Bearer <token>`` (a bearer client sends no username); for ``cookie``,
the session cookie under the middleware's configured name, and, if its method changes
state, what a page of the site sends with it: ``Sec-Fetch-Site: same-origin``, its own
``Origin`` and the double-submit ``X-CSRF-Token``. A request with one of the two, or
none, is passed on as the test wrote it (a half pair is still the headers' error).

For ``cookie``, a session cookie (or its CSRF cookie) already on a request is removed
first: webtest's cookie jar keeps the ``Set-Cookie`` of each login, and a cookie the
jar replays would authenticate a request the test sent anonymous, or keep a session
alive past the test's own headers. Only the token the test put in its headers travels.

Test plumbing, like ``asgi_bridge``: it decides nothing, and the middleware's
attributes (``accounts``, ``store``, ``transports``…) are read through it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from nullptr_auth import csrf
from nullptr_auth.transports import CSRF_SUFFIX

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class Carried:
    """A WSGI app that sends the session of each request to ``app`` by ``carrier``."""

    def __init__(self, app: WSGIApplication, carrier: str) -> None:
        if carrier not in ("bearer", "cookie"):
            raise ValueError(f"no such carrier: {carrier!r}")
        self.carried_app = app
        self.carrier = carrier

    def __getattr__(self, name: str) -> Any:
        return getattr(self.carried_app, name)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self.carried_app(self._rewritten(dict(environ)), start_response)

    def _rewritten(self, environ: WSGIEnvironment) -> WSGIEnvironment:
        if self.carrier == "cookie":
            name = self._cookie_name()
            _drop_cookies(environ, {name, name + CSRF_SUFFIX})
        username, token = environ.get("HTTP_USERNAME"), environ.get("HTTP_TOKEN")
        if not username or not token:
            return environ
        del environ["HTTP_USERNAME"], environ["HTTP_TOKEN"]
        if self.carrier == "bearer":
            if environ.get("HTTP_AUTHORIZATION"):
                raise AssertionError("the request has an Authorization of its own to keep")
            environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        else:
            _add_cookie(environ, f"{self._cookie_name()}={token}")
            if environ.get("REQUEST_METHOD", "GET") not in csrf.SAFE_METHODS:
                environ.update(_same_origin_page(environ, token))
        return environ

    def _cookie_name(self) -> str:
        return str(self.carried_app.transports.cookie_name)  # type: ignore[attr-defined]


def _drop_cookies(environ: WSGIEnvironment, names: set[str]) -> None:
    kept = [
        part.strip()
        for part in environ.get("HTTP_COOKIE", "").split(";")
        if part.strip() and part.strip().partition("=")[0] not in names
    ]
    if kept:
        environ["HTTP_COOKIE"] = "; ".join(kept)
    else:
        environ.pop("HTTP_COOKIE", None)


def _add_cookie(environ: WSGIEnvironment, pair: str) -> None:
    cookie = environ.get("HTTP_COOKIE")
    environ["HTTP_COOKIE"] = f"{cookie}; {pair}" if cookie else pair


def _same_origin_page(environ: WSGIEnvironment, token: str) -> dict[str, str]:
    """The headers a browser adds to a change its own page sends (``fetch``, a form)."""
    host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
    headers = {
        "HTTP_SEC_FETCH_SITE": "same-origin",
        "HTTP_ORIGIN": csrf.origin_of(environ.get("wsgi.url_scheme", "http"), host),
    }
    if token.isascii():  # a token no login issued: the page has no CSRF token for it
        headers["HTTP_X_CSRF_TOKEN"] = csrf.csrf_token(token)
    return headers
