"""The WSGI middleware: answers the session paths, authenticates everything else.

Wrap any PEP 3333 application::

    from nullptr_auth import AuthMiddleware
    app = AuthMiddleware(app, "sqlite:///nullptr_auth.db")

``POST /session`` logs in; every other request is authenticated from its ``Username``
and ``Token`` headers and handed on with ``environ["nullptr_auth.user"]``,
``environ["nullptr_auth.session"]``, ``REMOTE_USER`` and ``AUTH_TYPE`` set (or the
first two ``None`` for an anonymous request); the ``transports`` option adds ``Bearer``
and browser cookies (:mod:`nullptr_auth.transports`). Every decision (which paths the
middleware owns, which ``require_auth`` covers) is made on the canonical path, repeated
slashes merged and dot segments resolved, which the application finds in
``environ["nullptr_auth.path"]`` (see ``_paths.py``). Authentication reads headers only:
the application's request body and its response stream pass through untouched. The answer to an
authenticated request gets ``Cache-Control: private`` (unless the application set a
``Cache-Control``) and ``Vary: Username, Token``, through ``start_response`` alone.

This module is only the WSGI adapter: it turns the environ into the core's plain
request value (``_http.Request``), reads the body of an owned path within the limits,
and turns the core's answer (``_http.Response``) into ``start_response`` and an
iterable. Every rule is in the core (``auth.py``, ``_endpoints.py``, ``_http.py``),
which :mod:`nullptr_auth.asgi` shares.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.sansio.utils import get_content_length

from . import _http, _paths, errors
from ._http import Request, Response
from .auth import Adapter
from .stores import DEFAULT_DATABASE, Store
from .transports import VARY

if TYPE_CHECKING:
    from typing import Unpack

    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from .config import AuthOptions

__all__ = [
    "PATH_KEY",
    "SESSION_KEY",
    "USER_KEY",
    "AuthMiddleware",
    "private_start_response",
]

USER_KEY = "nullptr_auth.user"
SESSION_KEY = "nullptr_auth.session"
PATH_KEY = "nullptr_auth.path"
_CHUNK = 16 * 1024


class AuthMiddleware(Adapter):
    """Session authentication for a WSGI application.

    :param app: the wrapped WSGI application.
    :param database: a store URL (``sqlite:///path.db``, ``memory://``,
        ``redis://host:port/N``, ``postgresql://…``) or a
        :class:`~nullptr_auth.stores.base.Store` object.
    :param sessions: keep sessions (and failed-login counts and the generated key) in
        this store instead, and only users in ``database``; see
        :mod:`nullptr_auth.stores.split` for the combinations that make sense.
    :param secret_keys: signing keys, newest first (``str`` or ``bytes``, 32 bytes or
        more); ``None`` reads ``NULLPTR_AUTH_SECRET_KEYS`` (comma-separated) and, if that
        is unset, uses a key generated once and kept in the store.
    :param session_path: where the session endpoints live.
    :param require_auth: ``True``, a list of path prefixes, or a callable taking the
        environ: anonymous requests it covers get ``401 AUTHORIZATION_REQUIRED``. Paths
        are compared in their canonical form (repeated slashes merged, ``.`` and ``..``
        resolved), and a prefix also covers a path whose raw ``PATH_INFO`` it covers.
        A callable gets the environ as the server built it, with the canonical path in
        ``environ["nullptr_auth.path"]``: decide on that, never on ``PATH_INFO``.
    :param registration: answer the account API: ``/user/checkUsername``,
        ``/user/register`` and ``/user/password``.
    :param session_lifetime: absolute session lifetime, ``None`` for none.
    :param idle_timeout: how long an unused session lives, ``None`` for ever.
    :param activity_interval: the least time between two activity writes of a session.
    :param max_body_size: the largest request body read, in bytes.
    :param max_password_length: the longest password accepted, in characters.
    :param max_sessions_per_user: the most live sessions a user may hold (default 100;
        ``None`` for no limit); ``1`` with ``"evict_oldest"`` is "one device only".
    :param session_limit_policy: ``"evict_oldest"`` (a new login ends the least recently
        used session) or ``"reject"`` (``403 TOO_MANY_SESSIONS``).
    :param password_blocklist: a callable returning ``True`` for passwords too common to
        allow, or the path of a file listing them; checked on new passwords only.
    :param reveal_unknown_users: ``False`` answers both login failures with
        ``INCORRECT_CREDENTIALS`` and throttles checkUsername and register per address.
    :param throttling: throttle failed logins (see :mod:`nullptr_auth.throttle`).
    :param trusted_proxies: how many proxies in front append to ``X-Forwarded-For``;
        the client address is the one the outermost trusted proxy saw. ``0`` uses
        ``REMOTE_ADDR`` and ignores the header, which any client can forge.
    :param trust_remote_user: keep a ``REMOTE_USER`` set upstream on anonymous requests.
    :param password_hasher: an :class:`argon2.PasswordHasher` (OWASP's minimum for
        argon2id by default).
    :param max_concurrent_hashes: password hashes computed at once in this process
        (default: one per CPU); the excess waits up to 5 s, then gets ``503``.
    :param allow_weak_hashing_for_tests: accept a ``password_hasher`` below OWASP's
        minimum, which is refused otherwise; for test suites, never for production.
    :param users: a :class:`~nullptr_auth.UserSource` to check logins against the
        application's own users instead of the store's.
    :param clock: returns the current time as an aware UTC datetime.
    :param transports: what may carry a session: ``"headers"`` (``Username`` and
        ``Token``), ``"bearer"`` (``Authorization: Bearer``), ``"cookie"`` (a browser
        session with CSRF checks); see :mod:`nullptr_auth.transports`.
    :param cookie_name: the session cookie's name (default ``__Host-nullptr_auth``,
        or ``nullptr_auth`` with a ``cookie_domain`` or ``cookie_insecure_localhost``).
    :param cookie_domain: share the cookie with this domain's subdomains (host-only
        by default).
    :param cookie_insecure_localhost: leave ``Secure`` off the cookies set in answer to
        ``http://localhost`` (127.0.0.1, [::1]), for development; every other host
        still gets ``Secure``.
    :param session_token_in_body: ``False`` leaves ``session_token`` out of the login
        answer, so that only the ``HttpOnly`` cookie holds it.
    :param trusted_origins: origins besides the request's own whose pages may change
        state with the cookie (``"https://app.example"``).
    :param on_event: a callable, or a list of them, called with every audit event as
        an :class:`~nullptr_auth.events.Event`; see :mod:`nullptr_auth.events`.
    :param metrics: a :class:`~nullptr_auth.metrics.Metrics` to count into (it may be
        shared by several middlewares); export it with Prometheus or OpenTelemetry.

    The options are declared once, in :class:`nullptr_auth.config.AuthOptions`, and
    :class:`nullptr_auth.asgi.AuthMiddleware` takes the same.

    :raises TypeError, ValueError: naming every invalid option at once.
    """

    def __init__(
        self,
        app: WSGIApplication,
        database: str | Store = DEFAULT_DATABASE,
        **options: Unpack[AuthOptions],
    ) -> None:
        super().__init__(database, **options)
        self.app = app
        self._credential_keys = tuple(
            _environ_key(name) for name in self.core.credential_headers if name != "token"
        )
        """The environ keys of the headers that carry credentials, for the anonymous
        glance; ``Token`` is not among them: it left the environ, and a value of it
        already means "not anonymous"."""

    def __repr__(self) -> str:
        return f"<AuthMiddleware {self.store!r} around {self.app!r}>"

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raw_path = environ.get("PATH_INFO", "")
        path = environ[PATH_KEY] = _paths.canonical(raw_path)
        core = self.core
        if core.owns(path):
            try:
                request = self._owned_request(environ, raw_path, path)
            except Exception:  # a broken input stream, an environ no server builds
                return _send(_http.internal_error_response(), environ, start_response)
            response = core.answer(request)
            if response is not None:
                return _send(response, environ, start_response)
        token = environ.pop("HTTP_TOKEN", None) if core.hides_token else None
        if token is None and core.anonymous_at_a_glance(environ.get, self._credential_keys):
            self._as_anonymous(environ)
            return self.app(environ, start_response)
        headers = _EnvironHeaders(environ, token)
        request = _request(environ, raw_path, path, headers)
        try:
            authenticated = self._identify(environ, request)
        except errors.AuthError as error:
            return _send(core.refusal(request, error), environ, start_response)
        except Exception:
            return _send(_http.internal_error_response(), environ, start_response)
        if authenticated:
            return self.app(environ, private_start_response(start_response, core.transports.vary))
        return self.app(environ, start_response)

    def require_auth(self, environ: WSGIEnvironment) -> bool:
        """Whether ``require_auth`` covers this environ (for code routing by itself)."""
        raw_path = environ.get("PATH_INFO", "")
        path = environ.setdefault(PATH_KEY, _paths.canonical(raw_path))
        request = Request(environ.get("REQUEST_METHOD", "GET"), path, raw_path)
        return self.core.requires_auth(request, environ)

    def _identify(self, environ: WSGIEnvironment, request: Request) -> bool:
        """Authenticate and write the result into the environ; whether it names a user.

        What carried the token leaves the environ (the application never needs it); an
        upstream ``REMOTE_USER`` and ``AUTH_TYPE`` are replaced by the session's, and
        leave an anonymous request's environ unless ``trust_remote_user``.
        A refused request never reaches the application, so its environ is left as is.

        :raises InvalidSession, CsrfFailed, AuthorizationRequired:
        """
        core = self.core
        found = core.authenticate(request)
        if found is None:
            self._as_anonymous(environ)  # before the rule: a callable reads this environ
            if core.requires_auth(request, environ):
                raise errors.AuthorizationRequired()
            return False
        hidden = None if core.transports.default else core.hidden_headers(found, request.headers)
        if hidden:  # never for the default transport: its token left the environ above
            for name, value in hidden.items():
                key = "HTTP_" + name.upper().replace("-", "_")
                if value is None:
                    del environ[key]
                else:
                    environ[key] = value
        user = environ[USER_KEY] = found.user
        environ[SESSION_KEY] = found.session
        environ["REMOTE_USER"] = user.username
        environ["AUTH_TYPE"] = found.auth_type
        return True

    def _as_anonymous(self, environ: WSGIEnvironment) -> None:
        """Mark the environ of a request that goes on anonymous."""
        if not self.options.trust_remote_user:
            environ.pop("REMOTE_USER", None)
            environ.pop("AUTH_TYPE", None)
        environ[USER_KEY] = environ[SESSION_KEY] = None

    def _owned_request(self, environ: WSGIEnvironment, raw_path: str, path: str) -> Request:
        method = environ.get("REQUEST_METHOD", "GET")
        body: bytes | None = b""
        if self.core.takes_body(method, path):
            body = _read_body(environ, self.options.max_body_size)
        headers = _EnvironHeaders(environ, environ.get("HTTP_TOKEN"))
        query = environ.get("QUERY_STRING", "").encode("latin-1")
        return _request(environ, raw_path, path, headers, body, query)


def _request(
    environ: WSGIEnvironment,
    raw_path: str,
    path: str,
    headers: _EnvironHeaders,
    body: bytes | None = b"",
    query: bytes = b"",
) -> Request:
    """The core's request value; the query only for an owned path (the app's is its own)."""
    return Request(
        environ.get("REQUEST_METHOD", "GET"),
        path,
        raw_path,
        query,
        headers,
        body,
        str(environ.get("REMOTE_ADDR", "")),
        environ.get("wsgi.url_scheme", "http"),
        ""
        if "HTTP_HOST" in environ
        else f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}",
    )


def private_start_response(
    start_response: StartResponse, vary: Sequence[str] = VARY["headers"]
) -> StartResponse:
    """``start_response`` for an authenticated request: its answer is one user's.

    Marks the headers with :func:`nullptr_auth._http.for_one_user` (``vary``: the
    headers that carry sessions); the body and the iterable are the application's,
    untouched.
    """

    def start(
        status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
    ) -> Callable[[bytes], object]:
        return start_response(status, _http.for_one_user(headers, vary), exc_info)

    return start


class _EnvironHeaders(Mapping[str, str]):
    """The request headers of an environ by lowercase name, read on demand.

    ``token`` stands in for ``HTTP_TOKEN``, which the adapter takes out of the environ
    before the application sees it.
    """

    __slots__ = ("_environ", "_token")

    def __init__(self, environ: WSGIEnvironment, token: str | None) -> None:
        self._environ = environ
        self._token = token

    def __getitem__(self, name: str) -> str:
        found = self.get(name)
        if found is None:
            raise KeyError(name)
        return found

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        """One dictionary lookup (``Mapping.get`` would raise and catch a KeyError for
        every absent header: this runs on every request)."""
        if name == "token":
            return default if self._token is None else self._token
        key = _ENVIRON_KEYS.get(name) or _environ_key(name)
        value = self._environ.get(key)
        return default if value is None else str(value)

    def __iter__(self) -> Iterator[str]:
        for key in self._environ:
            if key.startswith("HTTP_") and key != "HTTP_TOKEN":
                yield key[5:].lower().replace("_", "-")
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                yield key.lower().replace("_", "-")
        if self._token is not None:
            yield "token"

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _environ_key(name: str) -> str:
    key = name.upper().replace("-", "_")
    return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key


_ENVIRON_KEYS = {
    name: _environ_key(name)
    for name in (
        "username",
        "authorization",
        "cookie",
        "host",
        "origin",
        "sec-fetch-site",
        "x-csrf-token",
        "upgrade",
        "user-agent",
        "x-forwarded-for",
        "content-type",
        "content-length",
    )
}
"""The environ keys of the headers the core reads, computed once."""


def _send(
    response: Response, environ: WSGIEnvironment, start_response: StartResponse
) -> list[bytes]:
    status = f"{response.status} {HTTP_STATUS_CODES.get(response.status, '').upper()}"
    start_response(status, list(response.headers))
    body = response.body_for(environ.get("REQUEST_METHOD", "GET"))
    return [body] if body else []


def _read_body(environ: WSGIEnvironment, limit: int) -> bytes | None:
    """At most ``limit`` bytes of body, ``None`` past it; never reads past ``limit + 1``.

    A declared Content-Length over the limit is refused unread. Without one, the body
    is read only if the server terminates the stream (chunked requests), chunk by chunk.
    """
    stream = environ["wsgi.input"]
    length = get_content_length(
        environ.get("CONTENT_LENGTH"), environ.get("HTTP_TRANSFER_ENCODING")
    )
    if length is not None:
        if length > limit:
            return None
        return bytes(stream.read(length)) if length else b""
    if not environ.get("wsgi.input_terminated"):
        return b""
    chunks: list[bytes] = []
    received = 0
    while received <= limit:
        chunk = stream.read(min(_CHUNK, limit + 1 - received))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        received += len(chunk)
    return None
