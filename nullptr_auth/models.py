"""The value objects every layer passes around: a user, a stored user, a session.

They know nothing of storage or HTTP. :class:`User` and :class:`Session` are what the
wrapped application receives in ``environ["nullptr_auth.user"]`` and
``environ["nullptr_auth.session"]``; neither carries a secret.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple, cast


@dataclass(frozen=True, slots=True, init=False)
class User:
    """An authenticated user: ``id`` is a lowercase hyphenated UUID, ``username`` is lowercase."""

    id: str
    username: str

    def __init__(self, id: str, username: str) -> None:
        """As the dataclass's own, through the slots' setters: a frozen dataclass's
        generated ``__init__`` calls ``object.__setattr__`` for each field, twice the
        cost (docs/performance.md, stop 18), and every store builds one per read."""
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


class _SessionFields(NamedTuple):
    id: str
    user_id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime | None
    idle_expires_at: datetime | None
    user_agent: str
    ip: str
    device: str
    token_hash: bytes
    ends_at: datetime | None


class Session(_SessionFields):
    """One device's login.

    ``expires_at`` is the absolute end (``None`` when sessions have no lifetime);
    ``idle_expires_at`` is when it ends unless used again (``None`` without an idle
    timeout); ``ends_at``, worked out from the two, is the earlier: when it stops
    authenticating. ``device`` is the label the client gave at login (may be empty).
    ``token_hash`` is the SHA-256 of the token as issued: the store keeps only this, so
    reading the store never lets anyone log in; ``repr`` leaves it out.

    An immutable named tuple, built with the ten fields before ``ends_at``. Every
    authenticated request gets one, and a cache hit builds it from the plain tuple the
    cache keeps (:data:`session_from_fields`: 0.15 µs, against 0.57 for a slots class's
    ``__init__`` of eleven setters, docs/performance.md, stop 20). Change one with
    :meth:`_replace`, which works ``ends_at`` out again.
    """

    __slots__ = ()

    def __new__(
        cls,
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
    ) -> Session:
        if expires_at is None or (idle_expires_at is not None and idle_expires_at < expires_at):
            ends_at = idle_expires_at
        else:
            ends_at = expires_at
        return _new_tuple(
            cls,
            (
                id,
                user_id,
                created_at,
                last_seen_at,
                expires_at,
                idle_expires_at,
                user_agent,
                ip,
                device,
                token_hash,
                ends_at,
            ),  # one tuple built, not two joined: every read of a store builds a Session
        )

    def __getnewargs__(self) -> tuple[Any, ...]:
        return tuple(self[:_ENDS_AT])  # pickle and copy build it through __new__

    def __repr__(self) -> str:
        shown = zip(self._fields, self, strict=True)
        return "Session({})".format(", ".join(f"{n}={v!r}" for n, v in shown if n != "token_hash"))

    def _replace(self, **changes: Any) -> Session:
        fields: dict[str, Any] = dict(zip(self._fields[:_ENDS_AT], self, strict=False))
        fields.update(changes)
        return Session(**fields)

    def is_live(self, now: datetime) -> bool:
        return self.ends_at is None or now < self.ends_at


_new_tuple = tuple.__new__
_ENDS_AT = _SessionFields._fields.index("ends_at")  # the fields before it: __new__'s
session_from_fields = cast("Callable[[tuple[Any, ...]], Session]", partial(_new_tuple, Session))
"""The session whose eleven fields, ``ends_at`` included, are ``fields``
(``tuple(session)`` of one built the usual way), with no check at all: one C call and no
Python frame, for a cache hit."""


def _setters(cls: type, names: tuple[str, ...]) -> tuple[Callable[[object, object], None], ...]:
    """The ``__set__`` of each slot: what a frozen class's ``__init__`` may call."""
    return tuple(cls.__dict__[name].__set__ for name in names)


_USER_SETTERS = _setters(User, ("id", "username"))
