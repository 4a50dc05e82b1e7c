"""Users in one store, sessions in another: ``SplitStore(users=..., sessions=...)``.

Users change rarely and belong with the application's data; sessions are read on every
request and are fine to lose. So a fleet may keep users in PostgreSQL and sessions in
Redis::

    from nullptr_auth.stores import open_store
    from nullptr_auth.stores.split import SplitStore

    store = SplitStore(
        users=open_store("postgresql://app@db.internal/shop"),
        sessions=open_store("redis://cache.internal:6379/0"),
    )
    app = AuthMiddleware(app, database=store)

User methods go to ``users``; session, failed-login and signing-key methods go to
``sessions``. Each store keeps its own guarantees; what spans both cannot be one
atomic step, so a change to a user that must end sessions (a password change, disabling,
deleting) ends them first, then changes the user, then ends them again: if the sessions
store is down nothing changes and the caller gets
:class:`~nullptr_auth.errors.StoreUnavailable`, and a login that slipped in between
the steps is ended too. No session ever outlives its user's change.

Supported combinations (every process must see the same users and the same sessions):

==============================  ============================  ============================
users                           sessions                      for
==============================  ============================  ============================
``postgresql://``               ``redis://``                  a fleet of app servers
``postgresql://``               ``postgresql://`` (another    separate databases or
                                database or prefix)           prefixes for each kind
``sqlite:///``                  ``redis://``                  one machine, sessions kept
                                                              apart (e.g. to flush them)
``redis://`` (one prefix)       ``redis://`` (another)        one Redis, two lifetimes
``memory://``                   ``memory://``                 tests
==============================  ============================  ============================

A ``sqlite:///`` users store on a fleet of machines is *not* supported: each machine
would have users of its own. ``memory://`` on either side is for one process only.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from datetime import datetime

from ..errors import CredentialsChanged
from ..models import Session, User, UserRecord
from .base import Reservation, Store


class SplitStore:
    """A :class:`~nullptr_auth.stores.base.Store` over two stores.

    :param users: the store that keeps users.
    :param sessions: the store that keeps sessions, failed-login counters and the
        generated signing key.
    """

    def __init__(self, users: Store, sessions: Store) -> None:
        self.users = users
        self.sessions = sessions

    def __repr__(self) -> str:
        return f"<SplitStore users={self.users!r} sessions={self.sessions!r}>"

    # -- users ------------------------------------------------------------------------
    def add_user(self, user: UserRecord) -> None:
        self.users.add_user(user)

    def get_user(self, username: str) -> UserRecord | None:
        return self.users.get_user(username)

    def list_users(self) -> list[UserRecord]:
        return self.users.list_users()

    def set_password_hash(
        self, user_id: str, password_hash: str, *, end_sessions: bool, keep: str | None = None
    ) -> bool:
        if not end_sessions:
            return self.users.set_password_hash(user_id, password_hash, end_sessions=False)
        self.sessions.delete_sessions(user_id, keep=keep)
        found = self.users.set_password_hash(user_id, password_hash, end_sessions=False)
        self.sessions.delete_sessions(user_id, keep=keep)
        return found

    def set_disabled(self, user_id: str, disabled: bool) -> bool:
        if not disabled:
            return self.users.set_disabled(user_id, False)
        self.sessions.delete_sessions(user_id)
        found = self.users.set_disabled(user_id, True)
        self.sessions.delete_sessions(user_id)
        return found

    def delete_user(self, user_id: str) -> bool:
        self.sessions.delete_sessions(user_id)
        found = self.users.delete_user(user_id)
        self.sessions.delete_sessions(user_id)
        return found

    # -- sessions ---------------------------------------------------------------------
    def add_session(
        self,
        user: User,
        session: Session,
        *,
        limit: int | None = None,
        evict: bool = True,
        verified_hash: str | None = None,
    ) -> None:
        """Add the session, then check the user: a session of a changed user is undone.

        The user's changes end sessions after they change the user, so a session added
        before that check passed is ended by the change, and one added after sees it.
        """
        self.sessions.add_session(user, session, limit=limit, evict=evict)
        if verified_hash is None:
            return
        record = self.users.get_user(user.username)
        if (
            record is None
            or record.id != user.id
            or record.disabled
            or not hmac.compare_digest(record.password_hash, verified_hash)
        ):
            self.sessions.delete_session(session.id)
            raise CredentialsChanged()

    def find_session(self, session_id: str) -> tuple[User, Session] | None:
        return self.sessions.find_session(session_id)

    def cached_session(self, session_id: str) -> tuple[User, Session] | None:
        """The session store's answer from memory, if it keeps one (CachingStore)."""
        cached = getattr(self.sessions, "cached_session", None)
        return None if cached is None else cached(session_id)

    def list_sessions(self, user_id: str | None = None) -> list[Session]:
        return self.sessions.list_sessions(user_id)

    def touch_session(
        self, session_id: str, last_seen_at: datetime, idle_expires_at: datetime | None
    ) -> None:
        self.sessions.touch_session(session_id, last_seen_at, idle_expires_at)

    def delete_session(self, session_id: str, user_id: str | None = None) -> bool:
        return self.sessions.delete_session(session_id, user_id)

    def delete_sessions(self, user_id: str, *, keep: str | None = None) -> int:
        return self.sessions.delete_sessions(user_id, keep=keep)

    def purge_sessions(self, now: datetime) -> int:
        return self.sessions.purge_sessions(now)

    # -- throttling counters ----------------------------------------------------------
    def reserve_attempts(self, reservations: Sequence[Reservation], now: datetime) -> int | None:
        return self.sessions.reserve_attempts(reservations, now)

    def get_failures(self, key: str, now: datetime) -> tuple[int, datetime] | None:
        return self.sessions.get_failures(key, now)

    def release_attempts(self, uncount: Sequence[str], end: Sequence[str]) -> None:
        self.sessions.release_attempts(uncount, end)

    # -- the signing key --------------------------------------------------------------
    def get_or_create_secret_key(self, candidate: bytes) -> bytes:
        return self.sessions.get_or_create_secret_key(candidate)

    def close(self) -> None:
        """Close both stores (the sessions store even if closing the users store fails)."""
        try:
            self.users.close()
        finally:
            self.sessions.close()
