"""Helpers for the test suites of applications behind nullptr_auth.

A test of an authenticated page needs a logged-in user, and a real login costs an
argon2 hash (tens of milliseconds, by design). These helpers skip it: they create the
user if needed with argon2's cheapest parameters and start a session directly, then
return what a client sends::

    from nullptr_auth.testing import login_headers

    def test_profile(client, middleware):
        answer = client.get("/profile", headers=login_headers(middleware, "alice"))

``login_headers`` gives ``Username`` and ``Token``, :func:`bearer_headers` an
``Authorization: Bearer`` header, :func:`cookie_headers` the ``Cookie`` and
``X-CSRF-Token`` headers of a browser session (the transports must be enabled on the
middleware for the server to accept them). The pytest plugin
(:mod:`nullptr_auth.pytest_plugin`, registered as ``pytest11``) adds a
``nullptr_auth_store`` fixture: a throw-away ``memory://`` store.

Never import this module in production code: a user it creates has a random
password hashed with parameters far below what a real deployment needs.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timezone
from typing import Any

import argon2

from . import csrf
from .errors import UserNotFound
from .models import User, UserRecord
from .transports import Transports
from .users import validated_username

CHEAPEST_HASHER = argon2.PasswordHasher.from_parameters(argon2.profiles.CHEAPEST)


def start_session(middleware: Any, username: str, *, device: str = "tests") -> str:
    """A new session of ``username`` (created if missing) on ``middleware``; its token.

    ``middleware`` is an :class:`~nullptr_auth.AuthMiddleware` (or anything with its
    ``accounts``, ``sessions``, ``store`` and ``options``). With ``users=`` (a
    :class:`~nullptr_auth.UserSource`), the user must exist in the application's
    own user table.

    :raises LookupError: for a ``UserSource`` that does not know ``username``.
    """
    return str(middleware.sessions.start(_user(middleware, username), device=device))


def login_headers(middleware: Any, username: str) -> dict[str, str]:
    """The ``Username`` and ``Token`` headers of a new session of ``username``."""
    return {"Username": username.lower(), "Token": start_session(middleware, username)}


def bearer_headers(middleware: Any, username: str) -> dict[str, str]:
    """The ``Authorization: Bearer`` header of a new session (``transports`` must list
    ``"bearer"``)."""
    return {"Authorization": f"Bearer {start_session(middleware, username)}"}


def login_cookies(middleware: Any, username: str) -> dict[str, str]:
    """The two cookies a browser holds after a login, name to value: the session
    cookie and the readable CSRF cookie (``transports`` must list ``"cookie"``)."""
    transports = Transports(middleware.options)
    token = start_session(middleware, username)
    return {transports.cookie_name: token, transports.csrf_cookie_name: csrf.csrf_token(token)}


def cookie_headers(middleware: Any, username: str) -> dict[str, str]:
    """What a browser page of the site sends after a login: the ``Cookie`` header and
    the ``X-CSRF-Token`` that state-changing requests need. A test client that keeps
    cookies itself can take :func:`login_cookies` instead; it still needs the header."""
    cookies = login_cookies(middleware, username)
    transports = Transports(middleware.options)
    return {
        "Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items()),
        csrf.HEADER: cookies[transports.csrf_cookie_name],
    }


def _user(middleware: Any, username: str) -> User:
    source = middleware.options.users
    if source is not None:
        user = source.find_user(username.lower())
        if user is None:
            raise LookupError(f"the application's users have no {username.lower()!r}")
        return user  # type: ignore[no-any-return]
    try:
        return middleware.accounts.get(username)  # type: ignore[no-any-return]
    except UserNotFound:
        pass
    record = UserRecord(
        str(uuid.uuid4()),
        validated_username(username),
        CHEAPEST_HASHER.hash(secrets.token_urlsafe(16)),
        datetime.now(timezone.utc),
    )
    middleware.store.add_user(record)
    return record.user
