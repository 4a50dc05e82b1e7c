"""Password hashing with argon2id, and the password rules.

The default parameters are OWASP's minimum for argon2id (19 MiB, t=2, p=1): about a
quarter of the time and a third of the memory of argon2-cffi's RFC 9106 low-memory
profile per login, which keeps concurrent logins affordable while meeting ASVS. Raise
them by passing your own :class:`argon2.PasswordHasher`; stored hashes made with other
parameters are re-hashed on the next successful login.

An unknown username is verified against a dummy hash made with the same parameters, so
it costs as much time as a wrong password and timing does not reveal which names exist.

Hashes run on a fixed set of threads, one per slot, not on the request's own thread:
glibc gives each thread that allocates its own memory arena and keeps argon2's 19 MiB
buffer in it, so hashing on every request thread of a threaded server would grow the
process by 19 MiB per thread (seen: 50 MB to 330 MB in ten seconds of logins). Even
on fixed threads, glibc raises its mmap and trim thresholds after the first 19 MiB block
is freed, and then keeps up to twice that in each arena; so after each hash the thread
hands free memory back (``malloc_trim``, about 40 us, where the C library has it). With
both, resident memory stays near base + slots x 19 MiB.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from .errors import IncorrectPassword, InvalidPassword, Overloaded

T = TypeVar("T")
DEFAULT_QUEUE_TIMEOUT = 5.0
MIN_PASSWORD_LENGTH = 9
DEFAULT_MAX_PASSWORD_LENGTH = 1024


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or ``None`` where the C library has none (macOS, musl)."""
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


_MALLOC_TRIM = _malloc_trim()


OWASP_MIN_MEMORY_TIME = 7 * 1024 * 5
"""The least memory_cost * time_cost among OWASP's argon2id configurations (7 MiB, t=5)."""


def weakness(hasher: argon2.PasswordHasher) -> str | None:
    """Why ``hasher`` is below OWASP's minimum for argon2id, or ``None`` if it is not."""
    if hasher.type is not argon2.Type.ID:
        return f"password_hasher must use argon2id, not {hasher.type.name}"
    if hasher.memory_cost * hasher.time_cost < OWASP_MIN_MEMORY_TIME:
        return (
            "password_hasher is below OWASP's minimum for argon2id (e.g. 19 MiB with "
            "time_cost=2); pass allow_weak_hashing_for_tests=True only in tests"
        )
    return None


def default_hasher() -> argon2.PasswordHasher:
    return argon2.PasswordHasher(
        time_cost=2,
        memory_cost=19 * 1024,
        parallelism=1,
        hash_len=32,
        salt_len=16,
        type=argon2.Type.ID,
    )


class FileBlocklist:
    """Passwords listed one per line in a file (compared case-insensitively).

    The file is read on first use, not when the middleware is built.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._passwords: frozenset[str] | None = None

    def __repr__(self) -> str:
        return f"<FileBlocklist {self.path!r}>"

    def __call__(self, password: str) -> bool:
        if self._passwords is None:
            with open(self.path, encoding="utf-8") as lines:
                self._passwords = frozenset(line.rstrip("\r\n").lower() for line in lines)
        return password.lower() in self._passwords


Blocklist = Callable[[str], bool]


class Passwords:
    """Hashes and verifies passwords; enforces the rules on new passwords.

    The rules are NIST SP 800-63B's: more than 8 characters, a bounded maximum, no
    composition rules, and optionally a list of passwords too common to allow.

    :param hasher: the argon2 hasher; argon2id with OWASP's minimum by default.
    :param max_length: the longest password accepted, in characters.
    :param blocklist: returns ``True`` for a password too common to allow; a path to a
        file of such passwords, one per line; or ``None`` for no list.
    :param max_concurrent: how many hashes this process computes at once (default: one
        per CPU); argon2 is built to exhaust CPU and memory, so more only queue.
    :param queue_timeout: seconds a hash waits for a slot before
        :class:`~nullptr_auth.errors.Overloaded` is raised.
    """

    def __init__(
        self,
        hasher: argon2.PasswordHasher | None = None,
        *,
        max_length: int = DEFAULT_MAX_PASSWORD_LENGTH,
        blocklist: Blocklist | str | os.PathLike[str] | None = None,
        max_concurrent: int | None = None,
        queue_timeout: float = DEFAULT_QUEUE_TIMEOUT,
    ) -> None:
        self._hasher = hasher or default_hasher()
        self._slot_count = max_concurrent or os.cpu_count() or 2
        self._slots = threading.BoundedSemaphore(self._slot_count)
        self._threads: tuple[int, ThreadPoolExecutor] | None = None  # (pid, executor)
        self._threads_lock = threading.Lock()
        self._queue_timeout = queue_timeout
        self.max_length = max_length
        self._blocklist = (
            FileBlocklist(blocklist) if isinstance(blocklist, (str, os.PathLike)) else blocklist
        )
        self._dummy_hash: str | None = None

    def __repr__(self) -> str:
        hasher = self._hasher
        return f"<Passwords {hasher.type.name} t={hasher.time_cost} m={hasher.memory_cost}>"

    def check_rules(self, password: str) -> None:
        """:raises InvalidPassword: if ``password`` is too short or too long."""
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidPassword()
        if len(password) > self.max_length:
            raise InvalidPassword(
                f"The password is too long: it may have at most {self.max_length} characters."
            )
        if self._blocklist is not None and self._blocklist(password):
            raise InvalidPassword("This password is too common; choose another.")

    def hash(self, password: str) -> str:
        """The argon2id hash of a new password, after the rules are checked."""
        self.check_rules(password)
        with self._slot():
            return self._on_hashing_thread(self._hasher.hash, password)

    def verify(self, password_hash: str, password: str) -> str | None:
        """Check ``password``; return a fresh hash if the stored one should be replaced.

        :raises IncorrectPassword: if the password does not match.
        """
        if len(password) > self.max_length:
            raise IncorrectPassword()  # no stored password can be this long
        with self._slot():
            return self._on_hashing_thread(self._verify, password_hash, password)

    def _verify(self, password_hash: str, password: str) -> str | None:
        try:
            self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError) as exc:
            raise IncorrectPassword() from exc
        if self._hasher.check_needs_rehash(password_hash):
            return self._hasher.hash(password)
        return None

    def waste_time(self, password: str) -> None:
        """Spend what :meth:`verify` would, for a user who does not exist."""
        if len(password) > self.max_length:
            return
        with self._slot():
            self._on_hashing_thread(self._waste_time, password)

    def _waste_time(self, password: str) -> None:
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash("nullptr_auth dummy password")
        with contextlib.suppress(VerificationError):
            self._hasher.verify(self._dummy_hash, password)

    def _on_hashing_thread(self, work: Callable[..., T], *args: str) -> T:
        """Run ``work`` on one of the hashing threads (the caller holds a slot, so one
        is free) and wait for it; its exception is raised here."""
        with self._threads_lock:
            if self._threads is None or self._threads[0] != os.getpid():
                # A forked child inherits the executor but not its threads: a new one.
                executor = ThreadPoolExecutor(self._slot_count, "nullptr_auth hashing")
                self._threads = os.getpid(), executor
            executor = self._threads[1]
        return executor.submit(_and_trim, work, *args).result()

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        """Hold one of the hashing slots. :raises Overloaded: if none frees up in time."""
        if not self._slots.acquire(timeout=self._queue_timeout):
            raise Overloaded()
        try:
            yield
        finally:
            self._slots.release()


def _and_trim(work: Callable[..., T], *args: str) -> T:
    """``work``, then the freed argon2 buffer goes back to the system."""
    try:
        return work(*args)
    finally:
        if _MALLOC_TRIM is not None:
            _MALLOC_TRIM(0)
