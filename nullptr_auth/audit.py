"""The audit log: who logged in, failed, logged out or was refused, and from where.

Records go to the ``nullptr_auth.audit`` logger at INFO, one per event. The message is
a JSON object on one line (every non-ASCII and control character escaped, so a newline
in a username cannot forge a record), and the same fields are on the record as
``record.audit`` for handlers that ship structured logs::

    {"time": "2026-11-28T21:05:09Z", "event": "login.failed", "username": "alice",
     "user_id": null, "session_id": null, "ip": "203.0.113.5", "user_agent": "curl/8",
     "reason": "wrong-password"}

Events: ``login.succeeded``, ``login.failed`` (``unknown-user``, ``wrong-password``,
``disabled``, ``throttled``), ``logout``, ``session.ended`` (``by`` another session of
the user, the command line, a password change, a limit), ``session.rejected`` (the
reasons of :class:`~nullptr_auth.errors.InvalidSession`), ``user.registered``,
``user.created``, ``user.deleted``, ``user.disabled``, ``user.enabled``,
``password.changed``. A password, a token or a hash is never recorded. The same
records reach the ``on_event`` hooks as :class:`~nullptr_auth.events.Event` objects
(:mod:`nullptr_auth.events`), whether or not the logger is enabled.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timezone

from .events import FIELDS, EventHook, dispatch, event_from_record

logger = logging.getLogger("nullptr_auth.audit")
MAX_FIELD = 256


class Audit:
    """Writes audit records stamped by a clock, and hands each to the event hooks.

    :param clock: returns the current UTC time.
    :param hooks: called with an :class:`~nullptr_auth.events.Event` per record.
    """

    def __init__(self, clock: Callable[[], datetime], hooks: tuple[EventHook, ...] = ()) -> None:
        self._clock = clock
        self.hooks = hooks

    def __repr__(self) -> str:
        return f"<Audit to {logger.name}>"

    def record(self, event: str, **fields: str | int | None) -> None:
        """Log one event; ``username``, ``user_id``, ``session_id``, ``ip`` and
        ``user_agent`` are always present (``null`` when unknown), other fields as given.
        The hooks get the same fields, bounded the same way."""
        logging_it = logger.isEnabledFor(logging.INFO)
        if not logging_it and not self.hooks:
            return
        moment = self._clock()
        record: dict[str, str | int | None] = {"time": utc_iso(moment), "event": event}
        for name in FIELDS:
            record[name] = _bounded(fields.pop(name, None))
        record.update((name, _bounded(value)) for name, value in fields.items())
        if logging_it:
            logger.info(json.dumps(record, ensure_ascii=True), extra={"audit": record})
        if self.hooks:
            dispatch(self.hooks, event_from_record(moment, record))


def utc_iso(moment: datetime) -> str:
    """The one spelling of a time in what nullptr_auth writes: ISO 8601, UTC, seconds, Z."""
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _bounded(value: str | int | None) -> str | int | None:
    """Client-given text, cut to a length that keeps one record one line of sane size."""
    return value[:MAX_FIELD] if isinstance(value, str) else value
