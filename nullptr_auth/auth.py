"""The protocol-free core: one object owns the store, sessions, accounts, audit, throttles.

Both middlewares are thin adapters around an :class:`Auth`:
:mod:`nullptr_auth.wsgi` turns an environ into a :class:`~nullptr_auth._http.Request`,
:mod:`nullptr_auth.asgi` turns a scope and its ``http.request`` messages into one, and
each turns the :class:`~nullptr_auth._http.Response` back. The rules (which paths are
owned, which ``require_auth`` covers, what a header pair must be, every answer of the
owned paths) live here and below, where no module knows which protocol it serves.

Every method here may do I/O (a store lookup, a write, a password hash) except
:meth:`Auth.authenticate_inline`, the seam an event loop uses to answer a cached session
without leaving the loop (see :mod:`nullptr_auth.asgi`).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from . import _http, _paths, errors
from ._endpoints import Endpoints, Identity
from ._http import Request, Response
from .accounts import Accounts
from .audit import Audit
from .config import Options
from .passwords import Passwords
from .sessions import Sessions
from .stores import DEFAULT_DATABASE, Store, open_store
from .stores.split import SplitStore
from .throttle import LOOKUP_RULES, REGISTRATION_RULES, RULES, Throttle

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from typing import Unpack
    else:
        from typing_extensions import Unpack

    from .config import AuthOptions

__all__ = ["NEEDS_IO", "Auth", "Identity"]

MAX_USERNAME_HEADER = 256


class _NeedsIO:
    """The answer of :meth:`Auth.authenticate_inline` when only I/O can decide."""

    def __repr__(self) -> str:
        return "NEEDS_IO"


NEEDS_IO = _NeedsIO()


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
        self.audit = Audit(settings.clock)
        throttling = settings.throttling
        self.endpoints = Endpoints(
            settings,
            self.sessions,
            self.accounts,
            self.audit,
            identify=self.authenticate,
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
        return self.endpoints.answer(request)

    # -- every other request ----------------------------------------------------------
    def authenticate(self, request: Request) -> Identity | None:
        """The user and session the ``Username`` and ``Token`` headers name; may do I/O.

        ``None`` for an anonymous request (neither header).

        :raises InvalidSession: for one header without the other, a malformed username
            or a pair that names no live session; the audit log records why.
        """
        try:
            username, token = self._pair(request)
            if username is None or token is None:
                return None
            return self.sessions.authenticate(username, token)
        except errors.InvalidSession as error:
            self._rejected(request, error)
            raise

    def authenticate_inline(self, request: Request) -> Identity | _NeedsIO | None:
        """:meth:`authenticate` if it can be decided without I/O, else :data:`NEEDS_IO`.

        Decides a missing or malformed pair, a forged token (a signature check) and a
        session its store holds in memory (see
        :meth:`~nullptr_auth.sessions.Sessions.authenticate_cached`); everything else
        (a cache miss, an expired session to delete, an activity write due) is for
        :meth:`authenticate`, called off the event loop.
        """
        try:
            username, token = self._pair(request)
            if username is None or token is None:
                return None
            found = self.sessions.authenticate_cached(username, token)
        except errors.InvalidSession as error:
            self._rejected(request, error)
            raise
        return NEEDS_IO if found is None else found

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

    def _pair(self, request: Request) -> tuple[str | None, str | None]:
        """The presented (lowercased) username and token; ``None`` for an absent one.

        :raises InvalidSession: for a half pair or a username no store could hold.
        """
        username = request.headers.get("username") or None
        token = request.headers.get("token") or None
        if username is None and token is None:
            return None, None
        if username is None or token is None:
            raise errors.InvalidSession("half-pair")
        if len(username) > MAX_USERNAME_HEADER or not username.isascii():
            raise errors.InvalidSession("malformed")
        return username.lower(), token

    def _rejected(self, request: Request, error: errors.InvalidSession) -> None:
        self.audit.record(
            "session.rejected",
            reason=error.reason,
            username=request.headers.get("username"),
            **_http.origin(request, self.options.trusted_proxies),
        )


def _store(database: str | Store, sessions: str | Store | None) -> Store:
    users = open_store(database) if isinstance(database, str) else database
    if sessions is None:
        return users
    return SplitStore(users, open_store(sessions) if isinstance(sessions, str) else sessions)
