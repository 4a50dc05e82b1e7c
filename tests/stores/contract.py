"""The one contract every store passes; each backend's test class inherits it.

A subclass provides two fixtures: ``store`` (a fresh, empty store) and ``other_view``
(a second store object on the same backend, as another process would open it). Both
take ``cached``: every test runs with the store's session cache on and with it off. A
subclass whose other views hear of changes through a channel (Redis, PostgreSQL)
overrides ``propagation``: the seconds within which another view must see a change
(``0``: at once, as SQLite's shared counters and every uncached store do).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from nullptr_auth.errors import CredentialsChanged, TooManySessions, UsernameTaken
from nullptr_auth.models import Session, UserRecord
from nullptr_auth.stores.base import Reservation, Store

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
PROPAGATION = 5.0
"""Seconds another process may take to see a change through a channel, in tests: far
above the measured p99 (``benchmarks/_propagation.py``), for a loaded CI machine."""


def serving(store: Store) -> Store:
    """The store once its cache's invalidation channel serves (started by a first miss)."""
    cache = getattr(store, "cache", None)
    channel = getattr(cache, "channel", None)
    if cache is None or not cache.budget or not hasattr(channel, "live"):
        return store
    store.find_session("warm-up")
    deadline = time.monotonic() + 10
    while not channel.live:
        if time.monotonic() > deadline:
            raise AssertionError(f"{channel!r} did not come up within 10 s")
        time.sleep(0.01)
    return store


def eventually(check: Callable[[], bool], within: float) -> bool:
    """Whether ``check`` holds now or becomes true within ``within`` seconds."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.001)
    return True


def make_user(username: str = "alice") -> UserRecord:
    return UserRecord(str(uuid.uuid4()), username, f"$argon2id$hash-of-{username}", T0)


def make_session(
    user: UserRecord,
    session_id: str | None = None,
    *,
    created_at: datetime = T0,
    expires_at: datetime | None = T0 + timedelta(days=30),
    idle_expires_at: datetime | None = T0 + timedelta(days=14),
) -> Session:
    return Session(
        session_id or uuid.uuid4().hex,
        user.id,
        created_at,
        created_at,
        expires_at,
        idle_expires_at,
        "agent/1.0",
        "192.0.2.1",
        "laptop",
        token_hash=uuid.uuid4().bytes * 2,
    )


class StoreContract:
    @pytest.fixture(params=[pytest.param(True, id="cache-on"), pytest.param(False, id="cache-off")])
    def cached(self, request: pytest.FixtureRequest) -> bool:
        return bool(request.param)

    @pytest.fixture
    def propagation(self) -> float:
        return 0.0

    """What ``nullptr_auth.stores.base.Store`` promises, checked for one backend."""

    # -- users ------------------------------------------------------------------------
    def test_added_user_is_found_by_username(self, store: Store) -> None:
        alice = make_user()
        store.add_user(alice)
        assert store.get_user("alice") == alice
        assert store.get_user("bob") is None

    def test_username_is_unique(self, store: Store) -> None:
        store.add_user(make_user())
        with pytest.raises(UsernameTaken):
            store.add_user(make_user())
        assert len(store.list_users()) == 1

    def test_users_are_listed_by_username(self, store: Store) -> None:
        for name in ("carol", "alice", "bob"):
            store.add_user(make_user(name))
        assert [user.username for user in store.list_users()] == ["alice", "bob", "carol"]

    def test_password_hash_is_replaced(self, store: Store) -> None:
        alice = make_user()
        store.add_user(alice)
        store.add_session(alice.user, make_session(alice, "s1"))
        assert store.set_password_hash(alice.id, "$argon2id$new", end_sessions=False) is True
        assert store.get_user("alice").password_hash == "$argon2id$new"  # type: ignore[union-attr]
        assert store.find_session("s1") is not None
        unknown = str(uuid.uuid4())
        assert store.set_password_hash(unknown, "$argon2id$new", end_sessions=True) is False

    def test_a_password_change_ends_sessions_in_the_same_step(self, store: Store) -> None:
        alice, bob = make_user("alice"), make_user("bob")
        store.add_user(alice)
        store.add_user(bob)
        for session_id in ("a1", "a2", "a3"):
            store.add_session(alice.user, make_session(alice, session_id))
        store.add_session(bob.user, make_session(bob, "b1"))
        assert store.set_password_hash(alice.id, "$argon2id$2", end_sessions=True, keep="a2")
        assert [s.id for s in store.list_sessions(alice.id)] == ["a2"]
        assert store.set_password_hash(alice.id, "$argon2id$3", end_sessions=True)
        assert store.list_sessions(alice.id) == []
        assert store.find_session("b1") is not None

    def test_disabling_a_user_ends_their_sessions(self, store: Store) -> None:
        alice, bob = make_user("alice"), make_user("bob")
        store.add_user(alice)
        store.add_user(bob)
        store.add_session(alice.user, make_session(alice, "a1"))
        store.add_session(bob.user, make_session(bob, "b1"))
        assert store.set_disabled(alice.id, True) is True
        assert store.get_user("alice").disabled is True  # type: ignore[union-attr]
        assert store.find_session("a1") is None
        assert store.find_session("b1") is not None
        assert store.set_disabled(alice.id, False) is True
        assert store.get_user("alice").disabled is False  # type: ignore[union-attr]
        assert store.set_disabled(str(uuid.uuid4()), True) is False

    def test_deleting_a_user_ends_their_sessions_only(self, store: Store) -> None:
        alice, bob = make_user("alice"), make_user("bob")
        store.add_user(alice)
        store.add_user(bob)
        store.add_session(alice.user, make_session(alice, "a1"))
        store.add_session(bob.user, make_session(bob, "b1"))
        assert store.delete_user(alice.id) is True
        assert store.get_user("alice") is None
        assert store.find_session("a1") is None
        assert store.find_session("b1") is not None
        assert store.delete_user(alice.id) is False

    # -- sessions ---------------------------------------------------------------------
    def test_session_is_found_with_its_user(self, store: Store) -> None:
        alice = make_user()
        store.add_user(alice)
        session = make_session(alice, "s1")
        store.add_session(alice.user, session)
        found = store.find_session("s1")
        assert found is not None
        user, stored = found
        assert (user.id, user.username) == (alice.id, "alice")
        assert stored == session
        assert stored.token_hash == session.token_hash
        assert store.find_session("nope") is None

    def test_sessions_without_deadlines_round_trip(self, store: Store) -> None:
        alice = make_user()
        store.add_user(alice)
        store.add_session(
            alice.user, make_session(alice, "s1", expires_at=None, idle_expires_at=None)
        )
        found = store.find_session("s1")
        assert found is not None
        assert found[1].expires_at is None
        assert found[1].idle_expires_at is None

    def test_sessions_are_listed_per_user_oldest_first(self, store: Store) -> None:
        alice, bob = make_user("alice"), make_user("bob")
        store.add_user(alice)
        store.add_user(bob)
        store.add_session(
            alice.user, make_session(alice, "late", created_at=T0 + timedelta(hours=1))
        )
        store.add_session(alice.user, make_session(alice, "early"))
        store.add_session(bob.user, make_session(bob, "bobs"))
        assert [s.id for s in store.list_sessions(alice.id)] == ["early", "late"]
        assert {s.id for s in store.list_sessions()} == {"early", "late", "bobs"}

    def test_touch_records_activity(self, store: Store) -> None:
        alice = make_user()
        store.add_user(alice)
        store.add_session(alice.user, make_session(alice, "s1"))
        later = T0 + timedelta(hours=2)
        store.touch_session("s1", later, later + timedelta(days=14))
        store.touch_session("gone", later, None)
        found = store.find_session("s1")
        assert found is not None
        assert found[1].last_seen_at == later
        assert found[1].idle_expires_at == later + timedelta(days=14)

    def test_activity_recorded_after_hits_is_what_every_later_read_answers(
        self, store: Store
    ) -> None:
        """A cache keeps the objects it built for a hit: they must be the entry's now."""
        alice = make_user()
        store.add_user(alice)
        store.add_session(alice.user, make_session(alice, "s1"))
        for _ in range(3):  # a read, then hits
            assert store.find_session("s1") is not None
        later = T0 + timedelta(hours=2)
        store.touch_session("s1", later, later + timedelta(days=14))
        for _ in range(3):
            found = store.find_session("s1")
            assert found is not None
            assert found[1].last_seen_at == later

    def test_delete_session_checks_the_owner_when_asked(self, store: Store) -> None:
        alice, bob = make_user("alice"), make_user("bob")
        store.add_user(alice)
        store.add_user(bob)
        store.add_session(alice.user, make_session(alice, "s1"))
        assert store.delete_session("s1", bob.id) is False
        assert store.find_session("s1") is not None
        assert store.delete_session("s1", alice.id) is True
        assert store.delete_session("s1") is False

    def test_delete_sessions_keeps_the_one_asked(self, store: Store) -> None:
        alice, bob = make_user("alice"), make_user("bob")
        store.add_user(alice)
        store.add_user(bob)
        for session_id in ("a1", "a2", "a3"):
            store.add_session(alice.user, make_session(alice, session_id))
        store.add_session(bob.user, make_session(bob, "b1"))
        assert store.delete_sessions(alice.id, keep="a2") == 2
        assert [s.id for s in store.list_sessions(alice.id)] == ["a2"]
        assert store.delete_sessions(alice.id) == 1
        assert store.find_session("b1") is not None

    def test_a_limit_evicts_the_least_recently_used_sessions(self, store: Store) -> None:
        alice = make_user()
        store.add_user(alice)
        for n in range(3):
            store.add_session(alice.user, make_session(alice, f"s{n}"), limit=3)
        store.touch_session("s0", T0 + timedelta(hours=1), None)  # s1 is now the least used
        store.add_session(
            alice.user, make_session(alice, "new", created_at=T0 + timedelta(hours=2)), limit=3
        )
        assert {s.id for s in store.list_sessions(alice.id)} == {"s0", "s2", "new"}

    def test_a_lowered_limit_evicts_down_to_it(self, store: Store) -> None:
        alice = make_user()
        store.add_user(alice)
        for n in range(4):
            store.add_session(alice.user, make_session(alice, f"s{n}"))
        store.add_session(alice.user, make_session(alice, "only"), limit=1)
        assert [s.id for s in store.list_sessions(alice.id)] == ["only"]

    def test_a_limit_can_refuse_and_keep_everything(self, store: Store) -> None:
        alice = make_user()
        store.add_user(alice)
        store.add_session(alice.user, make_session(alice, "s1"), limit=1, evict=False)
        with pytest.raises(TooManySessions):
            store.add_session(alice.user, make_session(alice, "s2"), limit=1, evict=False)
        assert [s.id for s in store.list_sessions(alice.id)] == ["s1"]

    def test_expired_sessions_do_not_count_against_a_limit(self, store: Store) -> None:
        alice = make_user()
        store.add_user(alice)
        store.add_session(alice.user, make_session(alice, "old", expires_at=T0 + timedelta(1)))
        later = T0 + timedelta(days=2)
        store.add_session(
            alice.user, make_session(alice, "new", created_at=later), limit=1, evict=False
        )
        assert store.find_session("new") is not None

    def test_concurrent_logins_respect_the_limit(self, store: Store, other_view: Store) -> None:
        alice = make_user()
        store.add_user(alice)
        refused: list[str] = []

        def log_in(view: Store, worker: int) -> None:
            for n in range(10):
                try:
                    view.add_session(
                        alice.user, make_session(alice, f"w{worker}-{n}"), limit=5, evict=False
                    )
                except TooManySessions:
                    refused.append(f"w{worker}-{n}")

        threads = [
            threading.Thread(target=log_in, args=(view, w))
            for w, view in enumerate((store, other_view) * 3)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(store.list_sessions(alice.id)) == 5
        assert len(refused) == 55

    def test_purge_deletes_sessions_past_either_deadline(self, store: Store) -> None:
        alice = make_user()
        store.add_user(alice)
        now = T0 + timedelta(days=10)
        store.add_session(alice.user, make_session(alice, "absolute", expires_at=now))
        store.add_session(
            alice.user, make_session(alice, "idle", idle_expires_at=now - timedelta(seconds=1))
        )
        store.add_session(alice.user, make_session(alice, "live"))
        store.add_session(
            alice.user, make_session(alice, "forever", expires_at=None, idle_expires_at=None)
        )
        assert store.purge_sessions(now) == 2
        assert {s.id for s in store.list_sessions()} == {"live", "forever"}

    @pytest.mark.parametrize(
        "change",
        [
            pytest.param(
                lambda s, u: s.set_password_hash(u.id, "other", end_sessions=True),
                id="password-changed",
            ),
            pytest.param(lambda s, u: s.set_disabled(u.id, True), id="disabled"),
            pytest.param(lambda s, u: s.delete_user(u.id), id="deleted"),
        ],
    )
    def test_a_session_is_kept_only_for_the_credentials_verified(
        self, store: Store, other_view: Store, change: Callable[[Store, UserRecord], object]
    ) -> None:
        alice = make_user()
        store.add_user(alice)
        change(other_view, alice)
        with pytest.raises(CredentialsChanged):
            store.add_session(
                alice.user, make_session(alice, "s1"), verified_hash=alice.password_hash
            )
        assert store.find_session("s1") is None
        assert store.list_sessions(alice.id) == []

    def test_a_session_for_unchanged_credentials_is_kept(self, store: Store) -> None:
        alice = make_user()
        store.add_user(alice)
        store.set_disabled(alice.id, True)
        store.set_disabled(alice.id, False)
        store.add_session(alice.user, make_session(alice, "s1"), verified_hash=alice.password_hash)
        assert store.find_session("s1") is not None

    def test_a_session_is_not_kept_for_a_namesake(self, store: Store) -> None:
        alice = make_user()
        store.add_user(alice)
        store.delete_user(alice.id)
        store.add_user(make_user())  # same name and hash, another id
        with pytest.raises(CredentialsChanged):
            store.add_session(
                alice.user, make_session(alice, "s1"), verified_hash=alice.password_hash
            )

    def test_a_user_outside_the_store_can_hold_sessions(self, store: Store) -> None:
        outsider = make_user("outsider")  # kept by a UserSource, never added here
        store.add_session(outsider.user, make_session(outsider, "s1"))
        found = store.find_session("s1")
        assert found is not None
        assert found[0] == outsider.user

    # -- throttling counters ----------------------------------------------------------
    def test_attempts_are_counted_in_runs(self, store: Store) -> None:
        window = timedelta(minutes=15)
        for _ in range(3):
            assert store.reserve_attempts([Reservation("alice", window, 10)], T0) is None
        assert store.reserve_attempts([Reservation("bob", window, 10)], T0) is None
        later = T0 + timedelta(minutes=14)
        assert store.reserve_attempts([Reservation("alice", window, 10)], later) is None
        assert store.get_failures("alice", later) == (4, later)
        assert store.get_failures("bob", later) == (1, T0)
        assert store.get_failures("carol", later) is None

    def test_a_run_continues_while_attempts_come_within_the_window(self, store: Store) -> None:
        window = timedelta(minutes=15)
        moment = T0
        for _ in range(10):
            store.reserve_attempts([Reservation("alice", window, 100)], moment)
            moment += timedelta(minutes=14)
        assert store.get_failures("alice", moment) == (10, moment - timedelta(minutes=14))

    def test_a_pause_as_long_as_the_window_ends_the_run(self, store: Store) -> None:
        window = timedelta(minutes=15)
        store.reserve_attempts([Reservation("alice", window, 2)], T0)
        store.reserve_attempts([Reservation("alice", window, 2)], T0)
        assert store.get_failures("alice", T0 + window) is None
        assert store.reserve_attempts([Reservation("alice", window, 2)], T0 + window) is None
        assert store.get_failures("alice", T0 + window) == (1, T0 + window)

    def test_a_full_run_refuses_the_attempt_and_moves_nothing(self, store: Store) -> None:
        window = timedelta(minutes=15)
        for _ in range(2):
            store.reserve_attempts([Reservation("alice", window, 2)], T0)
        later = T0 + timedelta(minutes=1)
        assert store.reserve_attempts([Reservation("alice", window, 2)], later) == 0
        assert store.get_failures("alice", later) == (2, T0)
        assert store.get_failures("alice", T0 + window) is None  # the end did not move

    def test_reservations_are_all_or_nothing(self, store: Store) -> None:
        window = timedelta(minutes=15)
        store.reserve_attempts([Reservation("full", window, 1)], T0)
        reservations = [
            Reservation("free", window, 5),
            Reservation("full", window, 1),
            Reservation("also-free", window, 5),
        ]
        assert store.reserve_attempts(reservations, T0) == 1
        assert store.get_failures("free", T0) is None
        assert store.get_failures("also-free", T0) is None
        assert store.get_failures("full", T0) == (1, T0)

    def test_released_attempts_are_taken_back_or_their_runs_ended(self, store: Store) -> None:
        window = timedelta(minutes=15)
        for _ in range(3):
            store.reserve_attempts(
                [Reservation(k, window, 10) for k in ("address", "strict", "once")], T0
            )
        store.reserve_attempts([Reservation("single", window, 10)], T0)
        store.release_attempts(["address", "single", "never-counted"], ["strict", "never-ran"])
        assert store.get_failures("address", T0) == (2, T0)
        assert store.get_failures("single", T0) is None
        assert store.get_failures("strict", T0) is None
        assert store.get_failures("once", T0) == (3, T0)
        assert store.get_failures("never-counted", T0) is None
        assert store.reserve_attempts([Reservation("single", window, 1)], T0) is None

    def test_purge_deletes_ended_runs(self, store: Store) -> None:
        store.reserve_attempts([Reservation("short", timedelta(minutes=1), 5)], T0)
        store.reserve_attempts([Reservation("long", timedelta(hours=1), 5)], T0)
        store.purge_sessions(T0 + timedelta(minutes=2))
        assert store.get_failures("long", T0) == (1, T0)
        assert store.get_failures("short", T0) is None

    def test_concurrent_reservations_never_pass_the_ceiling(
        self, store: Store, other_view: Store
    ) -> None:
        window = timedelta(minutes=15)
        passed: list[int] = []
        barrier = threading.Barrier(6)

        def attempt(view: Store) -> None:
            barrier.wait()
            for _ in range(20):
                reservations = [Reservation("strict", window, 5), Reservation("wide", window, 50)]
                if view.reserve_attempts(reservations, T0) is None:
                    passed.append(1)

        threads = [threading.Thread(target=attempt, args=(v,)) for v in (store, other_view) * 3]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(passed) == 5
        assert store.get_failures("strict", T0) == (5, T0)
        assert store.get_failures("wide", T0) == (5, T0)

    # -- the signing key --------------------------------------------------------------
    def test_first_secret_key_wins_for_every_view(self, store: Store, other_view: Store) -> None:
        first = store.get_or_create_secret_key(b"a" * 32)
        assert first == b"a" * 32
        assert store.get_or_create_secret_key(b"b" * 32) == first
        assert other_view.get_or_create_secret_key(b"c" * 32) == first

    # -- many threads, many processes -------------------------------------------------
    def test_other_views_see_changes_at_once(
        self, store: Store, other_view: Store, propagation: float
    ) -> None:
        alice = make_user()
        store.add_user(alice)
        store.add_session(alice.user, make_session(alice, "s1"))
        assert store.find_session("s1") is not None  # read once, as a request would
        assert other_view.find_session("s1") is not None
        assert other_view.delete_session("s1") is True
        assert other_view.find_session("s1") is None  # the view that ended it: at once
        assert eventually(lambda: store.find_session("s1") is None, propagation)

    def test_other_views_see_activity_at_once(
        self, store: Store, other_view: Store, propagation: float
    ) -> None:
        alice = make_user()
        store.add_user(alice)
        store.add_session(alice.user, make_session(alice, "s1"))
        assert store.find_session("s1") is not None  # read once, as a request would
        later = T0 + timedelta(hours=3)
        other_view.touch_session("s1", later, later + timedelta(days=14))

        def seen() -> bool:
            found = store.find_session("s1")
            return found is not None and found[1].last_seen_at == later

        assert eventually(seen, propagation)

    @pytest.mark.parametrize(
        "change",
        [
            pytest.param(
                lambda s, u: s.set_password_hash(u.id, "$argon2id$new", end_sessions=True),
                id="password-changed",
            ),
            pytest.param(lambda s, u: s.set_disabled(u.id, True), id="disabled"),
            pytest.param(lambda s, u: s.delete_user(u.id), id="deleted"),
            pytest.param(lambda s, u: s.delete_sessions(u.id), id="all-sessions-ended"),
        ],
    )
    def test_other_views_see_user_wide_endings_at_once(
        self,
        store: Store,
        other_view: Store,
        propagation: float,
        change: Callable[[Store, UserRecord], object],
    ) -> None:
        alice = make_user()
        store.add_user(alice)
        store.add_session(alice.user, make_session(alice, "s1"))
        assert store.find_session("s1") is not None
        assert other_view.find_session("s1") is not None
        change(other_view, alice)
        assert other_view.find_session("s1") is None  # the view that ended it: at once
        assert eventually(lambda: store.find_session("s1") is None, propagation)

    def test_concurrent_logins_lose_no_session(self, store: Store) -> None:
        alice = make_user()
        store.add_user(alice)
        errors: list[BaseException] = []

        def add_sessions(worker: int) -> None:
            try:
                for n in range(25):
                    store.add_session(alice.user, make_session(alice, f"w{worker}-{n}"))
            except BaseException as exc:  # reported below, in the test's own thread
                errors.append(exc)

        threads = [threading.Thread(target=add_sessions, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(store.list_sessions(alice.id)) == 200

    def test_concurrent_registrations_of_one_name_admit_one(self, store: Store) -> None:
        outcomes: list[str] = []
        barrier = threading.Barrier(8)

        def register() -> None:
            barrier.wait()
            try:
                store.add_user(make_user("racer"))
                outcomes.append("created")
            except UsernameTaken:
                outcomes.append("taken")

        threads = [threading.Thread(target=register) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["created"] + ["taken"] * 7
