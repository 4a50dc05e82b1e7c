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
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
import threading
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

SLOTS = 4096
_COUNTER = struct.Struct("<Q")
_SIZE = _COUNTER.size * (1 + SLOTS)

Stamp = tuple[int, int]


@dataclass(frozen=True)
class _Mapping:
    fd: int
    memory: mmap.mmap


class Revocations:
    """The counters of one database, in ``path`` (created owner-only on first use).

    :raises OSError: from any method, if the file cannot be opened or mapped.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._mapping: _Mapping | None = None

    def __repr__(self) -> str:
        return f"<Revocations {self.path!r}>"

    def stamp(self, session_id: str) -> Stamp:
        """The global counter and the session's slot counter, as they are now."""
        memory = (self._mapping or self._open()).memory
        return (
            _COUNTER.unpack_from(memory, 0)[0],
            _COUNTER.unpack_from(memory, _offset(session_id))[0],
        )

    def bump(self, session_ids: Iterable[str]) -> None:
        """Mark these sessions changed, in every process."""
        self._bump_offsets({_offset(session_id) for session_id in session_ids})

    def bump_all(self) -> None:
        """Mark every session changed, in every process."""
        self._bump_offsets({0})

    def close(self) -> None:
        with self._lock:
            if self._mapping is not None:
                self._mapping.memory.close()
                os.close(self._mapping.fd)
                self._mapping = None

    def _bump_offsets(self, offsets: set[int]) -> None:
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
                    if os.fstat(fd).st_size < _SIZE:
                        os.ftruncate(fd, _SIZE)  # zeros; an existing file keeps its counts
                    self._mapping = _Mapping(fd, mmap.mmap(fd, _SIZE))
                except BaseException:
                    os.close(fd)
                    raise
            return self._mapping


def _offset(session_id: str) -> int:
    return _COUNTER.size * (1 + zlib.crc32(session_id.encode("utf-8", "replace")) % SLOTS)
