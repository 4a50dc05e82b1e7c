"""Server-assisted invalidation: a connection of its own per process that hears of every
change to a session, and the :class:`~nullptr_auth.stores._cache.Channel` it makes.

Redis pushes invalidations itself (``CLIENT TRACKING ON BCAST PREFIX <prefix>session:``
over RESP3: every write to a session's key, by anyone, a Lua script included, is pushed
to every listening process). PostgreSQL is told: every change that ends or changes a
session sends ``NOTIFY <prefix>sessions, '<ids>'`` in the transaction that makes it, so
the notice goes out when, and only if, the change commits.

Fail closed. The listener's thread runs a heartbeat (a ``PING``, a ``SELECT 1``) every
:data:`HEARTBEAT` seconds on the same connection: its answer comes after every
invalidation of a change made before it was sent, so once it is back the channel is
known to be *caught up* to the moment it was sent. :meth:`Tracking.stamp` answers
``None`` (serve nothing, keep nothing) while the connection is down, while it
resubscribes, and whenever the last answered heartbeat was sent more than
:data:`MAX_LAG` seconds ago (a server or network that stopped answering without
closing the connection). Every reconnection starts a new numbering of stamps, so no
entry read before it is ever served after it.

The process that makes a change bumps its own counters after the change commits
(:meth:`Tracking.changed`): it refuses the session at once, without waiting for its
own notice. Other processes refuse it when their listener hears of it: the
propagation time ``benchmarks/_propagation.py`` measures.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from ._cache import SLOTS, Slots

HEARTBEAT = 0.25
MAX_LAG = 1.0
MAX_AGE = 300.0
"""Seconds a cache entry kept exact by a channel lives at most (the heartbeat, not age,
is what bounds a silent failure)."""
_BACKOFF = (0.05, 0.1, 0.2, 0.5, 1.0)
logger = logging.getLogger(__name__)

Stamp = tuple[int, int, int]


class Tracking:
    """A listener thread (started on first use, again after a fork) and its counters.

    :param listen: connects, subscribes, and then calls ``heard`` with each batch of
        session ids changed (``None``: maybe all) and ``caught_up`` with the send time
        of each answered heartbeat, until the connection fails (it raises) or
        ``stopping()`` is true. It calls ``subscribed()`` once subscribed.
    :param name: the thread's name.
    """

    def __init__(self, listen: Callable[[Tracking], None], name: str) -> None:
        self._listen = listen
        self.name = name
        self.slots = Slots()
        self._number = 0
        self._live = False
        self._caught_up_until = 0.0
        self._running = False  # in this process: a forked child starts its own thread
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.disconnect: Callable[[], None] | None = None
        self._subscribed_in_run = False

    def __repr__(self) -> str:
        return f"<Tracking {self.name!r} {'live' if self._live else 'down'}>"

    # -- the channel -------------------------------------------------------------------
    def stamp(self, session_id: str, *, check: bool = False) -> Stamp | None:
        """``None`` unless the listener is subscribed and caught up within MAX_LAG."""
        if not self._running:
            self._start()
            return None
        if not self._live or time.monotonic() > self._caught_up_until:
            return None
        slots = self.slots
        # slot(session_id), written out: this runs on every cache hit
        return self._number, slots.everything, slots.counts[hash(session_id) % SLOTS]

    @property
    def live(self) -> bool:
        return self._live and time.monotonic() <= self._caught_up_until

    def changed(self, session_ids: Iterable[str]) -> None:
        """This process changed these sessions (call after the change committed)."""
        self.slots.bump(list(session_ids))

    def changed_all(self) -> None:
        self.slots.bump_all()

    def close(self) -> None:
        self._stopped.set()
        self._down()
        disconnect = self.disconnect
        if disconnect is not None:
            try:
                disconnect()
            except Exception:
                logger.debug("closing the %s connection", self.name, exc_info=True)

    # -- what the listen function calls --------------------------------------------------
    def subscribed(self) -> None:
        self._subscribed_in_run = True
        self._number += 1
        self.slots.bump_all()
        self._caught_up_until = time.monotonic() + MAX_LAG
        self._live = True

    def heard(self, session_ids: list[str] | None) -> None:
        if session_ids is None:
            self.slots.bump_all()
        else:
            self.slots.bump(session_ids)

    def caught_up(self, sent_at: float) -> None:
        self._caught_up_until = max(self._caught_up_until, sent_at + MAX_LAG)

    def stopping(self) -> bool:
        return self._stopped.is_set()

    # -- the thread ----------------------------------------------------------------------
    def _start(self) -> None:
        with self._lock:
            if self._running:
                return
            _TRACKINGS.add(self)
            self._running = True
            self._live = False
            self._stopped = threading.Event()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def _forked(self) -> None:
        """In a new child process: no listener runs here yet, and nothing the parent
        heard vouches for this process's cache (its entries were copied with it)."""
        self._lock = threading.Lock()  # another thread may have held it at the fork
        self._running = False
        self._down()

    def _down(self) -> None:
        self._live = False
        self._number += 1
        self.slots.bump_all()

    def _run(self) -> None:
        failures = 0
        while not self._stopped.is_set():
            self._subscribed_in_run = False
            try:
                self._listen(self)
            except Exception as exc:
                if not self._stopped.is_set():
                    logger.warning(
                        "%s lost (%s): the session cache is off until it is back", self.name, exc
                    )
            self._down()
            delay = _BACKOFF[min(failures, len(_BACKOFF) - 1)]
            failures = 0 if self._subscribed_in_run else failures + 1
            self._stopped.wait(delay)


_TRACKINGS: weakref.WeakSet[Tracking] = weakref.WeakSet()
"""Every started :class:`Tracking`, told when the process forks: one hook for them all
instead of a system call (``getpid``) on every cache hit."""


def _after_fork_in_child() -> None:
    for tracking in list(_TRACKINGS):
        tracking._forked()


os.register_at_fork(after_in_child=_after_fork_in_child)


def redis_listener(connect: Callable[[], Any], prefix: str) -> Callable[[Tracking], None]:
    """The listen function for Redis: ``connect()`` makes a new, unconnected redis-py
    connection speaking RESP3."""
    session_prefix = f"{prefix}session:".encode()

    def listen(tracking: Tracking) -> None:
        connection = connect()
        tracking.disconnect = connection.disconnect
        try:
            connection.connect()

            def pushed(message: list[Any]) -> str:
                keys = message[1] if len(message) > 1 else None
                if keys is None:
                    tracking.heard(None)
                else:
                    tracking.heard(
                        [
                            key[len(session_prefix) :].decode("utf-8", "replace")
                            for key in keys
                            if key.startswith(session_prefix)
                        ]
                    )
                return "pushed"

            # redis-py's own client-side cache sets its handler the same way.
            connection._parser.set_invalidation_push_handler(pushed)
            connection.send_command("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", session_prefix)
            if connection.read_response() not in (b"OK", "OK"):
                raise RuntimeError("CLIENT TRACKING was refused")
            tracking.subscribed()
            sent: deque[float] = deque()
            next_beat = 0.0
            while not tracking.stopping():
                now = time.monotonic()
                if now >= next_beat:
                    connection.send_command("PING")
                    sent.append(now)
                    next_beat = now + HEARTBEAT
                if connection.can_read(timeout=max(0.0, next_beat - time.monotonic())):
                    reply = connection.read_response(push_request=True)
                    if reply in (b"PONG", "PONG") and sent:
                        tracking.caught_up(sent.popleft())
        finally:
            connection.disconnect()

    return listen


def postgres_listener(connect: Callable[[], Any], channel: str) -> Callable[[Tracking], None]:
    """The listen function for PostgreSQL: ``connect()`` opens an autocommit connection."""

    def listen(tracking: Tracking) -> None:
        from psycopg import sql

        connection = connect()
        tracking.disconnect = connection.close
        try:
            connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            tracking.subscribed()
            while not tracking.stopping():
                for notice in connection.notifies(timeout=HEARTBEAT):
                    _heard_postgres(tracking, notice.payload)
                sent = time.monotonic()
                connection.execute("SELECT 1")
                # Notices that came with the answer are kept for notifies(): hear them
                # before saying the channel is caught up.
                for notice in connection.notifies(timeout=0):
                    _heard_postgres(tracking, notice.payload)
                tracking.caught_up(sent)
        finally:
            connection.close()

    return listen


def _heard_postgres(tracking: Tracking, payload: str) -> None:
    tracking.heard(None if payload == "*" else payload.split())
