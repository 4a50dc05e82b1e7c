"""Change counters in shared memory: how processes on one machine learn that a cached
session went stale, without a system call per request.

A small file beside the SQLite database holds one global counter and 4,096 slot
counters, memory-mapped by every process that opens the store. A session belongs to the
slot its id hashes to. Whoever changes a session (ends it, records its activity) bumps
its slot *after* the change is committed; whoever ends many sessions at once bumps the
global counter. A reader notes the two counters *before* it reads a session from the
database and may serve that copy from its cache only while both are unchanged. Reading
them is two loads from mapped memory.

Bumps take an advisory lock on the file, so concurrent bumps from several processes
never lose one. The counters only ever grow, so a torn read can only look like a change
(a needless refetch), never like no change after one.

The counters are only worth anything while every process maps the *same* file. The
file is allocated for real before it is mapped (``posix_fallocate``): a sparse file on a
full disk would kill the process with ``SIGBUS`` at the first touch of a page. And a
process checks that the file it maps is still the one at the path (same device and
inode) at most once a second and whenever the caller asks (on every cache miss): a
file deleted and re-created under running processes, or one process opening the
database through another path, would otherwise split the processes into groups that
never see each other's changes. A stamp names the mapping it was read from, so a
remapped file never matches a stamp taken before; when no file can be mapped at all,
:meth:`Revocations.stamp` answers ``None`` and the caller reads the database instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import struct
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

SLOTS = 4096
_COUNTER = struct.Struct("<Q")
_SIZE = _COUNTER.size * (1 + SLOTS)
CHECK_SECONDS = 1.0

Stamp = tuple[int, int, int]
"""The mapping's number in this process, the global counter, the slot's counter."""


@dataclass(frozen=True)
class _Mapping:
    fd: int
    memory: mmap.mmap
    identity: tuple[int, int]
    number: int


class Revocations:
    """The counters of one database, in ``path`` (created owner-only on first use).

    :raises OSError: from :meth:`bump` and :meth:`bump_all`, if the file cannot be
        opened, allocated or mapped (a full disk, a read-only one).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._mapping: _Mapping | None = None
        self._mappings = 0
        self._next_check = 0.0

    def __repr__(self) -> str:
        return f"<Revocations {self.path!r}>"

    def stamp(self, session_id: str, *, check: bool = False) -> Stamp | None:
        """The counters of a session as they are now; ``None`` if they cannot be trusted.

        ``check`` makes sure now, not only once a second, that the mapped file is the
        one at the path.
        """
        try:
            if check or time.monotonic() >= self._next_check:
                self._check()
            mapping = self._mapping or self._open()
            return (
                mapping.number,
                _COUNTER.unpack_from(mapping.memory, 0)[0],
                _COUNTER.unpack_from(mapping.memory, _offset(session_id))[0],
            )
        except (OSError, ValueError):  # ValueError: another thread just unmapped it
            return None

    def bump(self, session_ids: Iterable[str]) -> None:
        """Mark these sessions changed, in every process."""
        self._bump_offsets({_offset(session_id) for session_id in session_ids})

    def bump_all(self) -> None:
        """Mark every session changed, in every process."""
        self._bump_offsets({0})

    def close(self) -> None:
        with self._lock:
            self._unmap()

    def _check(self) -> None:
        """Drop the mapping if the file at the path is another one, or gone."""
        self._next_check = time.monotonic() + CHECK_SECONDS
        mapping = self._mapping
        if mapping is None:
            return
        try:
            found = os.stat(self.path)
            same = (found.st_dev, found.st_ino) == mapping.identity
        except FileNotFoundError:
            same = False
        if not same:
            with self._lock:
                if self._mapping is mapping:
                    self._unmap()

    def _unmap(self) -> None:
        if self._mapping is not None:
            with contextlib.suppress(BufferError):  # a reader holds it: the GC closes it
                self._mapping.memory.close()
            os.close(self._mapping.fd)
            self._mapping = None

    def _bump_offsets(self, offsets: set[int]) -> None:
        """Bump into the file at the path now: changes are rare, a ``stat`` is cheap."""
        self._check()
        mapping = self._mapping or self._open()
        fcntl.flock(mapping.fd, fcntl.LOCK_EX)
        try:
            for offset in offsets:
                count = _COUNTER.unpack_from(mapping.memory, offset)[0]
                _COUNTER.pack_into(mapping.memory, offset, count + 1)
        finally:
            fcntl.flock(mapping.fd, fcntl.LOCK_UN)

    def _open(self) -> _Mapping:
        with self._lock:
            if self._mapping is None:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    # Blocks for real, zeros where new; an existing file keeps its counts.
                    os.posix_fallocate(fd, 0, _SIZE)
                    found = os.fstat(fd)
                    self._mappings += 1
                    self._mapping = _Mapping(
                        fd,
                        mmap.mmap(fd, _SIZE),
                        (found.st_dev, found.st_ino),
                        self._mappings,
                    )
                except BaseException:
                    os.close(fd)
                    raise
            return self._mapping


def _offset(session_id: str) -> int:
    return _COUNTER.size * (1 + zlib.crc32(session_id.encode("utf-8", "replace")) % SLOTS)
