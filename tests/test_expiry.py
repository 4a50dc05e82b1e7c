"""Session expiry and activity tracking, with time moved by a frozen clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
import webtest

from nullptr_auth import AuthMiddleware
from nullptr_auth.stores import MemoryStore

from .conftest import PASSWORD, FrozenClock, MakeAuth, login


class CountingStore(MemoryStore):
    """A real memory store that also counts activity writes."""

    touches = 0

    def touch_session(self, *args: object, **kwargs: object) -> None:
        self.touches += 1
        super().touch_session(*args, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def store() -> CountingStore:
    return CountingStore()


def make_client(make_auth: MakeAuth, store: MemoryStore, **options: object) -> webtest.TestApp:
    auth = make_auth(store, **options)
    auth.accounts.create("alice", PASSWORD)
    return webtest.TestApp(auth)


@pytest.mark.parametrize(
    ("options", "elapsed", "alive"),
    [
        pytest.param({}, timedelta(days=13, hours=23), True, id="idle-just-under-14-days"),
        pytest.param({}, timedelta(days=14), False, id="idle-14-days"),
        pytest.param({"idle_timeout": None}, timedelta(days=29), True, id="no-idle-29-days"),
        pytest.param({"idle_timeout": None}, timedelta(days=30), False, id="lifetime-30-days"),
        pytest.param(
            {"idle_timeout": None, "session_lifetime": None},
            timedelta(days=3650),
            True,
            id="no-expiry",
        ),
        pytest.param(
            {"idle_timeout": timedelta(minutes=5)}, timedelta(minutes=5), False, id="short-idle"
        ),
    ],
)
def test_sessions_end_at_their_deadlines(
    make_auth: MakeAuth,
    store: CountingStore,
    clock: FrozenClock,
    options: dict[str, object],
    elapsed: timedelta,
    alive: bool,
) -> None:
    client = make_client(make_auth, store, **options)
    headers = login(client)
    clock.now += elapsed
    client.get("/app", headers=headers, status=200 if alive else 401)
    assert (len(store.list_sessions()) == 1) is alive, "an expired session is deleted when seen"


def test_use_keeps_a_session_alive_until_its_lifetime(
    make_auth: MakeAuth, store: CountingStore, clock: FrozenClock
) -> None:
    client = make_client(make_auth, store)
    headers = login(client)
    for _ in range(2):
        clock.advance(days=13)
        client.get("/app", headers=headers)
    clock.advance(days=4)  # 30 days after login, 4 days after last use
    client.get("/app", headers=headers, status=401)


def test_activity_is_written_at_most_once_per_interval(
    make_auth: MakeAuth, store: CountingStore, clock: FrozenClock
) -> None:
    client = make_client(make_auth, store)
    headers = login(client)
    for _ in range(50):
        clock.advance(seconds=1)
        client.get("/app", headers=headers)
    assert store.touches == 0  # 50 seconds: still within the first minute
    clock.advance(seconds=10)
    for _ in range(50):
        client.get("/app", headers=headers)
    assert store.touches == 1
    [session] = store.list_sessions()
    assert session.last_seen_at == clock.now
    assert session.idle_expires_at == clock.now + timedelta(days=14)


def test_purge_deletes_only_expired_sessions(
    make_auth: MakeAuth, store: CountingStore, clock: FrozenClock
) -> None:
    client = make_client(make_auth, store)
    login(client)
    clock.advance(days=10)
    login(client)
    clock.advance(days=5)
    auth: AuthMiddleware = client.app
    assert auth.sessions.purge() == 1
    assert len(store.list_sessions()) == 1
