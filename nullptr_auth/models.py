"""The value objects every layer passes around: a user, a stored user, a session.

They know nothing of storage or HTTP. :class:`User` and :class:`Session` are what the
wrapped application receives in ``environ["nullptr_auth.user"]`` and
``environ["nullptr_auth.session"]``; neither carries a secret.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True, init=False)
class User:
    """An authenticated user: ``id`` is a lowercase hyphenated UUID, ``username`` is lowercase."""

    id: str
    username: str

    def __init__(self, id: str, username: str) -> None:
        """As the dataclass's own, through the slots' setters: see :class:`Session`."""
        set_id, set_username = _USER_SETTERS
        set_id(self, id)
        set_username(self, username)


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user as the store keeps it, with the argon2id hash that never leaves the server."""

    id: str
    username: str
    password_hash: str = field(repr=False)
    created_at: datetime
    disabled: bool = False

    @property
    def user(self) -> User:
        return User(self.id, self.username)


@dataclass(frozen=True, slots=True, init=False)
class Session:
    """One device's login.

    ``expires_at`` is the absolute end (``None`` when sessions have no lifetime);
    ``idle_expires_at`` is when it ends unless used again (``None`` without an idle
    timeout). ``device`` is the label the client gave at login (may be empty).
    ``token_hash`` is the SHA-256 of the token as issued: the store keeps
    only this, so reading the store never lets anyone log in.
    """

    id: str
    user_id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime | None
    idle_expires_at: datetime | None
    user_agent: str
    ip: str
    device: str
    token_hash: bytes = field(repr=False, compare=False)
    _ends_at: datetime | None = field(init=False, repr=False, compare=False)

    @property
    def ends_at(self) -> datetime | None:
        """The earlier of the two deadlines: when this session stops authenticating."""
        return self._ends_at

    def __init__(
        self,
        id: str,
        user_id: str,
        created_at: datetime,
        last_seen_at: datetime,
        expires_at: datetime | None,
        idle_expires_at: datetime | None,
        user_agent: str,
        ip: str,
        device: str,
        token_hash: bytes,
    ) -> None:
        """The dataclass's own ``__init__``, written out: every store builds one of these
        for every session it reads, and a frozen dataclass's generated ``__init__`` calls
        ``object.__setattr__`` once a field, twice the cost of the slots' own setters
        (24,000 instructions a session against 11,000: docs/performance.md, stop 18).
        ``ends_at`` is worked out once here: every authenticated request asks for it."""
        (
            set_id,
            set_user_id,
            set_created_at,
            set_last_seen_at,
            set_expires_at,
            set_idle_expires_at,
            set_user_agent,
            set_ip,
            set_device,
            set_token_hash,
            set_ends_at,
        ) = _SESSION_SETTERS
        set_id(self, id)
        set_user_id(self, user_id)
        set_created_at(self, created_at)
        set_last_seen_at(self, last_seen_at)
        set_expires_at(self, expires_at)
        set_idle_expires_at(self, idle_expires_at)
        set_user_agent(self, user_agent)
        set_ip(self, ip)
        set_device(self, device)
        set_token_hash(self, token_hash)
        if expires_at is None or (idle_expires_at is not None and idle_expires_at < expires_at):
            set_ends_at(self, idle_expires_at)
        else:
            set_ends_at(self, expires_at)

    def is_live(self, now: datetime) -> bool:
        return self._ends_at is None or now < self._ends_at


def _setters(cls: type, names: tuple[str, ...]) -> tuple[Callable[[object, object], None], ...]:
    """The ``__set__`` of each slot: what a frozen class's ``__init__`` may call."""
    return tuple(cls.__dict__[name].__set__ for name in names)


_USER_SETTERS = _setters(User, ("id", "username"))
_SESSION_SETTERS = _setters(
    Session,
    (
        "id",
        "user_id",
        "created_at",
        "last_seen_at",
        "expires_at",
        "idle_expires_at",
        "user_agent",
        "ip",
        "device",
        "token_hash",
        "_ends_at",
    ),
)
