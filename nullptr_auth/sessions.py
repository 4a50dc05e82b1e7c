"""The session lifecycle: log in, verify a presented pair, list, end; the expiry rules.

A session ends at the earlier of two deadlines: an absolute lifetime from login
(default 30 days) and an idle timeout from the last use (default 14 days); either may be
``None``. Both are checked on every request against the store's own record, and an
expired session is deleted when it is next presented. Activity (``last_seen_at`` and
the idle deadline) is written at most once per ``activity_interval`` (default one
minute), so a burst of requests costs reads, not writes.

Nothing here knows there is a web: callers pass the user agent and address they saw.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from . import tokens
from .accounts import Accounts
from .errors import CredentialsChanged, InvalidSession
from .models import Session, User
from .stores.base import CachingStore, Store
from .tokens import StoredKeySigner, TokenSigner


class Sessions:
    """Sessions over a store.

    :param store: where sessions live.
    :param accounts: checks credentials at login.
    :param secret_keys: signing keys, newest first; empty to use the key kept in the store.
    :param clock: returns the current UTC time.
    :param lifetime: absolute session lifetime, or ``None``.
    :param idle_timeout: how long an unused session lives, or ``None``.
    :param activity_interval: the least time between two activity writes of one session.
    :param max_sessions_per_user: the most live sessions one user may hold, or ``None``.
    :param evict_oldest: at the limit, end the least recently used session (``True``) or
        refuse the login with :class:`~nullptr_auth.errors.TooManySessions`.
    :param purge_interval: how often a login also deletes every expired session.
    """

    def __init__(
        self,
        store: Store,
        accounts: Accounts,
        *,
        secret_keys: Sequence[bytes],
        clock: Callable[[], datetime],
        lifetime: timedelta | None,
        idle_timeout: timedelta | None,
        activity_interval: timedelta,
        max_sessions_per_user: int | None = None,
        evict_oldest: bool = True,
        purge_interval: timedelta = timedelta(hours=1),
    ) -> None:
        self._store = store
        self._accounts = accounts
        self._clock = clock
        self.signer: TokenSigner | StoredKeySigner = (
            TokenSigner(tuple(secret_keys))
            if secret_keys
            else StoredKeySigner(store.get_or_create_secret_key)
        )
        """Signs and verifies tokens; a key kept in the store is read only on first use
        (and again whenever processes sharing the store might disagree on it)."""
        self.lifetime = lifetime
        self.idle_timeout = idle_timeout
        self.activity_interval = activity_interval
        self.max_sessions_per_user = max_sessions_per_user
        self.evict_oldest = evict_oldest
        self.purge_interval = purge_interval
        self._next_purge = clock()
        self._cached_session = store.cached_session if isinstance(store, CachingStore) else None

    def __repr__(self) -> str:
        return f"<Sessions {self._store!r}>"

    def login(
        self,
        username: str,
        password: str,
        *,
        user_agent: str = "",
        ip: str = "",
        device: str = "",
    ) -> tuple[User, str]:
        """A new session for these credentials, and its token.

        The session is bound to the credentials checked: if the user was deleted,
        disabled or given another password while the password was being verified, the
        login is refused as that new state says, and no session is kept.

        :raises IncorrectUsername, IncorrectPassword, AccountDisabled:
        """
        user, verified_hash = self._accounts.verify_credentials(username, password)
        try:
            token = self.start(
                user, user_agent=user_agent, ip=ip, device=device, verified_hash=verified_hash
            )
        except CredentialsChanged as changed:
            raise self._accounts.why_changed(username) from changed
        return user, token

    def register(
        self, username: str, password: str, *, user_agent: str = "", ip: str = "", device: str = ""
    ) -> tuple[User, str]:
        """A new user and their first session: both, or (on an error) neither.

        :raises InvalidUsername, InvalidPassword, UsernameTaken:
        """
        record = self._accounts.create_record(username, password)
        try:
            token = self.start(
                record.user,
                user_agent=user_agent,
                ip=ip,
                device=device,
                verified_hash=record.password_hash,
            )
        except BaseException:
            self._store.delete_user(record.id)
            raise
        return record.user, token

    def start(
        self,
        user: User,
        *,
        user_agent: str = "",
        ip: str = "",
        device: str = "",
        verified_hash: str | None = None,
    ) -> str:
        """A new session for a user already known to be who they say; returns its token.

        With ``verified_hash``, the store keeps the session only if the user still has
        that password hash and is enabled (see :meth:`Store.add_session`).

        :raises TooManySessions: at the session limit, when the policy is to refuse.
        :raises CredentialsChanged: if the user no longer has ``verified_hash``.
        """
        now = self._clock()
        self._purge_now_and_then(now)
        session_id = secrets.token_hex(16)
        issued = self.signer.issue(session_id)
        self._store.add_session(
            user,
            Session(
                session_id,
                user.id,
                now,
                now,
                expires_at=None if self.lifetime is None else now + self.lifetime,
                idle_expires_at=self._idle_deadline(now),
                user_agent=user_agent,
                ip=ip,
                device=device,
                token_hash=issued.token_hash,
            ),
            limit=self.max_sessions_per_user,
            evict=self.evict_oldest,
            verified_hash=verified_hash,
        )
        return issued.token

    def authenticate(self, username: str | None, token: str) -> tuple[User, Session]:
        """The live session a (lowercase) username and token name; ``None`` for the
        username when the transport carries the token alone (``Bearer``, a cookie).

        :raises InvalidSession: if the token is forged or garbled, names no session,
            is not exactly the token issued, belongs to another user, or has expired.
        """
        session_id, presented_hash = self.signer.verify(token)
        user, session = _as_issued(self._store.find_session(session_id), presented_hash, username)
        now = self._clock()
        if not session.is_live(now):
            self._store.delete_session(session.id)
            raise InvalidSession("expired")
        if now - session.last_seen_at >= self.activity_interval:
            session = self._record_activity(session, now)
        return user, session

    def new_session_ends_at(self) -> datetime | None:
        """When a session started now stops authenticating unless used (the earlier of
        the two deadlines), for a login's answer."""
        now = self._clock()
        deadlines = [d for d in (self._lifetime_end(now), self._idle_deadline(now)) if d]
        return min(deadlines, default=None)

    def _lifetime_end(self, now: datetime) -> datetime | None:
        return None if self.lifetime is None else now + self.lifetime

    def authenticate_cached(self, username: str | None, token: str) -> tuple[User, Session] | None:
        """:meth:`authenticate` without I/O, or ``None`` when only I/O can decide.

        For an event loop: answers inline when the signer holds its key, the store holds the
        session in memory (:meth:`~nullptr_auth.stores.base.CachingStore.cached_session`),
        and the session is live with no activity write due; refuses a forged token, a
        token other than the one issued or another user's. ``None`` (a cache miss, the
        store's key not read yet, an expired session to delete, activity to record)
        means: call :meth:`authenticate` off the loop.

        :raises InvalidSession: as :meth:`authenticate`, for what it can decide.
        """
        if self._cached_session is None:
            return None
        verified = self.signer.verify_held(token)
        if verified is None:
            return None
        session_id, presented_hash = verified
        found = self._cached_session(session_id)
        if found is None:
            return None
        user, session = _as_issued(found, presented_hash, username)
        now = self._clock()
        if not session.is_live(now) or now - session.last_seen_at >= self.activity_interval:
            return None
        return user, session

    def list(self, user_id: str | None = None) -> list[Session]:
        """Live sessions of one user (or of all users), oldest first."""
        now = self._clock()
        return [s for s in self._store.list_sessions(user_id) if s.is_live(now)]

    def end(self, session_id: str, *, user_id: str | None = None) -> bool:
        """End one session, only if it is ``user_id``'s when given; ``False`` if none."""
        return self._store.delete_session(session_id, user_id)

    def end_all(self, user_id: str, *, keep: str | None = None) -> int:
        """End every session of a user but ``keep``; returns how many ended."""
        return self._store.delete_sessions(user_id, keep=keep)

    def purge(self) -> int:
        """Delete every expired session; returns how many."""
        return self._store.purge_sessions(self._clock())

    def _purge_now_and_then(self, now: datetime) -> None:
        """Keep the store from growing without bound, at the cost of one query an interval."""
        if now >= self._next_purge:
            self._next_purge = now + self.purge_interval
            self._store.purge_sessions(now)

    def _idle_deadline(self, now: datetime) -> datetime | None:
        return None if self.idle_timeout is None else now + self.idle_timeout

    def _record_activity(self, session: Session, now: datetime) -> Session:
        idle_expires_at = self._idle_deadline(now)
        self._store.touch_session(session.id, now, idle_expires_at)
        return session._replace(last_seen_at=now, idle_expires_at=idle_expires_at)


def _as_issued(
    found: tuple[User, Session] | None, presented_hash: bytes, username: str | None
) -> tuple[User, Session]:
    """The session found for a token, if it is the one issued, to this user.

    :raises InvalidSession: if there is none, the token is not as issued, or the session
        is another user's.
    """
    if found is None:
        raise InvalidSession("unknown")
    user, session = found
    if not tokens.matches(presented_hash, session.token_hash):
        raise InvalidSession("not-as-issued")
    if username is not None and user.username != username:
        raise InvalidSession("username-mismatch")
    return found
