"""The session value: what its named tuple promises besides its fields."""

from __future__ import annotations

import copy
import pickle
from datetime import datetime, timedelta, timezone

from nullptr_auth.models import Session, session_from_fields

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
HASH = bytes(range(32))


def session(expires: datetime | None, idle: datetime | None) -> Session:
    return Session("s1", "u1", NOW, NOW, expires, idle, "curl", "127.0.0.1", "laptop", HASH)


def test_a_session_ends_at_the_earlier_of_its_deadlines() -> None:
    later, sooner = NOW + timedelta(days=30), NOW + timedelta(days=14)
    assert session(later, sooner).ends_at == sooner
    assert session(sooner, later).ends_at == sooner
    assert session(None, sooner).ends_at == sooner
    assert session(later, None).ends_at == later
    assert session(None, None).ends_at is None
    assert session(None, None).is_live(NOW + timedelta(days=10_000))
    assert not session(later, sooner).is_live(sooner)


def test_a_changed_session_works_its_end_out_again() -> None:
    first = session(NOW + timedelta(days=30), NOW + timedelta(days=14))
    moved = first._replace(idle_expires_at=NOW + timedelta(days=20))
    assert moved.ends_at == NOW + timedelta(days=20)
    assert moved.last_seen_at == first.last_seen_at


def test_a_session_built_from_its_fields_is_the_same_session() -> None:
    first = session(NOW + timedelta(days=30), NOW + timedelta(days=14))
    assert session_from_fields(tuple(first)) == first
    assert pickle.loads(pickle.dumps(first)) == first  # noqa: S301 - our own bytes
    assert copy.deepcopy(first) == first


def test_a_session_repr_leaves_the_token_hash_out() -> None:
    shown = repr(session(None, None))
    assert "token_hash" not in shown
    assert repr(HASH) not in shown
    assert "device='laptop'" in shown
