"""The WSGI middleware: answers the session paths, authenticates everything else.

Wrap any PEP 3333 application::

    from nullptr_auth import AuthMiddleware
    app = AuthMiddleware(app, "sqlite:///nullptr_auth.db")

``POST /session`` logs in; every other request is authenticated from its ``Username``
and ``Token`` headers and handed on with ``environ["nullptr_auth.user"]``,
``environ["nullptr_auth.session"]`` and ``REMOTE_USER`` set (or the first two ``None``
for an anonymous request). Every decision (which paths the middleware owns, which
``require_auth`` covers) is made on the canonical path, repeated slashes merged and dot
segments resolved, which the application finds in ``environ["nullptr_auth.path"]``
(see ``_paths.py``). Authentication reads headers only: the application's
request body and its response stream pass through untouched. The answer to an
authenticated request gets ``Cache-Control: private`` (unless the application set a
``Cache-Control``) and ``Vary: Username, Token``, through ``start_response`` alone.

This module is the per-request path; the answers of the paths the middleware owns are
in ``_endpoints.py``, and the HTTP vocabulary both share (bodies, JSON, the one error
table) in ``_http.py``. No other module knows there is a web.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import argon2

from . import _http, _paths, errors, events
from ._endpoints import Endpoints, Identity
from .accounts import Accounts, UserSource
from .audit import Audit
from .config import DEFAULT_MAX_SESSIONS, Options, RequireAuth, secret_keys_from
from .metrics import Metrics
from .passwords import Blocklist, Passwords
from .sessions import Sessions
from .stores import DEFAULT_DATABASE, Store, open_store
from .stores.split import SplitStore
from .throttle import LOOKUP_RULES, REGISTRATION_RULES, RULES, Throttle
from .transports import Transports

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from werkzeug.wrappers import Response

    from .transports import Credentials

USER_KEY = "nullptr_auth.user"
SESSION_KEY = "nullptr_auth.session"
PATH_KEY = "nullptr_auth.path"


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class AuthMiddleware:
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

    :raises TypeError, ValueError: naming every invalid option at once.
    """

    def __init__(
        self,
        app: WSGIApplication,
        database: str | Store = DEFAULT_DATABASE,
        *,
        sessions: str | Store | None = None,
        secret_keys: Sequence[str | bytes] | None = None,
        session_path: str = "/session",
        require_auth: RequireAuth = False,
        registration: bool = False,
        session_lifetime: timedelta | None = timedelta(days=30),
        idle_timeout: timedelta | None = timedelta(days=14),
        activity_interval: timedelta = timedelta(minutes=1),
        max_body_size: int = 64 * 1024,
        max_password_length: int = 1024,
        max_sessions_per_user: int | None = DEFAULT_MAX_SESSIONS,
        session_limit_policy: str = "evict_oldest",
        password_blocklist: Blocklist | str | os.PathLike[str] | None = None,
        reveal_unknown_users: bool = True,
        throttling: bool = True,
        trusted_proxies: int = 0,
        trust_remote_user: bool = False,
        password_hasher: argon2.PasswordHasher | None = None,
        max_concurrent_hashes: int | None = None,
        allow_weak_hashing_for_tests: bool = False,
        users: UserSource | None = None,
        clock: Callable[[], datetime] = _utc_now,
        transports: Sequence[str] = ("headers",),
        cookie_name: str | None = None,
        cookie_domain: str | None = None,
        cookie_insecure_localhost: bool = False,
        session_token_in_body: bool = True,
        trusted_origins: Sequence[str] = (),
        on_event: events.OnEvent = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.options = Options(
            secret_keys=secret_keys_from(secret_keys),
            session_path=session_path,
            require_auth=require_auth,
            registration=registration,
            session_lifetime=session_lifetime,
            idle_timeout=idle_timeout,
            activity_interval=activity_interval,
            max_body_size=max_body_size,
            max_password_length=max_password_length,
            max_sessions_per_user=max_sessions_per_user,
            session_limit_policy=session_limit_policy,
            reveal_unknown_users=reveal_unknown_users,
            throttling=throttling,
            trusted_proxies=trusted_proxies,
            trust_remote_user=trust_remote_user,
            max_concurrent_hashes=max_concurrent_hashes,
            password_hasher=password_hasher,
            allow_weak_hashing_for_tests=allow_weak_hashing_for_tests,
            users=users,
            transports=_tuple(transports),
            cookie_name=cookie_name,
            cookie_domain=cookie_domain,
            cookie_insecure_localhost=cookie_insecure_localhost,
            session_token_in_body=session_token_in_body,
            trusted_origins=_tuple(trusted_origins),
            on_event=on_event,
            metrics=metrics,
        )
        self.app = app
        self.transports = Transports(self.options)
        self.store = _store(database, sessions)
        passwords = Passwords(
            password_hasher,
            max_length=max_password_length,
            blocklist=password_blocklist,
            max_concurrent=max_concurrent_hashes,
        )
        self.accounts = Accounts(self.store, passwords, clock=clock, source=users)
        self.sessions = Sessions(
            self.store,
            self.accounts,
            secret_keys=self.options.secret_keys,
            clock=clock,
            lifetime=session_lifetime,
            idle_timeout=idle_timeout,
            activity_interval=activity_interval,
            max_sessions_per_user=max_sessions_per_user,
            evict_oldest=session_limit_policy == "evict_oldest",
        )
        self.metrics = metrics
        if metrics is not None:
            metrics.watch_cache(self.store)
        metered = () if metrics is None else (metrics.on_event,)
        self.audit = Audit(clock, events.hooks_from(on_event) + metered)
        self._endpoints = Endpoints(
            self.options,
            self.sessions,
            self.accounts,
            self.audit,
            identify=self._identify,
            transports=self.transports,
            login_throttle=Throttle(self.store, clock, RULES) if throttling else None,
            lookup_throttle=(
                Throttle(self.store, clock, LOOKUP_RULES)
                if throttling and not reveal_unknown_users
                else None
            ),
            registration_throttle=(
                Throttle(self.store, clock, REGISTRATION_RULES)
                if throttling and registration
                else None
            ),
        )
        self._owned_prefixes = (session_path, "/user/") if registration else (session_path,)
        self._prefixes = (
            ()
            if isinstance(require_auth, bool) or callable(require_auth)
            else tuple((p, p.rstrip("/") + "/") for p in require_auth)
        )

    def __repr__(self) -> str:
        return f"<AuthMiddleware {self.store!r} around {self.app!r}>"

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raw_path = environ.get("PATH_INFO", "")
        path = environ[PATH_KEY] = _paths.canonical(raw_path)
        if path.startswith(self._owned_prefixes):
            response = self._endpoints.answer(environ, path)
            if response is not None:
                return self._refused(response, environ)(environ, start_response)
        try:
            identity = self._identify(environ)
            if identity is None and self._requires_auth(environ, raw_path):
                raise errors.AuthorizationRequired()
        except errors.AuthError as error:
            return self._refused(_http.error_response(error), environ)(environ, start_response)
        except Exception:
            return _http.internal_error_response()(environ, start_response)
        if identity is not None:
            return self.app(environ, _http.private_start_response(start_response))
        return self.app(environ, start_response)

    # -- authentication ---------------------------------------------------------------
    def _identify(self, environ: WSGIEnvironment) -> Identity | None:
        """Authenticate from the headers and write the result into the environ.

        :raises InvalidSession: for one header without the other or a pair that names
            no live session; the audit log records why.
        """
        started = time.perf_counter() if self.metrics is not None else 0.0
        try:
            return self._authenticate(environ)
        except (errors.InvalidSession, errors.CsrfFailed) as error:
            self.audit.record(
                "session.rejected" if isinstance(error, errors.InvalidSession) else "csrf.failed",
                reason=error.reason,
                username=environ.get("HTTP_USERNAME"),
                **_http.origin(environ, self.options.trusted_proxies),
            )
            raise
        finally:
            if self.metrics is not None:  # metrics.py: one counter, no lock
                self.metrics.authenticated(time.perf_counter() - started)

    def _authenticate(self, environ: WSGIEnvironment) -> Identity | None:
        if not self.options.trust_remote_user:
            environ.pop("REMOTE_USER", None)
            environ.pop("AUTH_TYPE", None)
        environ[USER_KEY] = environ[SESSION_KEY] = None
        credentials = self._presented(environ)
        if credentials is None:
            return None
        user, session = self.sessions.authenticate(credentials.username, credentials.token)
        if credentials.by_cookie_alone:
            self.transports.check_csrf(
                environ["REQUEST_METHOD"],
                credentials,
                origin=environ.get("HTTP_ORIGIN"),
                fetch_site=environ.get("HTTP_SEC_FETCH_SITE"),
                csrf_header=environ.get("HTTP_X_CSRF_TOKEN"),
                own_origin=_http.own_origin(environ),
            )
        self._hide_credentials(environ, credentials.carried_by)
        environ[USER_KEY] = user
        environ[SESSION_KEY] = session
        environ["REMOTE_USER"] = user.username
        environ["AUTH_TYPE"] = credentials.auth_type
        return user, session

    # -- transports (nullptr_auth/transports.py): a few plain values in and out ----------
    def _presented(self, environ: WSGIEnvironment) -> Credentials | None:
        """The credentials of the enabled transports; ``Token`` leaves the environ."""
        transports = self.transports
        return transports.presented(
            username=environ.get("HTTP_USERNAME") if transports.headers else None,
            token=environ.pop("HTTP_TOKEN", None) if transports.headers else None,
            authorization=environ.get("HTTP_AUTHORIZATION") if transports.bearer else None,
            cookie=environ.get("HTTP_COOKIE") if transports.cookie else None,
        )

    def _hide_credentials(self, environ: WSGIEnvironment, carried_by: frozenset[str]) -> None:
        """What carried the token never reaches the application."""
        if "bearer" in carried_by:
            del environ["HTTP_AUTHORIZATION"]
        if "cookie" in carried_by:
            environ["HTTP_COOKIE"] = self.transports.cookie_for_app(environ["HTTP_COOKIE"])

    def _refused(self, response: Response, environ: WSGIEnvironment) -> Response:
        """A 401 names every transport's challenge and clears a dead session cookie."""
        if self.metrics is not None:
            self.metrics.answered(response.status_code)
        if response.status_code == 401 and not self.transports.default:
            del response.headers["WWW-Authenticate"]
            for challenge in self.transports.challenges(environ.get("HTTP_AUTHORIZATION")):
                response.headers.add("WWW-Authenticate", challenge)
            cookie, own_origin = environ.get("HTTP_COOKIE"), _http.own_origin(environ)
            for value in self.transports.unauthorized_cookies(cookie, own_origin):
                response.headers.add("Set-Cookie", value)
        return response

    def _requires_auth(self, environ: WSGIEnvironment, raw_path: str) -> bool:
        """Whether ``require_auth`` covers the request.

        A callable finds the canonical path in ``environ["nullptr_auth.path"]``; a list
        of prefixes covers a request if it covers any spelling of its path that an
        application might route by (:func:`nullptr_auth._paths.spellings`).
        """
        rule = self.options.require_auth
        if isinstance(rule, bool):
            return rule
        if callable(rule):
            return bool(rule(environ))
        return any(
            path == prefix or path.startswith(subtree)
            for path in _paths.spellings(raw_path)
            for prefix, subtree in self._prefixes
        )


def _tuple(value: Sequence[str]) -> tuple[str, ...]:
    """A list option as a tuple; a string stays one, for Options to refuse."""
    return value if isinstance(value, (str, tuple)) else tuple(value)  # type: ignore[return-value]


def _store(database: str | Store, sessions: str | Store | None) -> Store:
    users = open_store(database) if isinstance(database, str) else database
    if sessions is None:
        return users
    return SplitStore(users, open_store(sessions) if isinstance(sessions, str) else sessions)
