"""Connections that reading threads keep out of their pool: the Redis and PostgreSQL stores'.

A read through a pool pays its checkout and return every time (docs/performance.md,
stop 18); a thread that keeps one connection for its reads pays a look-up. Kept
without bounds, connections would leave none for writes, and a thread that ended would
take its connection with it. So, one object per store:

- :meth:`Kept.mine` is this thread's kept connection, or ``None``: the read path.
- :meth:`Kept.keep` takes one for this thread, unless ``limit`` threads keep one
  already. Its place is taken *before* the (maybe slow) checkout, so that a burst of
  first reads never keeps more than the limit; the connections of threads that have
  ended are released first, to make room.
- In a forked child, the parent's connections are not its to use or release: they are
  forgotten, and the child keeps its own.

::

    kept = Kept()
    connection = kept.mine() or kept.keep(pool.checkout, limit=5, release=pool.give_back)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Kept(Generic[T]):
    """The connections this process's threads keep, one a thread at most."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_thread: dict[threading.Thread, T | None] = {}  # None: being taken
        self._pid = os.getpid()
        self._local = threading.local()

    def __len__(self) -> int:
        return len(self._by_thread)

    def mine(self) -> T | None:
        """This thread's kept connection, if it has one in this process."""
        kept: T | None = getattr(self._local, "kept", None)
        if kept is not None and self._local.pid == os.getpid():
            return kept
        return None

    def keep(
        self, take: Callable[[], T], *, limit: int, release: Callable[[T], object]
    ) -> T | None:
        """A connection from ``take``, kept for this thread; ``None`` (and nothing
        taken) when ``limit`` threads keep one. Connections of ended threads are given
        to ``release`` first. An error of ``take`` gives the place back."""
        with self._lock:
            if self._pid != os.getpid():  # a fork: the parent's, not to be touched
                self._by_thread, self._pid = {}, os.getpid()
            for thread in [thread for thread in self._by_thread if not thread.is_alive()]:
                ended = self._by_thread.pop(thread)
                if ended is not None:
                    release(ended)
            if len(self._by_thread) >= limit:
                return None
            self._by_thread[threading.current_thread()] = None  # the place, before the wait
        try:
            kept = take()
        except BaseException:
            with self._lock:
                self._by_thread.pop(threading.current_thread(), None)
            raise
        with self._lock:
            self._by_thread[threading.current_thread()] = kept
        self._local.kept, self._local.pid = kept, os.getpid()
        return kept

    def drop(self, kept: T) -> None:
        """This thread keeps ``kept`` no more (after an error); releasing it is the
        caller's."""
        self._local.kept = None
        with self._lock:
            if self._by_thread.get(threading.current_thread()) is kept:
                del self._by_thread[threading.current_thread()]

    def clear(self) -> list[T]:
        """Forget every kept connection (the store closes): the caller releases them."""
        with self._lock:
            kept, self._by_thread, self._local = self._by_thread, {}, threading.local()
        return [connection for connection in kept.values() if connection is not None]
