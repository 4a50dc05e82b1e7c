"""The audit log: who logged in, failed, logged out or was refused, and from where.

Records go to the ``nullptr_auth.audit`` logger at INFO, one per event. The message is
a JSON object on one line (every non-ASCII and control character escaped, so a newline
in a username cannot forge a record), and the same fields are on the record as
``record.audit`` for handlers that ship structured logs::

    {"time": "2026-11-28T21:05:09Z", "event": "login.failed", "reason": "wrong-password",
     "username": "alice", "session_id": null, "ip": "203.0.113.5", "user_agent": "curl/8"}

Events: ``login.succeeded``, ``login.failed`` (``unknown-user``, ``wrong-password``,
``disabled``, ``throttled``), ``logout``, ``session.ended`` (``by`` another session of
the user, the command line, a password change, a limit), ``session.rejected`` (the
reasons of :class:`~nullptr_auth.errors.InvalidSession`), ``user.registered``,
``user.created``, ``user.deleted``, ``user.disabled``, ``user.enabled``,
``password.changed``. A password, a token or a hash is never recorded.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timezone

logger = logging.getLogger("nullptr_auth.audit")
MAX_FIELD = 256


class Audit:
    """Writes audit records stamped by a clock.

    :param clock: returns the current UTC time.
    """

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock

    def __repr__(self) -> str:
        return f"<Audit to {logger.name}>"

    def record(self, event: str, **fields: str | int | None) -> None:
        """Log one event; ``username``, ``session_id``, ``ip`` and ``user_agent`` are
        always present (``null`` when unknown), other fields as given."""
        if not logger.isEnabledFor(logging.INFO):
            return
        record: dict[str, str | int | None] = {
            "time": utc_iso(self._clock()),
            "event": event,
        }
        for name in ("username", "session_id", "ip", "user_agent"):
            record[name] = _bounded(fields.pop(name, None))
        record.update((name, _bounded(value)) for name, value in fields.items())
        logger.info(json.dumps(record, ensure_ascii=True), extra={"audit": record})


def utc_iso(moment: datetime) -> str:
    """The one spelling of a time in what nullptr_auth writes: ISO 8601, UTC, seconds, Z."""
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _bounded(value: str | int | None) -> str | int | None:
    """Client-given text, cut to a length that keeps one record one line of sane size."""
    return value[:MAX_FIELD] if isinstance(value, str) else value
