"""Audit events as typed objects, for hooks that decide what happens on a login.

Every record of the audit log (:mod:`nullptr_auth.audit`) is also handed, as an
:class:`Event`, to each hook given as ``AuthMiddleware(..., on_event=hook)`` (or a list
of hooks), with the same fields and the same redactions: client-given text cut to 256
characters, never a password, a token or a hash. A hook runs in the request's thread,
after the event happened; one that raises is logged (on ``nullptr_auth.events``) and the
request goes on as if it had not been there. A hook that does slow work (sending mail)
should hand it to a queue::

    def on_event(event: Event) -> None:
        if event.event == "login.succeeded":
            outbox.put((event.username, event.ip, event.user_agent))

    app = AuthMiddleware(app, DB, on_event=on_event)

``docs/events.md`` shows "email the user on a login from a new device".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import TypeAlias

logger = logging.getLogger("nullptr_auth.events")

Value: TypeAlias = "str | int | None"
FIELDS = ("username", "user_id", "session_id", "ip", "user_agent")


@dataclass(frozen=True, slots=True)
class Event:
    """One audit event.

    ``event`` is the audit log's name (``login.succeeded``, ``login.failed``,
    ``logout``, ``session.ended``, ``session.rejected``, ``user.registered``, …);
    ``reason`` is why a login failed or a session was refused (``None`` otherwise);
    ``details`` holds the event's other fields (``by``, ``count``). Any field may be
    ``None`` when the event does not know it (a refused token names no user id).
    """

    event: str
    time: datetime
    username: str | None
    user_id: str | None
    session_id: str | None
    ip: str | None
    user_agent: str | None
    reason: str | None = None
    details: Mapping[str, Value] = field(default_factory=lambda: MappingProxyType({}))


EventHook: TypeAlias = Callable[[Event], object]
OnEvent: TypeAlias = "EventHook | Iterable[EventHook] | None"


def hooks_from(on_event: object) -> tuple[EventHook, ...]:
    """The hooks of an ``on_event`` option: ``None``, a callable, or an iterable of them.

    :raises TypeError: for anything else.
    """
    if on_event is None:
        return ()
    if callable(on_event):
        return (on_event,)
    if isinstance(on_event, (str, bytes)) or not isinstance(on_event, Iterable):
        raise TypeError("on_event must be a callable or a list of callables")
    hooks = tuple(on_event)
    if not all(callable(hook) for hook in hooks):
        raise TypeError("on_event must be a callable or a list of callables")
    return hooks


def event_from_record(moment: datetime, record: Mapping[str, Value]) -> Event:
    """The :class:`Event` of one audit record (already bounded by the audit log)."""
    details = {
        name: value
        for name, value in record.items()
        if name not in FIELDS and name not in ("time", "event", "reason")
    }
    reason = record.get("reason")
    return Event(
        event=str(record["event"]),
        time=moment,
        username=_text(record.get("username")),
        user_id=_text(record.get("user_id")),
        session_id=_text(record.get("session_id")),
        ip=_text(record.get("ip")),
        user_agent=_text(record.get("user_agent")),
        reason=None if reason is None else str(reason),
        details=MappingProxyType(details),
    )


def dispatch(hooks: tuple[EventHook, ...], event: Event) -> None:
    """Call every hook; one that raises is logged and never reaches the request."""
    for hook in hooks:
        try:
            hook(event)
        except Exception:
            logger.exception("an on_event hook raised on %s; the request goes on", event.event)


def _text(value: Value) -> str | None:
    return None if value is None else str(value)
