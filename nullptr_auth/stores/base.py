"""The ``Store`` protocol: the one seam for keeping users, sessions and the signing key.

nullptr_auth ships ``memory://`` and ``sqlite:///path``; implement this protocol to keep
users and sessions anywhere else, and pass the object as ``database=``.

What every implementation owes:

* **Atomicity.** Each method is one atomic step: a concurrent reader sees all of it or
  none of it. ``add_user`` on a taken name and ``add_session`` never half-happen.
* **Visibility.** Once a method returns, the store object that made the change sees it:
  an ended session is refused on the very next request in that process. Every other
  store object on the same backend (other threads' and other processes') sees it on its
  very next request too (SQLite, ``memory://``, and Redis and PostgreSQL by default) or,
  for a store whose per-process session cache is kept by a server's notices (Redis,
  PostgreSQL with ``?cache=on``), within the propagation time while that channel is up (measured by
  ``benchmarks/_propagation.py``; on loopback a p99 of a few milliseconds). While the
  channel is down or behind, such a store serves nothing from its cache: it is exact.
  :meth:`find_session` is the only method a cache may answer; see ``_cache.py``.
* **Thread safety.** One store object is shared by every thread of a process.
* **Failure.** When the backend cannot be reached or fails, raise
  :class:`~nullptr_auth.errors.StoreUnavailable` (``raise ... from`` the driver's
  exception). Never answer ``None`` for "I could not ask": ``None`` means "does not exist".
* **Laziness.** Constructing a store does no I/O; connect on first use.

Optionally, a store that keeps sessions in memory also implements
:class:`CachingStore` (one method, ``cached_session``): it lets an ASGI server answer a
cached session on its event loop instead of a worker thread.

Times are timezone-aware UTC :class:`~datetime.datetime` objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple, Protocol, runtime_checkable

from ..models import Session, User, UserRecord


class Reservation(NamedTuple):
    """One attempt to count under ``key`` before it is checked, unless its run is full.

    The run under ``key`` lasts while attempts keep coming within ``window`` of the one
    before; the attempt is counted only while the live run holds fewer than ``ceiling``.
    """

    key: str
    window: timedelta
    ceiling: int


@runtime_checkable
class Store(Protocol):
    """Where users, sessions and the generated signing key live."""

    # -- users ------------------------------------------------------------------------
    def add_user(self, user: UserRecord) -> None:
        """Add a new user. :raises UsernameTaken: if the username exists already."""

    def get_user(self, username: str) -> UserRecord | None:
        """The user with this (lowercase) username, or ``None`` if there is none."""

    def list_users(self) -> list[UserRecord]:
        """Every user, ordered by username."""

    def set_password_hash(
        self, user_id: str, password_hash: str, *, end_sessions: bool, keep: str | None = None
    ) -> bool:
        """Replace a user's password hash; ``False`` if there is no such user.

        With ``end_sessions``, every session of the user but ``keep`` ends in the same
        atomic step: no session outlives the credentials it was opened with.
        """

    def set_disabled(self, user_id: str, disabled: bool) -> bool:
        """Disable or enable a user; ``False`` if there is no such user.

        Disabling ends every session of the user in the same atomic step.
        """

    def delete_user(self, user_id: str) -> bool:
        """Delete a user and all their sessions atomically; ``False`` if there is no such user."""

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
        """Keep a new session of ``user``.

        The store keeps the username beside the session, so that :meth:`find_session`
        needs no second lookup, and works when users live elsewhere.

        With ``verified_hash`` (the password hash a login just checked), the session is
        kept only if, in the same atomic step, the user still exists, is not disabled
        and still has that hash; otherwise raise
        :class:`~nullptr_auth.errors.CredentialsChanged` and keep nothing. So a login in
        flight never outlives a password change, a disable or a delete that finished
        first. ``None`` skips the check (users kept elsewhere).

        With a ``limit``, the user may hold at most that many sessions live at
        ``session.created_at`` (expired ones do not count), the new one included: with
        ``evict``, the least recently used sessions end to make room; without, raise
        :class:`~nullptr_auth.errors.TooManySessions` and keep nothing. Counting,
        evicting and adding are one atomic step, so concurrent logins never exceed it.
        """

    def find_session(self, session_id: str) -> tuple[User, Session] | None:
        """The session with this id and its user, or ``None``: the hot path, one lookup."""

    def list_sessions(self, user_id: str | None = None) -> list[Session]:
        """Sessions of one user (or of every user), oldest first.

        Expired sessions may be included (callers filter them) or omitted (a store
        whose entries expire by themselves).
        """

    def touch_session(
        self, session_id: str, last_seen_at: datetime, idle_expires_at: datetime | None
    ) -> None:
        """Record activity; a session that no longer exists is left alone."""

    def delete_session(self, session_id: str, user_id: str | None = None) -> bool:
        """End one session (only if it belongs to ``user_id``, when given); ``False`` if none."""

    def delete_sessions(self, user_id: str, *, keep: str | None = None) -> int:
        """End every session of a user but ``keep``; return how many ended."""

    def purge_sessions(self, now: datetime) -> int:
        """Delete every session whose deadline is at or before ``now``; return how many.

        Runs of failures that have ended by ``now`` are deleted too.
        """

    # -- throttling counters ----------------------------------------------------------
    def reserve_attempts(self, reservations: Sequence[Reservation], now: datetime) -> int | None:
        """Count one attempt under every key, all or none, in one atomic step.

        Each live run whose count is below its ``ceiling`` gains one and records ``now``
        as its last attempt and ``now + window`` as its end; a key without a live run
        starts one at 1. If any run is at or above its ceiling, nothing changes and the
        index of such a reservation is returned; ``None`` means all counted.
        Atomic across processes: of many concurrent callers, no more get through than
        the ceilings allow. A count may be kept less durably than a session.
        """

    def get_failures(self, key: str, now: datetime) -> tuple[int, datetime] | None:
        """The live run under ``key``: its count and its last attempt; ``None`` if none."""

    def release_attempts(self, uncount: Sequence[str], end: Sequence[str]) -> None:
        """In one step, take one attempt back from each run of ``uncount`` and end the
        runs of ``end``; keys without a run are left alone."""

    # -- the signing key --------------------------------------------------------------
    def get_or_create_secret_key(self, candidate: bytes) -> bytes:
        """The key kept in the store; keep ``candidate`` first if there is none yet.

        Atomic across processes: every caller gets the one key that won.
        """

    def close(self) -> None:
        """Release connections held by this object."""


@runtime_checkable
class CachingStore(Protocol):
    """The optional, non-blocking seam of a store that keeps sessions in memory.

    :mod:`nullptr_auth.asgi` calls it on the event loop, before it sends a request to a
    worker thread for :meth:`Store.find_session`; so it must never block: no I/O, no
    system call, no lock that I/O holds.
    """

    def cached_session(self, session_id: str) -> tuple[User, Session] | None:
        """What :meth:`Store.find_session` would answer, if memory alone can tell.

        ``None`` means "not known without I/O" (never "does not exist"): the caller
        then asks :meth:`Store.find_session` in a worker thread. A session answered
        here obeys the same visibility rule: an ended session is never answered.
        """
