"""Why a store failed, in one line for the command line: its configuration, or an outage.

The stores raise :class:`~nullptr_auth.errors.StoreUnavailable` for every failure, since
a web request can only answer ``503`` either way. A person at the command line needs to
know more: a missing directory, a file that is not a database, a Redis database index
out of range or an unknown URL parameter will not go away by trying again later, while
a refused connection may. :func:`describe` tells the two apart by the driver's message.

psycopg_pool logs each failed connection attempt (a dozen lines before the one error);
:class:`PoolLog` keeps those records out of standard error and hands on the last one,
which names the real reason (the pool's own error only says it timed out).
"""

from __future__ import annotations

import logging
import re
from types import TracebackType

from .stores import Store

# Driver messages that mean the configuration is wrong, not that a server is away.
_CONFIGURATION = re.compile(
    "|".join(
        [
            r"No such file or directory",
            r"unable to open database file",
            r"file is not a database",
            r"Permission denied",
            r"readonly database",
            r"DB index is out of range",
            r"invalid (username-password pair|password)|WRONGPASS|NOAUTH",
            r"does not exist",  # PostgreSQL: role or database
            r"password authentication failed|no password supplied",
            r"invalid URI query parameter|invalid connection option|invalid dsn",
            r"unexpected keyword argument",
        ]
    ),
    re.IGNORECASE,
)
_UNKNOWN_PARAMETER = re.compile(r"unexpected keyword argument '([^']*)'")
_POOL_PREFIX = re.compile(r"^error connecting in '[^']*': (connection failed: )?")
_POOL_LOGGER = "psycopg.pool"


def describe(error: BaseException, store: Store, pool_reason: str | None = None) -> str:
    """One line saying what is wrong with ``store``, and whether waiting can help."""
    reason = _reason(error)
    if pool_reason and "couldn't get a connection" in reason:
        reason = pool_reason  # the pool timed out; its last log record says why
    unknown = _UNKNOWN_PARAMETER.search(reason)
    if unknown:
        return (
            f"the database URL has a parameter {store!r} does not know: {unknown[1]!r}; "
            "this is a configuration error: fix --database"
        )
    if _CONFIGURATION.search(reason):
        return (
            f"{store!r} cannot be used: {reason}; "
            "this is a configuration error: fix --database (or --sessions)"
        )
    return f"{store!r} cannot be reached: {reason}; is it running? Try again once it is"


def _reason(error: BaseException) -> str:
    """The innermost cause's message: the driver's own words, on one line."""
    while error.__cause__ is not None:
        error = error.__cause__
    return _one_line(str(error) or type(error).__name__)


def _one_line(text: str) -> str:
    return " ".join(text.split())


class PoolLog(logging.Handler):
    """Holds psycopg_pool's records while a command runs; :attr:`reason` is the last one.

    Use as a context manager: on exit the logger is as it was (``serve`` leaves it once
    the store has answered, so that later reconnection warnings reach the console).
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.reason: str | None = None
        self._logger = logging.getLogger(_POOL_LOGGER)
        self._propagate = self._logger.propagate

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.reason = _one_line(_POOL_PREFIX.sub("", record.getMessage()))

    def __enter__(self) -> PoolLog:
        self._logger.addHandler(self)
        self._logger.propagate = False
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.restore()

    def restore(self) -> None:
        """Let the pool's records reach the usual handlers again (safe to call twice)."""
        self._logger.removeHandler(self)
        self._logger.propagate = self._propagate
