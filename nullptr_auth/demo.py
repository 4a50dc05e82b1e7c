"""The demo application behind ``nullptr-auth serve``: it shows what it was given.

Every path answers ``{"path", "remote_user", "user"}``, exactly what the wrapped
application saw in its environ, so the middleware's effect can be watched with curl.
:func:`create_app` wraps it as ``nullptr-auth serve`` does, for a production server::

    gunicorn --workers 4 'nullptr_auth.demo:create_app()'
    waitress-serve --call nullptr_auth.demo:create_app

One path is a page instead: ``GET /demo.html``, a browser session with the cookie
transport (log in, call the app with ``fetch(..., {credentials: "include"})`` and the
CSRF token, log out), which the browser test drives in headless Chromium.

:func:`asgi_demo` is the same demo over ASGI, for any ASGI server (the ``asgi`` extra)::

    NULLPTR_AUTH_DATABASE=sqlite:///nullptr_auth.db uvicorn --factory nullptr_auth.demo:asgi_demo

(``nullptr-auth serve --asgi`` serves :func:`demo_asgi_app` on uvicorn, as ``serve`` does
:func:`demo_app` on werkzeug's server.)
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

    from .asgi import AuthMiddleware as ASGIAuthMiddleware


PAGE_PATH = "/demo.html"
PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>nullptr_auth demo</title></head>
<body>
<form id="login"><input name="username" placeholder="username">
<input name="password" type="password" placeholder="password"><button>log in</button></form>
<button id="whoami">who am I?</button> <button id="change">POST /hello</button>
<button id="logout">log out</button>
<pre id="out"></pre>
<script>
// The session cookie is HttpOnly: no script reads it. The CSRF cookie is readable
// on purpose; every state-changing request echoes it in X-CSRF-Token.
function csrf() {
  const found = document.cookie.split("; ").find(c => c.split("=")[0].endsWith("_csrf"));
  return found ? found.split("=")[1] : "";
}
async function call(method, path, body) {
  const headers = {"X-CSRF-Token": csrf()};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const answer = await fetch(path, {method, headers, credentials: "include",
                                    body: body === undefined ? undefined : JSON.stringify(body)});
  const text = await answer.text();
  const shown = {status: answer.status, body: text ? JSON.parse(text) : null};
  document.getElementById("out").textContent = JSON.stringify(shown, null, 2);
  return shown;
}
const login = (username, password) => call("POST", "/session", {username, password});
const whoami = () => call("GET", "/hello");
const change = () => call("POST", "/hello");
const logout = () => call("DELETE", "/session");
document.getElementById("login").onsubmit = event => {
  event.preventDefault();
  const form = new FormData(event.target);
  login(form.get("username"), form.get("password"));
};
document.getElementById("whoami").onclick = whoami;
document.getElementById("change").onclick = change;
document.getElementById("logout").onclick = logout;
</script>
</body></html>
"""


def demo_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    if environ.get("PATH_INFO") == PAGE_PATH and environ.get("REQUEST_METHOD") == "GET":
        start_response(
            "200 OK",
            [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(PAGE)))],
        )
        return [PAGE]
    user = environ.get("nullptr_auth.user")
    body = _json_line(
        {
            "path": environ.get("PATH_INFO", ""),
            "remote_user": environ.get("REMOTE_USER"),
            "user": None if user is None else {"id": user.id, "username": user.username},
        }
    )
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


def _json_line(document: object) -> bytes:
    """The document as one line: it ends at a shell prompt, as the middleware's answers do."""
    return json.dumps(document).encode() + b"\n"


async def demo_asgi_app(scope: Any, receive: Any, send: Any) -> None:
    """:func:`demo_app` for ASGI: the scope's path and user (``remote_user`` is the
    username, as ``REMOTE_USER`` would be)."""
    if scope["type"] != "http":
        return
    user = scope.get("nullptr_auth.user")
    body = _json_line(
        {
            "path": scope.get("path", ""),
            "remote_user": None if user is None else user.username,
            "user": None if user is None else {"id": user.id, "username": user.username},
        }
    )
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def asgi_demo() -> ASGIAuthMiddleware:
    """The ASGI demo behind :class:`nullptr_auth.asgi.AuthMiddleware`, registration on,
    on ``NULLPTR_AUTH_DATABASE`` (or the default store), as ``serve`` does."""
    from .asgi import AuthMiddleware as ASGIMiddleware

    return ASGIMiddleware(
        demo_asgi_app,
        os.environ.get("NULLPTR_AUTH_DATABASE", DEFAULT_DATABASE),
        sessions=os.environ.get("NULLPTR_AUTH_SESSIONS") or None,
        registration=True,
    )
