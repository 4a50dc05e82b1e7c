"""What may carry a session on a request, and what each carrier asks of the answer.

``AuthMiddleware(..., transports=("headers", "bearer", "cookie"))`` lists them (default
``("headers",)``, the contract's pair):

``"headers"``
    ``Username`` and ``Token``; ``Token`` is removed before the application runs.
``"bearer"``
    ``Authorization: Bearer <session_token>`` (RFC 6750 §2.1). The token names its
    session, so no ``Username`` is needed. The header is removed before the application
    runs; a 401 carries ``WWW-Authenticate: Bearer error="invalid_token"`` when a bearer
    token was refused and a bare ``Bearer`` challenge otherwise (§3). An
    ``Authorization`` of another scheme (``Basic``) is the application's, left alone.
``"cookie"``
    A browser session: a login sets an ``HttpOnly; Secure; SameSite=Lax; Path=/`` cookie
    with the token (``__Host-nullptr_auth`` by default) and a readable one with the
    CSRF token (the same name plus ``_csrf``); ``DELETE /session`` clears both, and so
    does a 401 to a request that carried the cookie (or a browser would present a dead
    cookie on every page). Every state-changing request the cookie alone authenticates
    must pass :mod:`nullptr_auth.csrf`. The session cookie is removed from the
    ``Cookie`` header the application sees.

Several transports on one request must carry the same token, or the answer is
``401 INVALID_SESSION``: a request is one session's. The transport that authenticated
it is in ``AUTH_TYPE`` (RFC 3875 §4.1.1): ``Token``, ``Bearer`` or ``Cookie``. Its
answer varies on the headers of every transport that is on (``Vary: Username, Token``,
``Authorization``, ``Cookie``): a shared cache that keeps it, even one the application
told ``public``, keeps one copy per session.

Everything here takes plain values (header values, the method, the request's own
origin) and returns plain values (credentials, ``Set-Cookie`` values, challenges), so
every protocol adapter calls the same rules::

    transports = Transports(options)
    credentials = transports.presented(
        username=None, token=None, authorization="Bearer 0a1b…", cookie=None
    )
    assert credentials is not None and credentials.transport == "bearer"
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import csrf
from .errors import InvalidSession

if TYPE_CHECKING:
    from .config import Options

TRANSPORTS = ("headers", "bearer", "cookie")
AUTH_TYPES = {"headers": "Token", "bearer": "Bearer", "cookie": "Cookie"}
VARY = {"headers": ("Username", "Token"), "bearer": ("Authorization",), "cookie": ("Cookie",)}
HOST_COOKIE = "__Host-nullptr_auth"
PLAIN_COOKIE = "nullptr_auth"
CSRF_SUFFIX = "_csrf"
MAX_USERNAME_HEADER = 256
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token
_COOKIE_DOMAIN = re.compile(r"\.?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9-]+)*")
_EXPIRED = "Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"


@dataclass(slots=True)
class Credentials:
    """What a request presented: its token, the username if the headers gave one.

    ``transport`` is the one that authenticates it (``headers``, then ``bearer``, then
    ``cookie``, when several carried the same token); ``carried_by`` lists them all.
    A value, never changed once built; not frozen, which would triple the cost of
    building it, once per authenticated request.
    """

    transport: str
    username: str | None
    token: str = field(repr=False)
    carried_by: frozenset[str]

    @property
    def by_cookie_alone(self) -> bool:
        """Whether only the cookie carried it: the one case that needs a CSRF check."""
        return self.carried_by == _COOKIE_ONLY


_CARRIED_ALONE = {name: frozenset({name}) for name in TRANSPORTS}
_COOKIE_ONLY = _CARRIED_ALONE["cookie"]
_HEADERS_ALONE = _CARRIED_ALONE["headers"]


class Transports:
    """The configured transports of one middleware (built from validated options)."""

    def __init__(self, options: Options) -> None:
        self.headers = "headers" in options.transports
        self.bearer = "bearer" in options.transports
        self.cookie = "cookie" in options.transports
        self.cookie_name = cookie_name(options)
        self.csrf_cookie_name = self.cookie_name + CSRF_SUFFIX
        self._domain = "" if options.cookie_domain is None else f"; Domain={options.cookie_domain}"
        self._insecure_localhost = options.cookie_insecure_localhost
        lifetime = options.session_lifetime
        self._max_age = "" if lifetime is None else f"; Max-Age={int(lifetime.total_seconds())}"
        self.token_in_body = options.session_token_in_body
        self.trusted_origins = frozenset(
            csrf.normalized_origin(o) or o for o in options.trusted_origins
        )
        self.default = options.transports == ("headers",)
        self.vary = tuple(name for t in TRANSPORTS if t in options.transports for name in VARY[t])

    def __repr__(self) -> str:
        on = [name for name in TRANSPORTS if getattr(self, name)]
        return f"<Transports {', '.join(on)}>"

    # -- reading a request -------------------------------------------------------------
    def presented(
        self,
        *,
        username: str | None,
        token: str | None,
        authorization: str | None,
        cookie: str | None,
    ) -> Credentials | None:
        """The credentials a request carries (``None``: anonymous), from the values of
        its ``Username``, ``Token``, ``Authorization`` and ``Cookie`` headers; pass
        ``None`` for a transport that is off. Empty values count as absent.

        :raises InvalidSession: for ``Username`` without ``Token`` or the reverse, a
            malformed ``Username`` or ``Bearer``, two different session cookies, or two
            transports carrying different tokens.
        """
        if not (authorization or cookie):  # the usual request: the headers, or nothing
            return self.from_headers(username, token)
        found: list[tuple[str, str]] = []
        pair = self.from_headers(username, token)
        if pair is not None:
            found.append(("headers", pair.token))
        if authorization:
            bearer = bearer_token(authorization)
            if bearer is not None:
                found.append(("bearer", bearer))
        if cookie:
            value = self._session_cookie(cookie)
            if value is not None:
                found.append(("cookie", value))
        if not found:
            return None
        transport, first = found[0]
        if len(found) == 1:  # the usual request: one transport carries the token
            carried_by = _CARRIED_ALONE[transport]
        else:
            for _, other in found[1:]:
                if not hmac.compare_digest(other.encode(), first.encode()):
                    raise InvalidSession("conflict")
            carried_by = frozenset(name for name, _ in found)
        return Credentials(transport, username.lower() if username else None, first, carried_by)

    def from_headers(self, username: str | None, token: str | None) -> Credentials | None:
        """:meth:`presented` for a request with neither ``Authorization`` nor ``Cookie``
        (or with those transports off): most requests, so its arguments are positional.

        :raises InvalidSession: for half a pair or a malformed ``Username``.
        """
        if not username or not token:
            if username or token:
                raise InvalidSession("half-pair")
            return None
        if len(username) > MAX_USERNAME_HEADER or not username.isascii():
            raise InvalidSession("malformed")
        return Credentials("headers", username.lower(), token, _HEADERS_ALONE)

    def check_csrf(
        self,
        method: str,
        credentials: Credentials,
        *,
        origin: str | None,
        fetch_site: str | None,
        csrf_header: str | None,
        own_origin: str,
        upgrade: str | None = None,
    ) -> None:
        """:func:`nullptr_auth.csrf.check` for a request the cookie alone authenticated.

        A WebSocket handshake (``Upgrade: websocket``) is a ``GET``, but one that any
        page may make a browser send with the cookie, and that cannot carry
        ``X-CSRF-Token`` (the WebSocket API sets no headers): it must pass the origin
        check alone (cross-site WebSocket hijacking), whatever its method.

        :raises CsrfFailed:
        """
        if credentials.by_cookie_alone and _is_websocket(upgrade):
            csrf.check_origin(
                origin=origin,
                fetch_site=fetch_site,
                own_origin=own_origin,
                trusted_origins=self.trusted_origins,
            )
        elif credentials.by_cookie_alone:
            csrf.check(
                method,
                origin=origin,
                fetch_site=fetch_site,
                csrf_header=csrf_header,
                session_token=credentials.token,
                own_origin=own_origin,
                trusted_origins=self.trusted_origins,
            )

    def check_login_origin(
        self, *, origin: str | None, fetch_site: str | None, own_origin: str
    ) -> None:
        """A login that would set the cookie must not come from another site (login
        CSRF: logging a victim's browser into the attacker's account).

        :raises CsrfFailed:
        """
        if self.cookie:
            csrf.check_origin(
                origin=origin,
                fetch_site=fetch_site,
                own_origin=own_origin,
                trusted_origins=self.trusted_origins,
            )

    def cookie_for_app(self, cookie: str) -> str:
        """The ``Cookie`` header without the session cookie: the token never reaches the
        application (the CSRF cookie, readable by any page of the site, stays)."""
        kept = [
            part.strip()
            for part in cookie.split(";")
            if part.strip().partition("=")[0] != self.cookie_name and part.strip()
        ]
        return "; ".join(kept)

    # -- writing the answer ------------------------------------------------------------
    def login_body(self, body: dict[str, object], token: str) -> dict[str, object]:
        """The login answer: with ``csrf_token`` when cookies are on (a front end on a
        trusted origin cannot read the cookie), without the token if so configured."""
        if self.cookie:
            body["csrf_token"] = csrf.csrf_token(token)
        if not self.token_in_body:
            del body["session_token"]
        return body

    def login_cookies(self, token: str, own_origin: str) -> list[str]:
        """The ``Set-Cookie`` values of a new session (none unless cookies are on)."""
        if not self.cookie:
            return []
        secure = self._secure(own_origin)
        return [
            f"{self.cookie_name}={token}; Path=/{self._domain}{self._max_age}; HttpOnly"
            f"{secure}; SameSite=Lax",
            f"{self.csrf_cookie_name}={csrf.csrf_token(token)}; Path=/{self._domain}"
            f"{self._max_age}{secure}; SameSite=Lax",
        ]

    def logout_cookies(self, own_origin: str) -> list[str]:
        """The ``Set-Cookie`` values that clear both cookies (none unless cookies are on)."""
        if not self.cookie:
            return []
        secure = self._secure(own_origin)
        return [
            f"{self.cookie_name}=; Path=/{self._domain}; {_EXPIRED}; HttpOnly{secure};"
            " SameSite=Lax",
            f"{self.csrf_cookie_name}=; Path=/{self._domain}; {_EXPIRED}{secure}; SameSite=Lax",
        ]

    def challenges(self, authorization: str | None) -> list[str]:
        """The ``WWW-Authenticate`` values of a 401, one per transport that has a scheme;
        empty for the default transports (the error table's ``Token`` stands)."""
        if self.default:
            return []
        found = []
        if self.headers:
            found.append("Token")
        if self.bearer:
            sent = authorization is not None and _is_bearer(authorization)
            found.append('Bearer error="invalid_token"' if sent else "Bearer")
        return found

    def unauthorized_cookies(self, cookie: str | None, own_origin: str) -> list[str]:
        """A 401 to a request that carried the session cookie clears it: the browser
        would present the dead cookie on every page, public ones included."""
        if not self.cookie or not cookie or not self._session_cookie_present(cookie):
            return []
        return self.logout_cookies(own_origin)

    # -- helpers -----------------------------------------------------------------------
    def _session_cookie(self, cookie: str) -> str | None:
        values = {
            _unquoted(value.strip())
            for key, _, value in (part.strip().partition("=") for part in cookie.split(";"))
            if key == self.cookie_name and _unquoted(value.strip())
        }
        if len(values) > 1:  # planted beside ours (cookie tossing): never guess which
            raise InvalidSession("ambiguous")
        return values.pop() if values else None

    def _session_cookie_present(self, cookie: str) -> bool:
        return any(part.strip().partition("=")[0] == self.cookie_name for part in cookie.split(";"))

    def _secure(self, own_origin: str) -> str:
        if self._insecure_localhost and is_local_http(own_origin):
            return ""
        return "; Secure"


def _unquoted(value: str) -> str:
    """RFC 6265 §4.1.1 allows a cookie value in double quotes (some clients add them)."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def bearer_token(authorization: str) -> str | None:
    """The token of ``Authorization: Bearer <token>``; ``None`` for another scheme.

    :raises InvalidSession: for a ``Bearer`` without a single token after it.
    """
    if not _is_bearer(authorization):
        return None
    token = authorization[6:].lstrip(" ")
    if not token or " " in token or "\t" in token:
        raise InvalidSession("malformed")
    return token


def _is_websocket(upgrade: str | None) -> bool:
    """RFC 6455 §4.1: ``Upgrade`` names ``websocket``, case-insensitively."""
    return upgrade is not None and "websocket" in upgrade.lower()


def _is_bearer(authorization: str) -> bool:
    """RFC 9110 §11.1: the scheme is case-insensitive, then one or more spaces."""
    return authorization[:6].lower() == "bearer" and (
        len(authorization) == 6 or authorization[6] == " "
    )


def is_local_http(own_origin: str) -> bool:
    """Whether an origin is ``http://localhost`` (or 127.0.0.1, [::1]), any port."""
    if not own_origin.startswith("http://"):
        return False
    host = own_origin[7:]
    host = host.partition("]")[0] + "]" if host.startswith("[") else host.partition(":")[0]
    return host in _LOCAL_HOSTS or host.endswith(".localhost")


def cookie_name(options: Options) -> str:
    """The configured name, else ``__Host-nullptr_auth`` where a ``__Host-`` cookie can
    be set (``Secure``, no ``Domain``), else ``nullptr_auth``."""
    if options.cookie_name is not None:
        return options.cookie_name
    if options.cookie_domain is None and not options.cookie_insecure_localhost:
        return HOST_COOKIE
    return PLAIN_COOKIE


def type_problems(options: Options) -> list[str]:
    """The type errors of the transport options, for :class:`~nullptr_auth.config.Options`."""
    problems = []
    chosen = options.transports
    if isinstance(chosen, str) or not isinstance(chosen, tuple):
        problems.append("transports must be a list of transport names, not a string")
    for name in ("cookie_name", "cookie_domain"):
        value = getattr(options, name)
        if value is not None and not isinstance(value, str):
            problems.append(f"{name} must be str or None, not {type(value).__name__}")
    if not isinstance(options.trusted_origins, tuple) or not all(
        isinstance(o, str) for o in options.trusted_origins
    ):
        problems.append("trusted_origins must be a list of origins (strings)")
    return problems


def value_problems(options: Options) -> list[str]:
    """The value errors of the transport options, all of them."""
    problems = []
    chosen = options.transports
    unknown = [t for t in chosen if t not in TRANSPORTS]
    if unknown or not chosen or len(set(chosen)) != len(chosen):
        problems.append(
            f"transports must list some of {', '.join(TRANSPORTS)}, each once, not {chosen!r}"
        )
    if "cookie" not in chosen:
        for name, default in [
            ("cookie_name", None),
            ("cookie_domain", None),
            ("cookie_insecure_localhost", False),
            ("session_token_in_body", True),
            ("trusted_origins", ()),
        ]:
            if getattr(options, name) != default:
                problems.append(f"{name} needs 'cookie' in transports")
    problems += _cookie_problems(options)
    bad = [o for o in options.trusted_origins if csrf.normalized_origin(o) is None]
    if bad:
        problems.append(
            "trusted_origins must be origins such as 'https://app.example' (a scheme, a"
            f" host, a port if not the default, nothing after), not {', '.join(map(repr, bad))}"
        )
    return problems


def _cookie_problems(options: Options) -> list[str]:
    problems = []
    name, domain = options.cookie_name, options.cookie_domain
    if name is not None and not _COOKIE_NAME.fullmatch(name):
        problems.append(f"cookie_name must be a cookie name (an RFC 9110 token), not {name!r}")
    if domain is not None and not _COOKIE_DOMAIN.fullmatch(domain):
        problems.append(f"cookie_domain must be a host name, not {domain!r}")
    if name is not None and name.startswith("__Host-") and domain is not None:
        problems.append("a __Host- cookie_name cannot have a cookie_domain (browsers drop it)")
    if (
        name is not None
        and name.startswith(("__Host-", "__Secure-"))
        and options.cookie_insecure_localhost
    ):
        problems.append(
            "a __Host- or __Secure- cookie_name needs Secure; it cannot be combined with"
            " cookie_insecure_localhost"
        )
    return problems
