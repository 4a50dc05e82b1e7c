"""One per-process cache of sessions for every store, kept exact by what invalidates it.

Authentication reads a session on every request. A store that keeps its sessions on
another machine pays a network round trip for each read, and even SQLite pays a GIL
hand-off; so each store object keeps the sessions it has read here, least recently
used first out, within a budget of bytes (:data:`DEFAULT_MEGABYTES` by default, about
68,000 sessions: nearly twice the 35,061 sessions a Zipf(1.1) mix over 100,000 draws in
300,000 requests).

What keeps an entry exact is a :class:`Channel`, one per store: whoever changes a
session tells the channel, and the channel answers a *stamp* for a session id, a value
that changes whenever the session may have changed since. An entry is served only while
the stamp taken *before* its read from the store is still the stamp now. The stores'
channels:

* SQLite: change counters in a memory-mapped file every process maps
  (``_revocations.py``).
* Redis: a connection of its own with ``CLIENT TRACKING`` (RESP3, broadcast mode) on the
  sessions' keys; every write to one is pushed to every process (``_tracking.py``).
* PostgreSQL: a connection of its own that ``LISTEN``\\ s; every change that ends or
  changes a session sends ``NOTIFY`` in its own transaction (``_tracking.py``).

A channel that cannot vouch for its stamps (its connection is down, reconnecting, or has
not answered a heartbeat lately) answers ``None``: then nothing is served from the cache,
and what is read is not kept. That is what "fail closed" means here.

:meth:`SessionCache.peek` answers from memory alone, without I/O or waiting for a lock,
so that an asynchronous server can answer a hit inline and send only misses to a thread.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Final, NamedTuple, Protocol, overload

from .._counters import counted
from ..models import Session, User, session_from_fields

DEFAULT_MEGABYTES = 64
MAX_AGE = 5.0
"""Seconds an entry lives at most, whatever its channel says: a bound for the unforeseen."""
SLOTS = 4096
ENTRY_BYTES = 965
"""What one entry weighs beyond the characters of its three variable strings, measured
with ``tracemalloc`` over 20,000 sessions of one user read into a SQLite store's cache
(the entry's tuples, the session's four datetimes and two id strings, the token hash,
the stamp, the ordered-dict node): 988 bytes a session, 24 of them the characters of
its user agent, address and device label."""

Found = tuple[User, Session]
_Moment = datetime | None
_Fields = tuple[str, str, datetime, datetime, _Moment, _Moment, str, str, str, bytes, _Moment]
_Entry = tuple[Hashable, float, str, str, _Fields, int]
"""A kept session: its stamp, when it stops being fresh, its user's id and username, the
fields of its ``Session`` in order (``ends_at`` last), and the bytes it is charged (at
``_WEIGHT``)."""
_WEIGHT: Final = 5


def megabytes_from(
    cache: str | None,
    cache_mb: str | None,
    given: float | None,
    *,
    default: float = DEFAULT_MEGABYTES,
) -> float:
    """The cache budget from a URL's ``?cache=on|off`` / ``?cache_mb=N`` or an argument.

    ``default`` is the budget when neither says: the Redis and PostgreSQL stores pass
    ``0``, so their caches (exact only within the propagation time) are opt-in.

    :raises ValueError: for another ``cache`` value or a budget that is not a number >= 0.
    """
    if given is not None:
        budget = given
    elif cache not in (None, "on", "off"):
        raise ValueError(f"cache={cache!r}: use cache=on or cache=off")
    elif cache == "off":
        budget = 0.0
    else:
        try:
            if cache_mb is not None:
                budget = float(cache_mb)
            else:
                budget = DEFAULT_MEGABYTES if cache == "on" else default
        except ValueError:
            budget = -1.0
    if not 0 <= budget < float("inf"):
        raise ValueError(f"the cache budget must be a number of megabytes >= 0, not {budget!r}")
    return budget


class CacheStats(NamedTuple):
    """What a store's ``cache_stats()`` answers: lookups served from the cache
    (``hits``) and read from the store while the cache was on (``misses``) since the
    store was built, and what it holds now."""

    hits: int
    misses: int
    entries: int
    bytes: int


class _Miss:
    def __repr__(self) -> str:
        return "MISS"


MISS: Final = _Miss()
"""What :meth:`SessionCache.peek` answers when only the store can tell."""


class Channel(Protocol):
    """What tells a cache that a session may have changed."""

    def stamp(self, session_id: str, *, check: bool = False) -> Hashable | None:
        """A value that changes whenever the session may have; ``None`` if the channel
        cannot vouch for its values now. ``check``: make sure the channel is sound now
        (a miss may afford a system call; a hit may not)."""


class Slots:
    """Change counters in this process, bumped by a channel's listener: a channel's
    stamp is its connection's number, a global counter and the session's slot's."""

    def __init__(self) -> None:
        self.counts = [0] * SLOTS
        self.everything = 0

    def bump(self, session_ids: list[str]) -> None:
        counts = self.counts
        for session_id in session_ids:
            counts[slot(session_id)] += 1

    def bump_all(self) -> None:
        self.everything += 1


def slot(session_id: str) -> int:
    """A session's slot: its string's own hash, which Python keeps with the string once
    computed (the session id a hit looks up is the signer's memo's), and which every
    thread of this process computes alike; the counters are this process's alone."""
    return hash(session_id) % SLOTS


class SessionCache:
    """Sessions this process has read, served while ``channel`` says they hold.

    :param channel: what invalidates entries.
    :param megabytes: the budget; ``0`` turns the cache off (every lookup reads).
    :param max_age: seconds an entry is served at most.
    :param clock: a monotonic clock.
    """

    def __init__(
        self,
        channel: Channel,
        *,
        megabytes: float = DEFAULT_MEGABYTES,
        max_age: float = MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.channel = channel
        self.budget = int(megabytes * 1024 * 1024)
        self.max_age = max_age
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._users: dict[str, User] = {}  # by id: a user's sessions share one object
        # next() on a count is one atomic step in C: no lock on the hot path
        self._hits = itertools.count()
        self._misses = itertools.count()

    def __repr__(self) -> str:
        return f"<SessionCache {len(self._entries)} entries, {self._bytes:,} of {self.budget:,} B>"

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        """Bytes the entries are estimated to weigh."""
        return self._bytes

    def stats(self) -> CacheStats | None:
        """Hits, misses, entries and bytes, read now; ``None`` when the cache is off."""
        if not self.budget:
            return None
        hits, misses = counted(self._hits), counted(self._misses)
        return CacheStats(hits, misses, len(self._entries), self._bytes)

    def peek(self, session_id: str) -> Found | _Miss:
        """The cached session, if it certainly holds now; else :data:`MISS`. No I/O and
        no lock: safe to call on an event loop."""
        return self.get(session_id, None)

    @overload
    def get(self, session_id: str, read: Callable[[str], Found | None]) -> Found | None: ...
    @overload
    def get(self, session_id: str, read: None) -> Found | _Miss: ...
    def get(
        self, session_id: str, read: Callable[[str], Found | None] | None
    ) -> Found | _Miss | None:
        """The session from the cache, or from ``read(session_id)`` (and then kept, if it
        may be); with ``read`` ``None``, :data:`MISS` when only the store can tell. A
        method, not a closure made for every lookup; the hit is written out here, in the
        one frame every lookup takes. With the cache off, the read at once: nothing to
        look at first."""
        if not self.budget:
            return MISS if read is None else read(session_id)
        entry = self._entries.get(session_id)
        if (
            entry is not None
            and self._clock() < entry[1]
            and self.channel.stamp(session_id) == entry[0]
        ):
            try:  # noqa: SIM105 - suppress() costs 0.6 µs, on every hit
                self._entries.move_to_end(session_id)
            except KeyError:  # another thread evicted it: the copy held is still exact
                pass
            next(self._hits)
            _, _, user_id, username, fields, _ = entry
            user = self._users.get(user_id)
            if user is None or user.username != username:
                user = User(user_id, username)
            return user, session_from_fields(fields)
        if read is None:
            return MISS
        next(self._misses)
        stamp = self.channel.stamp(session_id, check=True)  # before the read: see above
        fresh = read(session_id)
        if fresh is None:
            self.discard(session_id)
        elif stamp is None:
            self.clear()
        else:
            self._keep(session_id, stamp, fresh)
        return fresh

    def discard(self, session_id: str) -> None:
        with self._lock:
            entry = self._entries.pop(session_id, None)
            if entry is not None:
                self._bytes -= entry[_WEIGHT]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._users.clear()
            self._bytes = 0

    def _keep(self, session_id: str, stamp: Hashable, found: Found) -> None:
        """Keep ``found`` as plain values, none of which the garbage collector tracks
        (strings, bytes, numbers, datetimes, and exact tuples of them): a full
        cache holds some 68,000 sessions, and as objects they made every full collection
        walk them all, on and on while the cache takes new entries (docs/performance.md,
        stop 18). A hit builds the ``Session`` again, and shares the ``User``."""
        user, session = found
        fields: _Fields = tuple(session)  # type: ignore[assignment]
        with self._lock:
            user = self._users.setdefault(user.id, user)
            weight = weight_of(found)
            old = self._entries.pop(session_id, None)
            if old is not None:
                self._bytes -= old[_WEIGHT]
            fresh_until = self._clock() + self.max_age
            self._entries[session.id] = (
                stamp,
                fresh_until,
                user.id,
                user.username,
                fields,
                weight,
            )
            self._bytes += weight
            while self._bytes > self.budget and self._entries:
                self._bytes -= self._entries.popitem(last=False)[1][_WEIGHT]
            if len(self._users) > len(self._entries) + 1024:  # users no entry holds
                self._users.clear()


def weight_of(found: Found) -> int:
    """The bytes an entry is charged: the fixed part and its strings a user's others
    do not share."""
    session = found[1]
    return ENTRY_BYTES + len(session.user_agent) + len(session.ip) + len(session.device)
