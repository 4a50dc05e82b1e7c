"""Every option of both middlewares, declared once, validated once, all problems together.

:class:`AuthOptions` is the one list of keyword options that
:class:`nullptr_auth.wsgi.AuthMiddleware`, :class:`nullptr_auth.asgi.AuthMiddleware` and
the core :class:`nullptr_auth.auth.Auth` take (``**options: Unpack[AuthOptions]``, so
mypy checks every call); :class:`Options` holds them validated, with their defaults.

Each default and the reason for it:

========================  ==================  =============================================
option                    default             why
========================  ==================  =============================================
``secret_keys``           ``None``            read ``NULLPTR_AUTH_SECRET_KEYS``, else one
                                              key is generated and kept in the store, so
                                              every process sharing it agrees
``session_path``          ``"/session"``      the nullptr chat API
``require_auth``          ``False``           anonymous requests reach the app, which decides
``registration``          ``False``           accounts over HTTP are an explicit choice
``session_lifetime``      30 days             a stolen token stops working eventually
``idle_timeout``          14 days             a forgotten device logs itself out
``activity_interval``     1 minute            activity costs one write a minute, not one a
                                              request
``max_body_size``         64 KiB              a login body is tiny; refuse floods unread
``max_password_length``   1024                bounds the cost of hashing
``max_sessions_per_user`` 100                 one login per device, more devices than a
                                              person has, but not without bound: a
                                              scripted login loop cannot grow one
                                              user's list (and ``GET /session``) forever
``session_limit_policy``  ``"evict_oldest"``  at the limit a new login still works (the
                                              least recently used session ends); ``"reject"``
                                              refuses it with TOO_MANY_SESSIONS
``password_blocklist``    ``None``            NIST asks for one; which list is the
                                              deployer's choice
``reveal_unknown_users``  ``True``            the contract's distinct INCORRECT_USERNAME
``throttling``            ``True``            failed logins slow down, then wait; see
                                              :mod:`nullptr_auth.throttle`
``trusted_proxies``       ``0``               X-Forwarded-For is the client's to forge
                                              unless a proxy you run wrote it
``max_concurrent_hashes`` one per CPU         argon2 is a CPU and memory sink by design
``trust_remote_user``     ``False``           an upstream REMOTE_USER is spoofable unless a
                                              trusted server set it
``users``                 ``None``            the store's own users; pass a ``UserSource``
                                              to log in against the application's users
``transports``            ``("headers",)``    the contract's Username and Token; ``"bearer"``
                                              and ``"cookie"`` are opt-in (see
                                              :mod:`nullptr_auth.transports`)
``cookie_name``           ``None``            ``__Host-nullptr_auth``: a ``__Host-`` cookie
                                              cannot be set by a sibling subdomain or over
                                              http; ``nullptr_auth`` when that is impossible
``cookie_domain``         ``None``            host-only: no other host sees the cookie
``cookie_insecure_``      ``False``           ``Secure`` stays on except for requests to
``localhost``                                 ``http://localhost`` when this is ``True``
``session_token_in_body`` ``True``            the contract's login answer; ``False`` keeps
                                              the token out of reach of page scripts
``trusted_origins``       ``()``              only the request's own origin may change state
                                              with a cookie; list the others
``on_event``              ``None``            hooks are the application's choice
``metrics``               ``None``            counting is opt-in (:mod:`nullptr_auth.metrics`)
========================  ==================  =============================================
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict

import argon2

from . import events, transports
from ._paths import is_canonical
from .accounts import UserSource
from .passwords import MIN_PASSWORD_LENGTH, Blocklist, weakness
from .tokens import MIN_KEY_BYTES

if TYPE_CHECKING:
    from .events import OnEvent
    from .metrics import Metrics
    from .stores.base import Store

SESSION_LIMIT_POLICIES = ("evict_oldest", "reject")
DEFAULT_MAX_SESSIONS = 100
SECRET_KEYS_VARIABLE = "NULLPTR_AUTH_SECRET_KEYS"  # noqa: S105 - a variable's name
RequireAuth: TypeAlias = "bool | Sequence[str] | Callable[[Any], bool]"
"""``True``, path prefixes, or a callable given the WSGI environ or the ASGI scope."""


_utc_now: Callable[[], datetime] = partial(datetime.now, timezone.utc)
"""The default clock. Every authenticated request reads it: a ``partial`` is one call in
C, where a function wrapping ``datetime.now`` adds a Python frame."""


class AuthOptions(TypedDict, total=False):
    """The keyword options of both middlewares; the table above gives each default.

    ``sessions``: keep sessions (and failed-login counts and the generated key) in this
    store instead, and only users in ``database`` (:mod:`nullptr_auth.stores.split`).
    ``secret_keys``: signing keys, newest first (``str`` or ``bytes``, 32 bytes or more).
    ``require_auth``: ``True``, a list of path prefixes, or a callable taking the
    environ (WSGI) or the scope (ASGI), where the canonical path is under
    ``"nullptr_auth.path"``: decide on that. ``password_hasher``: an
    :class:`argon2.PasswordHasher`; ``allow_weak_hashing_for_tests`` accepts one below
    OWASP's minimum. ``users``: a :class:`~nullptr_auth.UserSource`. ``clock``: returns
    the current time as an aware UTC datetime. The others are in the table above.
    """

    sessions: str | Store | None
    secret_keys: Sequence[str | bytes] | None
    session_path: str
    require_auth: RequireAuth
    registration: bool
    session_lifetime: timedelta | None
    idle_timeout: timedelta | None
    activity_interval: timedelta
    max_body_size: int
    max_password_length: int
    max_sessions_per_user: int | None
    session_limit_policy: str
    password_blocklist: Blocklist | str | os.PathLike[str] | None
    reveal_unknown_users: bool
    throttling: bool
    trusted_proxies: int
    trust_remote_user: bool
    password_hasher: argon2.PasswordHasher | None
    max_concurrent_hashes: int | None
    allow_weak_hashing_for_tests: bool
    users: UserSource | None
    clock: Callable[[], datetime]
    transports: Sequence[str]
    cookie_name: str | None
    cookie_domain: str | None
    cookie_insecure_localhost: bool
    session_token_in_body: bool
    trusted_origins: Sequence[str]
    on_event: OnEvent
    metrics: Metrics | None


@dataclass(frozen=True)
class Options:
    """The validated configuration of one middleware; two middlewares never share it.

    Build it with :meth:`from_keywords`; its fields are :class:`AuthOptions`' (a test
    keeps the two lists equal), with ``secret_keys`` as bytes.
    """

    secret_keys: tuple[bytes, ...] = field(default=(), repr=False)
    sessions: object = None
    session_path: str = "/session"
    require_auth: RequireAuth = False
    registration: bool = False
    session_lifetime: timedelta | None = timedelta(days=30)
    idle_timeout: timedelta | None = timedelta(days=14)
    activity_interval: timedelta = timedelta(minutes=1)
    max_body_size: int = 64 * 1024
    max_password_length: int = 1024
    max_sessions_per_user: int | None = DEFAULT_MAX_SESSIONS
    session_limit_policy: str = "evict_oldest"
    password_blocklist: object = None
    reveal_unknown_users: bool = True
    throttling: bool = True
    trusted_proxies: int = 0
    trust_remote_user: bool = False
    max_concurrent_hashes: int | None = None
    password_hasher: object = None
    allow_weak_hashing_for_tests: bool = False
    users: object = None
    clock: Callable[[], datetime] = _utc_now
    transports: tuple[str, ...] = ("headers",)
    cookie_name: str | None = None
    cookie_domain: str | None = None
    cookie_insecure_localhost: bool = False
    session_token_in_body: bool = True
    trusted_origins: tuple[str, ...] = ()
    on_event: object = None
    metrics: object = None

    @classmethod
    def from_keywords(cls, options: Mapping[str, object]) -> Options:
        """Validated options from the keywords a middleware was given.

        :raises TypeError, ValueError: naming every invalid option at once.
        """
        unknown = sorted(set(options) - _NAMES)
        if unknown:
            raise TypeError(f"unknown options: {', '.join(unknown)}")
        values = dict(options)
        values["secret_keys"] = secret_keys_from(values.get("secret_keys"))  # type: ignore[arg-type]
        for name in ("transports", "trusted_origins"):
            if name in values:
                values[name] = _tuple(values[name])  # type: ignore[arg-type]
        return cls(**values)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        problems = _Problems()
        problems.check_transports(self)
        problems.check_on_event(self.on_event)
        problems.check_metrics(self.metrics)
        problems.check_user_source(self.users, self.registration)
        problems.check_hasher(self.password_hasher, self.allow_weak_hashing_for_tests)
        problems.check_keys(self.secret_keys)
        problems.check_path(self.session_path)
        problems.check_require_auth(self.require_auth)
        problems.check_int("trusted_proxies", self.trusted_proxies, minimum=0)
        if self.max_concurrent_hashes is not None:
            problems.check_int("max_concurrent_hashes", self.max_concurrent_hashes, minimum=1)
        for name in (
            "registration",
            "reveal_unknown_users",
            "throttling",
            "trust_remote_user",
            "cookie_insecure_localhost",
            "session_token_in_body",
        ):
            problems.check_type(name, getattr(self, name), bool)
        for name in ("session_lifetime", "idle_timeout"):
            problems.check_duration(name, getattr(self, name), optional=True)
        problems.check_duration("activity_interval", self.activity_interval, optional=False)
        problems.check_int("max_body_size", self.max_body_size, minimum=1)
        problems.check_int(
            "max_password_length", self.max_password_length, minimum=MIN_PASSWORD_LENGTH
        )
        if self.max_sessions_per_user is not None:
            problems.check_int("max_sessions_per_user", self.max_sessions_per_user, minimum=1)
        if self.session_limit_policy not in SESSION_LIMIT_POLICIES:
            problems.value_errors.append(
                f"session_limit_policy must be one of {', '.join(SESSION_LIMIT_POLICIES)}"
            )
        problems.raise_if_any()


_NAMES = frozenset(f.name for f in fields(Options))


def _tuple(value: Sequence[str]) -> tuple[str, ...]:
    """A list option as a tuple; a string stays one, for Options to refuse."""
    return value if isinstance(value, (str, tuple)) else tuple(value)  # type: ignore[return-value]


def secret_keys_from(value: Sequence[str | bytes] | str | None) -> tuple[bytes, ...]:
    """Configured keys as bytes, newest first; ``None`` reads the environment variable.

    An unset variable means no keys (one is generated and kept in the store). A set
    one must list keys: an empty entry (``" , "``, ``"a,,b"``, or an empty value from a
    template whose secret was missing) is a mistake, and is kept as an empty key for
    :class:`Options` to report, never dropped in silence for the stored key to stand in.
    """
    if value is None:
        value = os.environ.get(SECRET_KEYS_VARIABLE)
        if value is None:
            return ()
    if isinstance(value, str):
        value = [key.strip() for key in value.split(",")]
    return tuple(key.encode("utf-8") if isinstance(key, str) else key for key in value)


class _Problems:
    """Collects every configuration problem so they are reported in one exception."""

    def __init__(self) -> None:
        self.type_errors: list[str] = []
        self.value_errors: list[str] = []

    def check_type(self, name: str, value: object, expected: type) -> bool:
        if isinstance(value, expected):
            return True
        self.type_errors.append(f"{name} must be {expected.__name__}, not {type(value).__name__}")
        return False

    def check_transports(self, options: Options) -> None:
        found = transports.type_problems(options)
        self.type_errors += found
        if not found:
            self.value_errors += transports.value_problems(options)

    def check_on_event(self, hooks: object) -> None:
        try:
            events.hooks_from(hooks)
        except TypeError as error:
            self.type_errors.append(str(error))

    def check_metrics(self, metrics: object) -> None:
        from .metrics import Metrics  # metrics imports events only; kept off import time

        if metrics is not None and not isinstance(metrics, Metrics):
            self.type_errors.append("metrics must be a nullptr_auth.metrics.Metrics or None")

    def check_keys(self, keys: tuple[bytes, ...]) -> None:
        empty = sum(1 for key in keys if isinstance(key, bytes) and not key)
        if empty:
            self.value_errors.append(
                f"{empty} of {len(keys)} secret keys are empty (a stray comma or an empty"
                f" value in {SECRET_KEYS_VARIABLE}?); list only keys, or unset the variable"
                " to use the key kept in the store"
            )
        for key in keys:
            if self.check_type("each secret key", key, bytes) and 0 < len(key) < MIN_KEY_BYTES:
                self.value_errors.append(
                    f"secret keys must be at least {MIN_KEY_BYTES} bytes long"
                    f" (one is {len(key)}); make one with: python -c "
                    "'import secrets; print(secrets.token_urlsafe(32))'"
                )

    def check_path(self, path: str) -> None:
        if self.check_type("session_path", path, str) and (
            not path.startswith("/") or path.endswith("/") or len(path) < 2
        ):
            self.value_errors.append(
                f"session_path must start with '/' and not end with one, not {path!r}"
            )

    def check_hasher(self, hasher: object, allow_weak: bool) -> None:
        if hasher is None or not self.check_type("password_hasher", hasher, argon2.PasswordHasher):
            return
        problem = weakness(hasher)  # type: ignore[arg-type]
        if problem is not None and allow_weak is not True:
            self.value_errors.append(problem)

    def check_user_source(self, users: object, registration: bool) -> None:
        if users is None:
            return
        if not isinstance(users, UserSource):
            self.type_errors.append("users must implement nullptr_auth.UserSource")
        elif registration is True:
            self.value_errors.append(
                "registration needs the store's own users; it cannot be on with users="
            )

    def check_require_auth(self, value: RequireAuth) -> None:
        if isinstance(value, bool) or callable(value):
            return
        if isinstance(value, str) or not isinstance(value, Sequence):
            self.type_errors.append(
                "require_auth must be a bool, a list of path prefixes or a callable"
            )
        elif not all(isinstance(p, str) and p.startswith("/") for p in value):
            self.value_errors.append("require_auth prefixes must be strings starting with '/'")
        elif not all(is_canonical(p) for p in value):
            # a path is compared in its canonical form, which such a prefix never matches
            self.value_errors.append(
                "require_auth prefixes must be canonical paths (no '//', '.' or '..'"
                " segments), not " + ", ".join(repr(p) for p in value if not is_canonical(p))
            )

    def check_duration(self, name: str, value: object, *, optional: bool) -> None:
        if value is None and optional:
            return
        if self.check_type(name, value, timedelta) and value <= timedelta(0):  # type: ignore[operator]
            self.value_errors.append(f"{name} must be positive")

    def check_int(self, name: str, value: object, *, minimum: int) -> None:
        if isinstance(value, bool):
            self.type_errors.append(f"{name} must be int, not bool")
            return
        if not self.check_type(name, value, int):
            return
        if value < minimum:  # type: ignore[operator]
            self.value_errors.append(f"{name} must be at least {minimum}")

    def raise_if_any(self) -> None:
        problems = "; ".join(self.type_errors + self.value_errors)
        if self.type_errors:
            raise TypeError(problems)
        if self.value_errors:
            raise ValueError(problems)
