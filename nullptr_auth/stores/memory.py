"""``memory://``: users and sessions in a dict of this process, for tests and demos.

Everything is lost when the process ends and nothing is shared with other processes.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from ..errors import CredentialsChanged, TooManySessions, UsernameTaken
from ..models import Session, User, UserRecord
from .base import Reservation


class MemoryStore:
    """A :class:`~nullptr_auth.stores.base.Store` in process memory, guarded by one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: dict[str, UserRecord] = {}  # by username
        self._users_by_id: dict[str, UserRecord] = {}
        self._sessions: dict[str, tuple[User, Session]] = {}  # id -> what find_session answers
        self._failures: dict[str, tuple[int, datetime, datetime]] = {}  # count, last, end
        self._secret_key: bytes | None = None

    def __repr__(self) -> str:
        return f"<MemoryStore users={len(self._users)} sessions={len(self._sessions)}>"

    def add_user(self, user: UserRecord) -> None:
        with self._lock:
            if user.username in self._users:
                raise UsernameTaken()
            self._users[user.username] = user
            self._users_by_id[user.id] = user

    def get_user(self, username: str) -> UserRecord | None:
        return self._users.get(username)

    def list_users(self) -> list[UserRecord]:
        with self._lock:
            return sorted(self._users.values(), key=lambda user: user.username)

    def set_password_hash(
        self, user_id: str, password_hash: str, *, end_sessions: bool, keep: str | None = None
    ) -> bool:
        with self._lock:
            if not self._replace_user(user_id, password_hash=password_hash):
                return False
            if end_sessions:
                self._delete_where(lambda s: s.user_id == user_id and s.id != keep)
            return True

    def set_disabled(self, user_id: str, disabled: bool) -> bool:
        with self._lock:
            if not self._replace_user(user_id, disabled=disabled):
                return False
            if disabled:
                self._delete_where(lambda session: session.user_id == user_id)
            return True

    def delete_user(self, user_id: str) -> bool:
        with self._lock:
            user = self._users_by_id.pop(user_id, None)
            if user is None:
                return False
            del self._users[user.username]
            self._delete_where(lambda session: session.user_id == user_id)
            return True

    def add_session(
        self,
        user: User,
        session: Session,
        *,
        limit: int | None = None,
        evict: bool = True,
        verified_hash: str | None = None,
    ) -> None:
        with self._lock:
            if verified_hash is not None:
                record = self._users_by_id.get(user.id)
                if (
                    record is None
                    or record.disabled
                    or not hmac.compare_digest(record.password_hash, verified_hash)
                ):
                    raise CredentialsChanged()
            if limit is not None:
                live = [
                    s
                    for _, s in self._sessions.values()
                    if s.user_id == user.id and s.is_live(session.created_at)
                ]
                excess = len(live) + 1 - limit
                if excess > 0 and not evict:
                    raise TooManySessions()
                live.sort(key=lambda s: (s.last_seen_at, s.created_at))
                for doomed in live[: max(excess, 0)]:
                    del self._sessions[doomed.id]
            self._sessions[session.id] = (user, session)  # both immutable: shared by every read

    def find_session(self, session_id: str) -> tuple[User, Session] | None:
        return self._sessions.get(session_id)

    def cached_session(self, session_id: str) -> tuple[User, Session] | None:
        """Everything is in memory: :meth:`find_session` never blocks (CachingStore)."""
        return self.find_session(session_id)

    def list_sessions(self, user_id: str | None = None) -> list[Session]:
        with self._lock:
            sessions = [s for _, s in self._sessions.values() if user_id in (None, s.user_id)]
        return sorted(sessions, key=lambda session: (session.created_at, session.id))

    def touch_session(
        self, session_id: str, last_seen_at: datetime, idle_expires_at: datetime | None
    ) -> None:
        with self._lock:
            found = self._sessions.get(session_id)
            if found is not None:
                user, session = found
                self._sessions[session_id] = (
                    user,
                    session._replace(last_seen_at=last_seen_at, idle_expires_at=idle_expires_at),
                )

    def delete_session(self, session_id: str, user_id: str | None = None) -> bool:
        with self._lock:
            found = self._sessions.get(session_id)
            if found is None or user_id not in (None, found[1].user_id):
                return False
            del self._sessions[session_id]
            return True

    def delete_sessions(self, user_id: str, *, keep: str | None = None) -> int:
        with self._lock:
            return self._delete_where(lambda s: s.user_id == user_id and s.id != keep)

    def purge_sessions(self, now: datetime) -> int:
        with self._lock:
            for key in [key for key, run in self._failures.items() if run[2] <= now]:
                del self._failures[key]
            return self._delete_where(lambda session: not session.is_live(now))

    def reserve_attempts(self, reservations: Sequence[Reservation], now: datetime) -> int | None:
        with self._lock:
            runs = [self._live_run(r.key, now) for r in reservations]
            for index, (reservation, run) in enumerate(zip(reservations, runs, strict=True)):
                if run is not None and run[0] >= reservation.ceiling:
                    return index
            for reservation, run in zip(reservations, runs, strict=True):
                count = 1 if run is None else run[0] + 1
                self._failures[reservation.key] = (count, now, now + reservation.window)
            return None

    def get_failures(self, key: str, now: datetime) -> tuple[int, datetime] | None:
        with self._lock:
            return self._live_run(key, now)

    def release_attempts(self, uncount: Sequence[str], end: Sequence[str]) -> None:
        with self._lock:
            for key in uncount:
                run = self._failures.get(key)
                if run is not None and run[0] > 1:
                    self._failures[key] = (run[0] - 1, run[1], run[2])
                else:
                    self._failures.pop(key, None)
            for key in end:
                self._failures.pop(key, None)

    def get_or_create_secret_key(self, candidate: bytes) -> bytes:
        with self._lock:
            if self._secret_key is None:
                self._secret_key = candidate
            return self._secret_key

    def close(self) -> None:
        """Nothing to release."""

    def _live_run(self, key: str, now: datetime) -> tuple[int, datetime] | None:
        run = self._failures.get(key)
        return None if run is None or run[2] <= now else (run[0], run[1])

    def _replace_user(self, user_id: str, **changes: object) -> bool:
        user = self._users_by_id.get(user_id)
        if user is None:
            return False
        changed = replace(user, **changes)  # type: ignore[arg-type]
        self._users[user.username] = self._users_by_id[user_id] = changed
        return True

    def _delete_where(self, condition: Callable[[Session], bool]) -> int:
        doomed = [sid for sid, (_, session) in self._sessions.items() if condition(session)]
        for session_id in doomed:
            del self._sessions[session_id]
        return len(doomed)
