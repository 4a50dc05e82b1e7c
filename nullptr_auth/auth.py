"""The protocol-free core: one object owns the store, sessions, accounts, audit, throttles.

Both middlewares are thin adapters around an :class:`Auth`:
:mod:`nullptr_auth.wsgi` turns an environ into a :class:`~nullptr_auth._http.Request`,
:mod:`nullptr_auth.asgi` turns a scope and its ``http.request`` messages into one, and
each turns the :class:`~nullptr_auth._http.Response` back. The rules (which paths are
owned, which ``require_auth`` covers, what a header pair must be, every answer of the
owned paths) live here and below, where no module knows which protocol it serves.

The transports (:mod:`nullptr_auth.transports`: ``Username``/``Token``, ``Bearer``, the
browser cookie and its CSRF check), the audit events and their hooks, and the metrics
are applied here too, so both adapters get them alike: an adapter only builds the
request value, hides from the application what :meth:`Auth.hidden_headers` names, and
sends what :meth:`Auth.answer` or :meth:`Auth.refusal` returns.

Every method here may do I/O (a store lookup, a write, a password hash) except
:meth:`Auth.authenticate_inline`, the seam an event loop uses to answer a cached session
without leaving the loop (see :mod:`nullptr_auth.asgi`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from . import _http, _paths, errors, events
from ._endpoints import Endpoints, Identity
from ._http import Request, Response
from .accounts import Accounts
from .audit import Audit
from .config import Options
from .models import Session, User
from .passwords import Passwords
from .sessions import Sessions
from .stores import DEFAULT_DATABASE, Store, open_store
from .stores.split import SplitStore
from .throttle import LOOKUP_RULES, REGISTRATION_RULES, RULES, Throttle
from .transports import AUTH_TYPES, Credentials, Transports

if TYPE_CHECKING:
    from typing import Unpack

    from .config import AuthOptions
    from .metrics import Metrics

__all__ = ["NEEDS_IO", "Adapter", "Auth", "Authenticated", "Identity"]


class _NeedsIO:
    """The answer of :meth:`Auth.authenticate_inline` when only I/O can decide."""

    def __repr__(self) -> str:
        return "NEEDS_IO"


NEEDS_IO = _NeedsIO()
_HEADERS_ONLY = frozenset({"headers"})
_NOTHING_HIDDEN: Mapping[str, str | None] = MappingProxyType({})


@dataclass(slots=True)
class Authenticated:
    """An authenticated request: its user and session, and what carried the token.

    A value, never changed once built; not frozen, which would triple the cost of
    building it, once per authenticated request.
    """

    user: User
    session: Session
    credentials: Credentials
    auth_type: str
    """``Token``, ``Bearer`` or ``Cookie`` (CGI's ``AUTH_TYPE``, RFC 3875 §4.1.1), from
    the credentials' transport."""


class Auth:
    """Session authentication, answered on plain values.

    :param database: a store URL (``sqlite:///path.db``, ``memory://``,
        ``redis://host:port/N``, ``postgresql://…``) or a
        :class:`~nullptr_auth.stores.base.Store` object.
    :param options: see :class:`~nullptr_auth.config.AuthOptions`.
    :raises TypeError, ValueError: naming every invalid option at once.
    """

    def __init__(
        self, database: str | Store = DEFAULT_DATABASE, **options: Unpack[AuthOptions]
    ) -> None:
        self.options = settings = Options.from_keywords(options)
        self.store = _store(database, settings.sessions)  # type: ignore[arg-type]
        passwords = Passwords(
            settings.password_hasher,  # type: ignore[arg-type]
            max_length=settings.max_password_length,
            blocklist=settings.password_blocklist,  # type: ignore[arg-type]
            max_concurrent=settings.max_concurrent_hashes,
        )
        self.accounts = Accounts(
            self.store,
            passwords,
            clock=settings.clock,
            source=settings.users,  # type: ignore[arg-type]
        )
        self.sessions = Sessions(
            self.store,
            self.accounts,
            secret_keys=settings.secret_keys,
            clock=settings.clock,
            lifetime=settings.session_lifetime,
            idle_timeout=settings.idle_timeout,
            activity_interval=settings.activity_interval,
            max_sessions_per_user=settings.max_sessions_per_user,
            evict_oldest=settings.session_limit_policy == "evict_oldest",
        )
        self.transports = Transports(settings)
        self.hides_token = self.transports.headers
        """Whether ``Token`` is the middleware's: the adapters remove it from every request."""
        self.credential_headers = tuple(name.lower() for name in self.transports.vary)
        """The request headers the enabled transports read (lowercase): a request with
        none of them is anonymous, which an adapter may decide without the request value
        when there is no ``require_auth`` rule to apply (:meth:`anonymous_at_a_glance`)."""
        self.metrics: Metrics | None = settings.metrics  # type: ignore[assignment]
        if self.metrics is not None:
            self.metrics.watch_cache(self.store)
        metered = () if self.metrics is None else (self.metrics.on_event,)
        hooks = events.hooks_from(settings.on_event)
        self._hooked = bool(hooks)  # the application's hooks may block: never on a loop
        self.audit = Audit(settings.clock, hooks + metered)
        throttling = settings.throttling
        self.endpoints = Endpoints(
            settings,
            self.sessions,
            self.accounts,
            self.audit,
            identify=self._identity,
            transports=self.transports,
            login_throttle=Throttle(self.store, settings.clock, RULES) if throttling else None,
            lookup_throttle=(
                Throttle(self.store, settings.clock, LOOKUP_RULES)
                if throttling and not settings.reveal_unknown_users
                else None
            ),
            registration_throttle=(
                Throttle(self.store, settings.clock, REGISTRATION_RULES)
                if throttling and settings.registration
                else None
            ),
        )
        self._owned_prefixes = (
            (settings.session_path, "/user/") if settings.registration else (settings.session_path,)
        )
        rule = settings.require_auth
        self._prefixes = (
            ()
            if isinstance(rule, bool) or callable(rule)
            else tuple((p, p.rstrip("/") + "/") for p in rule)
        )

    def __repr__(self) -> str:
        return f"<Auth {self.store!r}>"

    # -- the owned paths --------------------------------------------------------------
    def owns(self, path: str) -> bool:
        """Whether the canonical ``path`` may be one of the middleware's own."""
        return path.startswith(self._owned_prefixes)

    def takes_body(self, method: str, path: str) -> bool:
        """Whether answering needs the body: the adapter reads it (bounded) first."""
        return self.owns(path) and self.endpoints.takes_body(method, path)

    def answer(self, request: Request) -> Response | None:
        """The answer of an owned path, ``None`` for the application's; may do I/O.

        The adapter sends :meth:`Response.body_for` the request's method.
        """
        if not self.owns(request.path):
            return None
        response = self.endpoints.answer(request)
        return None if response is None else self._finished(request, response)

    def refusal(self, request: Request, error: errors.AuthError) -> Response:
        """The answer that refuses a request for the application with ``error``."""
        return self._finished(request, _http.error_response(error))

    # -- every other request ----------------------------------------------------------
    def authenticate(self, request: Request) -> Authenticated | None:
        """The session the request's credentials name; may do I/O.

        ``None`` for an anonymous request (no credentials of an enabled transport).

        :raises InvalidSession: for a half ``Username``/``Token`` pair, a malformed
            username or ``Bearer``, transports naming different sessions, or a token
            that names no live session; the audit log records why.
        :raises CsrfFailed: for a state-changing request the cookie alone
            authenticates that fails :mod:`nullptr_auth.csrf`.
        """
        started = time.perf_counter() if self.metrics is not None else 0.0
        try:
            credentials = self._credentials(request)
            if credentials is None:
                return None
            user, session = self.sessions.authenticate(credentials.username, credentials.token)
            return self._accepted(request, credentials, user, session)
        except (errors.InvalidSession, errors.CsrfFailed) as error:
            self._rejected(request, error)
            raise
        finally:
            if self.metrics is not None:  # metrics.py: one counter, no lock
                self.metrics.authenticated(time.perf_counter() - started)

    def authenticate_inline(self, request: Request) -> Authenticated | _NeedsIO | None:
        """:meth:`authenticate` if it can be decided without I/O, else :data:`NEEDS_IO`.

        Decides absent or malformed credentials, a forged token (a signature check) and a
        session its store holds in memory (see
        :meth:`~nullptr_auth.sessions.Sessions.authenticate_cached`); everything else
        (a cache miss, an expired session to delete, an activity write due) is for
        :meth:`authenticate`, called off the event loop (which counts it in the metrics).
        So is a refusal when ``on_event`` hooks are set: they are the application's code,
        which may block, and get the ``session.rejected`` event in a worker thread.
        """
        started = time.perf_counter() if self.metrics is not None else 0.0
        found: Authenticated | _NeedsIO | None = None
        try:
            found = self._inline(request)
        except (errors.InvalidSession, errors.CsrfFailed) as error:
            if self._hooked:  # the event goes to on_event hooks: decided again off the loop
                found = NEEDS_IO
                return found
            self._rejected(request, error)
            raise
        finally:
            if self.metrics is not None and found is not NEEDS_IO:
                self.metrics.authenticated(time.perf_counter() - started)
        return found

    def anonymous_at_a_glance(
        self, value_of: Callable[[str], str | None], names: Sequence[str] | None = None
    ) -> bool:
        """Whether a request is anonymous and may go on as it is, from its headers'
        values (``value_of(name)``, ``None`` when absent, for each of ``names``: by
        default :attr:`credential_headers`; an adapter may pass its own spelling of
        them, the WSGI one their environ keys): no transport's header has a value (empty
        ones count as absent, as in :meth:`authenticate`), and there is no
        ``require_auth`` rule to apply. What :meth:`authenticate` would decide, without
        the request value: the pass-through of anonymous traffic, most of a site's,
        costs little.

        ``False`` means: build the request value and call :meth:`authenticate`.
        """
        if self.options.require_auth is not False:
            return False
        # a loop, not all(): that adds a generator's frame
        for name in self.credential_headers if names is None else names:
            if value_of(name):
                return False
        return True

    def hidden_headers(
        self, found: Authenticated, headers: _http.Headers
    ) -> Mapping[str, str | None]:
        """The request headers the application must see changed (``None``: removed),
        by lowercase name: what carried the token never reaches it. (``Token`` is
        removed by the adapters from every request, see :attr:`hides_token`.)"""
        carried_by = found.credentials.carried_by
        if carried_by == _HEADERS_ONLY:
            return _NOTHING_HIDDEN
        changed: dict[str, str | None] = {}
        if "bearer" in carried_by:
            changed["authorization"] = None
        if "cookie" in carried_by:
            changed["cookie"] = self.transports.cookie_for_app(headers.get("cookie", ""))
        return changed

    def requires_auth(self, request: Request, context: Any) -> bool:
        """Whether ``require_auth`` covers the request.

        A callable gets ``context`` (the adapter's environ or scope, which holds the
        canonical path under ``"nullptr_auth.path"``); a list of prefixes covers a
        request if it covers any spelling of its path that an application might route
        by (:func:`nullptr_auth._paths.spellings`).
        """
        rule = self.options.require_auth
        if isinstance(rule, bool):
            return rule
        if callable(rule):
            return bool(rule(context))
        return any(
            path == prefix or path.startswith(subtree)
            for path in _paths.spellings(request.raw_path)
            for prefix, subtree in self._prefixes
        )

    # -- helpers ----------------------------------------------------------------------
    def _identity(self, request: Request) -> Identity | None:
        """:meth:`authenticate` as the endpoints need it: the user and the session."""
        found = self.authenticate(request)
        return None if found is None else (found.user, found.session)

    def _inline(self, request: Request) -> Authenticated | _NeedsIO | None:
        credentials = self._credentials(request)
        if credentials is None:
            return None
        cached = self.sessions.authenticate_cached(credentials.username, credentials.token)
        return NEEDS_IO if cached is None else self._accepted(request, credentials, *cached)

    def _credentials(self, request: Request) -> Credentials | None:
        """The credentials of the enabled transports (:mod:`nullptr_auth.transports`).

        :raises InvalidSession:
        """
        headers = request.headers
        transports = self.transports
        if transports.default:  # the contract's pair alone: the one path every request takes
            return transports.from_headers(headers.get("username"), headers.get("token"))
        return transports.presented(
            username=headers.get("username") if transports.headers else None,
            token=headers.get("token") if transports.headers else None,
            authorization=headers.get("authorization") if transports.bearer else None,
            cookie=headers.get("cookie") if transports.cookie else None,
        )

    def _accepted(
        self, request: Request, credentials: Credentials, user: User, session: Session
    ) -> Authenticated:
        """The session, once a request the cookie alone carried passed the CSRF check.

        :raises CsrfFailed:
        """
        # the attribute first: by_cookie_alone is a property, asked on every request
        if self.transports.cookie and credentials.by_cookie_alone:
            headers = request.headers
            self.transports.check_csrf(
                request.method,
                credentials,
                origin=headers.get("origin"),
                fetch_site=headers.get("sec-fetch-site"),
                csrf_header=headers.get("x-csrf-token"),
                own_origin=_http.own_origin(request),
                upgrade=headers.get("upgrade"),
            )
        return Authenticated(user, session, credentials, AUTH_TYPES[credentials.transport])

    def _rejected(self, request: Request, error: errors.InvalidSession | errors.CsrfFailed) -> None:
        self.audit.record(
            "session.rejected" if isinstance(error, errors.InvalidSession) else "csrf.failed",
            reason=error.reason,
            username=request.headers.get("username"),
            **_http.origin(request, self.options.trusted_proxies),
        )

    def _finished(self, request: Request, response: Response) -> Response:
        """A 401 names every transport's challenge and clears a dead session cookie;
        the metrics count what the middleware answered itself."""
        if self.metrics is not None:
            self.metrics.answered(response.status)
        if response.status != 401 or self.transports.default:
            return response
        headers = request.headers
        response = response.without_header("WWW-Authenticate")
        for challenge in self.transports.challenges(headers.get("authorization")):
            response = response.with_header("WWW-Authenticate", challenge)
        own_origin = _http.own_origin(request)
        for value in self.transports.unauthorized_cookies(headers.get("cookie"), own_origin):
            response = response.with_header("Set-Cookie", value)
        return response


def _store(database: str | Store, sessions: str | Store | None) -> Store:
    users = open_store(database) if isinstance(database, str) else database
    if sessions is None:
        return users
    return SplitStore(users, open_store(sessions) if isinstance(sessions, str) else sessions)


class Adapter:
    """What both middlewares share: an :class:`Auth` built from the same arguments, and
    its parts as attributes (``auth.accounts.create(...)``, ``auth.sessions``...), so
    that the code managing users reads alike whichever protocol serves them."""

    def __init__(
        self, database: str | Store = DEFAULT_DATABASE, **options: Unpack[AuthOptions]
    ) -> None:
        self.core = Auth(database, **options)
        self.options = self.core.options
        self.store = self.core.store
        self.accounts = self.core.accounts
        self.sessions = self.core.sessions
        self.audit = self.core.audit
        self.transports = self.core.transports
        self.metrics = self.core.metrics
