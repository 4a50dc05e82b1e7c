"""Cross-site request forgery: the pure check of a request authenticated by a cookie.

A browser attaches the session cookie to every request to the site, also to one a page
on another site makes it send (a form posted from ``evil.example``). So a request that
changes state (any method but ``GET``, ``HEAD`` and ``OPTIONS``) and is authenticated
by the cookie alone must show that the site's own page sent it, twice over:

1. **Where it came from.** ``Sec-Fetch-Site`` (set by the browser; no page can write it)
   must be ``same-origin``; without it, ``Origin`` must be the request's own origin.
   Either way, an ``Origin`` listed in ``trusted_origins`` passes too (a front end on
   another host of yours). ``Origin: null`` (sandboxed frames, some redirects) fails. A
   request with neither header (not a browser, or a very old one) relies on step 2.
2. **A token only the site's pages can read**, the double-submit token: the login sets,
   beside the ``HttpOnly`` session cookie, a readable cookie with :func:`csrf_token` of
   the session token, and the page echoes it in ``X-CSRF-Token``. Another site can
   neither read the cookie nor set the header. The value is an HMAC keyed by the
   session token, so it is bound to the session: a cookie planted by a sibling
   subdomain (cookie tossing) does not match the victim's session, and knowing it
   reveals nothing of the token.

A failure is :class:`~nullptr_auth.errors.CsrfFailed` (``403 CSRF_FAILED``); the
application is never called. Requests authenticated by headers or ``Bearer`` need no
check: a page on another site cannot make a browser send those headers at all. ::

    check("POST", origin="https://app.example", fetch_site="same-origin",
          csrf_header=csrf_token(token), session_token=token,
          own_origin="https://app.example", trusted_origins=())
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Collection

from .errors import CsrfFailed

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HEADER = "X-CSRF-Token"
_KEY_PURPOSE = b"nullptr_auth.csrf"
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def csrf_token(session_token: str) -> str:
    """The double-submit token of a session: URL-safe, 43 characters, no secret in it."""
    digest = hmac.new(session_token.encode("ascii"), _KEY_PURPOSE, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def origin_of(scheme: str, host: str) -> str:
    """``scheme://host[:port]`` as a browser writes ``Origin``: lowercase, no default port."""
    scheme = scheme.lower()
    host = host.lower()
    name, colon, port = host.rpartition(":")
    if colon and "]" not in port and port == _DEFAULT_PORTS.get(scheme):
        host = name
    return f"{scheme}://{host}"


def normalized_origin(value: str) -> str | None:
    """An origin as configured (``https://App.example:443``) in the form compared, or
    ``None`` if it is not ``scheme://host[:port]`` with nothing after."""
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in _DEFAULT_PORTS or not rest or "/" in rest:
        return None
    if any(c in rest for c in "?#@ \t") or rest.startswith(":"):
        return None
    return origin_of(scheme, rest)


def check(
    method: str,
    *,
    origin: str | None,
    fetch_site: str | None,
    csrf_header: str | None,
    session_token: str,
    own_origin: str,
    trusted_origins: Collection[str],
) -> None:
    """Refuse a state-changing request a cookie authenticated unless the site sent it.

    :param origin: the ``Origin`` header, if any.
    :param fetch_site: the ``Sec-Fetch-Site`` header, if any.
    :param csrf_header: the ``X-CSRF-Token`` header, if any.
    :param own_origin: the request's own origin (:func:`origin_of`).
    :param trusted_origins: other origins allowed, normalised.
    :raises CsrfFailed: naming which step failed (for the audit log).
    """
    if method in SAFE_METHODS:
        return
    check_origin(
        origin=origin,
        fetch_site=fetch_site,
        own_origin=own_origin,
        trusted_origins=trusted_origins,
    )
    if not csrf_header:
        raise CsrfFailed("no-token")
    if not hmac.compare_digest(
        csrf_header.encode("utf-8", "replace"), csrf_token(session_token).encode()
    ):
        raise CsrfFailed("wrong-token")


def check_origin(
    *,
    origin: str | None,
    fetch_site: str | None,
    own_origin: str,
    trusted_origins: Collection[str],
) -> None:
    """Step 1 alone: what a login that sets a cookie must pass (login CSRF).

    :raises CsrfFailed: if the browser says the request came from another origin that
        is not trusted.
    """
    given = None if origin is None else origin.strip().lower()
    if given and given in trusted_origins:
        return
    if fetch_site:
        if fetch_site.strip().lower() != "same-origin":
            raise CsrfFailed("cross-site")
        if given and given != own_origin:  # a browser never sends both disagreeing
            raise CsrfFailed("cross-origin")
        return
    if given and given != own_origin:
        raise CsrfFailed("cross-origin")
