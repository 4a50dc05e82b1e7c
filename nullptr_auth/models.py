"""The value objects every layer passes around: a user, a stored user, a session.

They know nothing of storage or HTTP. :class:`User` and :class:`Session` are what the
wrapped application receives in ``environ["nullptr_auth.user"]`` and
``environ["nullptr_auth.session"]``; neither carries a secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class User:
    """An authenticated user: ``id`` is a lowercase hyphenated UUID, ``username`` is lowercase."""

    id: str
    username: str


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


@dataclass(frozen=True, slots=True)
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

    def __post_init__(self) -> None:
        """Work out ``ends_at`` once: every authenticated request asks for it."""
        deadlines = [d for d in (self.expires_at, self.idle_expires_at) if d is not None]
        object.__setattr__(self, "_ends_at", min(deadlines, default=None))

    def is_live(self, now: datetime) -> bool:
        return self._ends_at is None or now < self._ends_at
