"""The ASGI 3 middleware: the same sessions, endpoints and answers as the WSGI one.

Wrap any ASGI application (Starlette, FastAPI, Django, Quart, Litestar…)::

    from nullptr_auth.asgi import AuthMiddleware
    app = AuthMiddleware(app, "sqlite:///nullptr_auth.db")

It takes the same options as :class:`nullptr_auth.wsgi.AuthMiddleware` (one list,
:class:`nullptr_auth.config.AuthOptions`), answers the same paths with the same JSON
and error codes, and shares stores and tokens with it: a WSGI and an ASGI application
on one store accept each other's sessions. Needs the ``asgi`` extra (``anyio``).

What each scope type gets:

``http``
    The owned paths (``POST /session`` and the others) are answered here; their body is
    read from ``http.request`` messages up to ``max_body_size`` (a larger declared
    ``Content-Length`` is refused unread, a streamed body as soon as it passes the
    limit, both ``413 REQUEST_TOO_LARGE``). Every other request is authenticated from
    its ``Username`` and ``Token`` headers (or the other ``transports``: ``Bearer``,
    the browser cookie with its CSRF check, :mod:`nullptr_auth.transports`) and handed
    on with ``scope["nullptr_auth.user"]``, ``scope["nullptr_auth.session"]``,
    ``scope["nullptr_auth.auth_type"]`` (what authenticated it, WSGI's ``AUTH_TYPE``)
    and ``scope["nullptr_auth.path"]`` (the canonical path, on which every decision is
    made), Starlette's ``scope["user"]`` (:class:`AuthenticatedUser` or
    :class:`AnonymousUser`) and ``scope["auth"]`` (:class:`Credentials`, whose scope
    ``"authenticated"`` Starlette's ``@requires`` checks), and without the ``Token``
    header (nor ``Authorization: Bearer``, nor the session cookie, when they carried
    it). The answer to an authenticated request gets ``Cache-Control: private`` and
    ``Vary: Username, Token`` (and the other transports' headers) by rewriting
    ``http.response.start`` alone: the application's request body and response body
    pass through, never read or buffered.
``websocket``
    Authenticated from the handshake headers, and refused before ``accept`` when the
    pair is bad or ``require_auth`` covers the path: with the contract's JSON error
    (``401``) when the server offers the ``websocket.http.response`` extension, else
    with ``websocket.close`` code ``1008`` (policy violation), which the server turns
    into an HTTP ``403`` for the handshake. A handshake on the session cookie alone
    must come from the site's own origin or a ``trusted_origins`` one (cross-site
    WebSocket hijacking: see :meth:`~nullptr_auth.transports.Transports.check_csrf`).
    Accepted connections carry the same scope keys as ``http``.
``lifespan`` and any other type
    Passed through untouched.

The event loop is never blocked: a session the store holds in memory (the memory store,
SQLite's cache, Redis's and PostgreSQL's with ``?cache=on``; see
:class:`~nullptr_auth.stores.base.CachingStore`) is answered inline, a signature check
and a dictionary lookup; everything else that may wait (a store miss, a write such as
the once-a-minute activity record, a password hash, every owned path) goes through
:func:`run_off_loop`, the one door to a worker thread.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.to_thread
from werkzeug.sansio.utils import get_content_length

from . import _http, _paths, errors
from ._http import Request, Response
from .auth import Adapter, Authenticated, Identity
from .models import Session, User
from .stores import DEFAULT_DATABASE, Store

if TYPE_CHECKING:
    from typing import Unpack

    from .config import AuthOptions

__all__ = [
    "AUTH_TYPE_KEY",
    "PATH_KEY",
    "SESSION_KEY",
    "USER_KEY",
    "WEBSOCKET_CLOSE_CODE",
    "AnonymousUser",
    "AuthMiddleware",
    "AuthenticatedUser",
    "Credentials",
    "run_off_loop",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

USER_KEY = "nullptr_auth.user"
SESSION_KEY = "nullptr_auth.session"
PATH_KEY = "nullptr_auth.path"
AUTH_TYPE_KEY = "nullptr_auth.auth_type"
"""What authenticated the request: ``Token``, ``Bearer`` or ``Cookie`` (WSGI's
``AUTH_TYPE``, which ASGI has no counterpart for); ``None`` when anonymous."""
WEBSOCKET_CLOSE_CODE = 1008
"""RFC 6455's "policy violation": the close code of a refused WebSocket handshake."""
_DENIAL = "websocket.http.response"
_HTTP_SCHEMES = {"ws": "http", "wss": "https"}  # a handshake's origin is its page's
_T = TypeVar("_T")


async def run_off_loop(function: Callable[..., _T], *args: Any) -> _T:
    """Run a call that may block (I/O, hashing) in a worker thread; the one door.

    Nothing else in this module waits on anything but the event loop. anyio's thread
    pool serves asyncio and trio alike; a cancelled request still lets the call finish,
    so a store write is never cut in half.
    """
    return await anyio.to_thread.run_sync(functools.partial(function, *args))


class AuthenticatedUser:
    """``scope["user"]`` of an authenticated request, in Starlette's shape
    (``request.user.is_authenticated``, ``display_name``, ``identity``)."""

    __slots__ = ("session", "user")
    is_authenticated = True

    def __init__(self, user: User, session: Session) -> None:
        self.user = user
        self.session = session

    def __repr__(self) -> str:
        return f"<AuthenticatedUser {self.user.username!r}>"

    @property
    def display_name(self) -> str:
        return self.user.username

    @property
    def identity(self) -> str:
        return self.user.id

    @property
    def username(self) -> str:
        return self.user.username


class AnonymousUser:
    """``scope["user"]`` of an anonymous request."""

    __slots__ = ()
    is_authenticated = False
    display_name = ""
    identity = ""

    def __repr__(self) -> str:
        return "<AnonymousUser>"


class Credentials:
    """``scope["auth"]``: Starlette's ``AuthCredentials`` shape (``scopes``, which its
    ``@requires`` checks), plus the session."""

    __slots__ = ("scopes", "session")

    def __init__(self, scopes: tuple[str, ...] = (), session: Session | None = None) -> None:
        self.scopes = scopes
        self.session = session

    def __repr__(self) -> str:
        return f"<Credentials {self.scopes!r}>"


_ANONYMOUS = AnonymousUser()
_NO_CREDENTIALS = Credentials()
_AUTHENTICATED = ("authenticated",)


class AuthMiddleware(Adapter):
    """Session authentication for an ASGI 3 application.

    :param app: the wrapped ASGI application.
    :param database: as for :class:`nullptr_auth.wsgi.AuthMiddleware`.
    :param options: the same options (:class:`nullptr_auth.config.AuthOptions`). A
        ``require_auth`` callable gets the scope (canonical path in
        ``scope["nullptr_auth.path"]``) and runs on the event loop: it must not block.
        ``trust_remote_user`` has no effect: ASGI has no ``REMOTE_USER``.
    :raises TypeError, ValueError: naming every invalid option at once.
    """

    def __init__(
        self,
        app: ASGIApp,
        database: str | Store = DEFAULT_DATABASE,
        **options: Unpack[AuthOptions],
    ) -> None:
        super().__init__(database, **options)
        self.app = app
        self._vary = self.transports.vary
        self._private_headers = [
            (b"cache-control", b"private"),
            (b"vary", ", ".join(self._vary).encode("latin-1")),
        ]

    def __repr__(self) -> str:
        return f"<asgi.AuthMiddleware {self.store!r} around {self.app!r}>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def require_auth(self, scope: Scope) -> bool:
        """Whether ``require_auth`` covers this scope (for code routing by itself)."""
        raw_path = _route_path(scope)
        path = scope.setdefault(PATH_KEY, _paths.canonical(raw_path))
        return self.core.requires_auth(Request(scope.get("method", "GET"), path, raw_path), scope)

    # -- http -------------------------------------------------------------------------
    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_path = _route_path(scope)
        path = scope[PATH_KEY] = _paths.canonical(raw_path)
        method: str = scope["method"]
        headers = _http.headers_from_pairs(scope["headers"])
        core = self.core
        if core.owns(path):
            body: bytes | None = b""
            if core.takes_body(method, path):
                try:
                    body = await _read_body(receive, headers, self.options.max_body_size)
                except _Disconnected:
                    return
            request = _request(scope, method, raw_path, path, headers, body)
            response = await run_off_loop(core.answer, request)
            if response is not None:
                await _send(send, response, method)
                return
        if core.anonymous_at_a_glance(headers.get):
            _as_anonymous(scope)
            await self.app(scope, receive, send)
            return
        request = _request(scope, method, raw_path, path, headers)
        try:
            identity = await self._identify(scope, request)
        except errors.AuthError as error:
            await _send(send, core.refusal(request, error), method)
            return
        except Exception:
            await _send(send, _http.internal_error_response(), method)
            return
        if identity is None:
            await self.app(scope, receive, send)
            return

        async def private_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": self._private(message.get("headers", ()))}
            await send(message)

        await self.app(scope, receive, private_send)

    def _private(self, headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """:func:`nullptr_auth._http.for_one_user` on ASGI's byte pairs.

        An answer without ``Cache-Control`` or ``Vary`` (the common case) just gets
        both; one with either goes through the one rule, on decoded text.
        """
        pairs = list(headers)
        for name, _ in pairs:
            lowered = bytes(name).lower()
            if lowered == b"cache-control" or lowered == b"vary":
                decoded = [
                    (bytes(n).decode("latin-1"), bytes(v).decode("latin-1")) for n, v in pairs
                ]
                return _encoded(_http.for_one_user(decoded, self._vary))
        return pairs + self._private_headers

    # -- websocket --------------------------------------------------------------------
    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_path = _route_path(scope)
        path = scope[PATH_KEY] = _paths.canonical(raw_path)
        headers = _http.headers_from_pairs(scope["headers"])
        request = _request(scope, "GET", raw_path, path, headers)
        try:
            await self._identify(scope, request)
        except errors.AuthError as error:
            await _refuse_handshake(scope, receive, send, self.core.refusal(request, error))
            return
        except Exception:
            await _refuse_handshake(scope, receive, send, _http.internal_error_response())
            return
        await self.app(scope, receive, send)

    # -- authentication ---------------------------------------------------------------
    async def _identify(self, scope: Scope, request: Request) -> Identity | None:
        """Authenticate, inline when no I/O is needed, and write the result into the
        scope; the ``Token`` header leaves it, and so does what carried the token.

        :raises InvalidSession, CsrfFailed, AuthorizationRequired:
        """
        core = self.core
        if core.hides_token and "token" in request.headers:
            scope["headers"] = [(n, v) for n, v in scope["headers"] if n.lower() != b"token"]
        _as_anonymous(scope)
        found = core.authenticate_inline(request)
        if not (found is None or isinstance(found, Authenticated)):  # NEEDS_IO
            found = await run_off_loop(core.authenticate, request)
        if found is None:
            if core.requires_auth(request, scope):
                raise errors.AuthorizationRequired()
            return None
        hidden = core.hidden_headers(found, request.headers)
        if hidden:
            scope["headers"] = _without(scope["headers"], hidden)
        user, session = found.user, found.session
        scope[USER_KEY] = user
        scope[SESSION_KEY] = session
        scope[AUTH_TYPE_KEY] = found.auth_type
        scope["user"] = AuthenticatedUser(user, session)
        scope["auth"] = Credentials(_AUTHENTICATED, session)
        return user, session


def _as_anonymous(scope: Scope) -> None:
    """Mark a scope anonymous (what a request is until it is authenticated)."""
    scope[USER_KEY] = scope[SESSION_KEY] = scope[AUTH_TYPE_KEY] = None
    scope["user"] = _ANONYMOUS
    scope["auth"] = _NO_CREDENTIALS


def _request(
    scope: Scope,
    method: str,
    raw_path: str,
    path: str,
    headers: _http.Headers,
    body: bytes | None = b"",
) -> Request:
    scheme: str = scope.get("scheme", "http")
    server = scope.get("server")
    return Request(
        method,
        path,
        raw_path,
        query=scope.get("query_string", b""),
        headers=headers,
        body=body,
        client=_client(scope),
        scheme=_HTTP_SCHEMES.get(scheme, scheme),
        server="" if not server else f"{server[0]}:{server[1]}",
    )


def _without(
    pairs: Iterable[tuple[bytes, bytes]], changed: Mapping[str, str | None]
) -> list[tuple[bytes, bytes]]:
    """The scope's header pairs with ``changed`` applied: a ``None`` removes a header,
    a text replaces every field of that name by one (dropped if empty)."""
    names = {name.encode("latin-1"): value for name, value in changed.items()}
    kept = [(n, v) for n, v in pairs if bytes(n).lower() not in names]
    for name, value in names.items():
        if value:
            kept.append((name, value.encode("latin-1")))
    return kept


class _Disconnected(Exception):
    """The client went away before its body was read: nothing to answer."""


async def _read_body(receive: Receive, headers: _http.Headers, limit: int) -> bytes | None:
    """The body from ``http.request`` messages, ``None`` once it passes ``limit``.

    A declared ``Content-Length`` over the limit is refused before anything is read;
    otherwise reading stops at the first message that passes it.
    """
    length = get_content_length(headers.get("content-length"), headers.get("transfer-encoding"))
    if length is not None and length > limit:
        return None
    chunks: list[bytes] = []
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected()
        chunk: bytes = message.get("body", b"")
        received += len(chunk)
        if received > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send(send: Send, response: Response, method: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": response.status,
            "headers": _encoded(response.headers),
        }
    )
    await send({"type": "http.response.body", "body": response.body_for(method)})


async def _refuse_handshake(scope: Scope, receive: Receive, send: Send, response: Response) -> None:
    """Refuse a WebSocket before ``accept``: the HTTP answer if the server can send one."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return  # the client is gone already
    if _DENIAL in (scope.get("extensions") or {}):
        await send(
            {
                "type": "websocket.http.response.start",
                "status": response.status,
                "headers": _encoded(response.headers),
            }
        )
        await send({"type": "websocket.http.response.body", "body": response.body})
    else:
        await send({"type": "websocket.close", "code": WEBSOCKET_CLOSE_CODE})


def _route_path(scope: Scope) -> str:
    """The path below the mount point, as WSGI's ``PATH_INFO`` is below ``SCRIPT_NAME``.

    ASGI servers put the mount point in ``root_path`` and (since the spec said so) the
    full path in ``path``; older ones leave ``root_path`` out of ``path``. Either way the
    session paths and ``require_auth`` prefixes are matched below the mount point, as
    Starlette routes.
    """
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and (path == root or path.startswith(root + "/")):
        return path[len(root) :] or "/"
    return path


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


def _encoded(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
