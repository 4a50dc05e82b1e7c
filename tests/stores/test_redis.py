from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
import redis

from nullptr_auth.errors import StoreUnavailable
from nullptr_auth.models import Session
from nullptr_auth.stores import open_store
from nullptr_auth.stores._cache import DEFAULT_MEGABYTES
from nullptr_auth.stores.base import Reservation
from nullptr_auth.stores.redis import RedisStore

from ..services import redis_url, scratch_key_prefix
from .contract import PROPAGATION, T0, StoreContract, make_session, make_user, serving


@pytest.fixture
def url() -> str:
    return redis_url()


@pytest.fixture
def prefix(url: str) -> Iterator[str]:
    with scratch_key_prefix(url) as prefix:
        yield prefix


@pytest.fixture
def raw(url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(url)
    yield client
    client.close()


class TestRedisStore(StoreContract):
    @pytest.fixture
    def propagation(self, cached: bool) -> float:
        return PROPAGATION if cached else 0.0

    @pytest.fixture
    def store(self, url: str, prefix: str, cached: bool) -> Iterator[RedisStore]:
        store = RedisStore(
            url, key_prefix=prefix, cache_megabytes=DEFAULT_MEGABYTES if cached else 0
        )
        yield serving(store)
        store.close()

    @pytest.fixture
    def other_view(self, url: str, prefix: str, cached: bool) -> Iterator[RedisStore]:
        store = RedisStore(
            url, key_prefix=prefix, cache_megabytes=DEFAULT_MEGABYTES if cached else 0
        )
        yield serving(store)
        store.close()


def test_construction_does_no_io() -> None:
    store = RedisStore("redis://127.0.0.1:1/0")
    assert repr(store) == "<RedisStore 127.0.0.1:1/0 prefix='nullptr_auth:'>"


def test_an_unreachable_server_is_an_outage() -> None:
    store = RedisStore("redis://127.0.0.1:1/0")
    with pytest.raises(StoreUnavailable) as raised:
        store.find_session("s1")
    assert isinstance(raised.value.__cause__, redis.ConnectionError)


def test_the_url_sets_the_prefix_and_the_argument_overrides_it(url: str) -> None:
    assert open_store(f"{url}?prefix=shop:").key_prefix == "shop:"  # type: ignore[attr-defined]
    assert RedisStore(f"{url}?prefix=shop:", key_prefix="b:").key_prefix == "b:"
    assert RedisStore(url).key_prefix == "nullptr_auth:"
    assert isinstance(open_store("rediss://example.invalid:6380/1"), RedisStore)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"key_prefix": ""}, id="empty-prefix"),
        pytest.param({"client": "decoding"}, id="decoding-client"),
    ],
)
def test_bad_options_are_refused(url: str, options: dict[str, object]) -> None:
    if options.get("client") == "decoding":
        options["client"] = redis.Redis.from_url(url, decode_responses=True)
    with pytest.raises(ValueError, match=r"prefix|decode"):
        RedisStore(url, **options)


def test_an_injected_client_is_used_and_left_open(raw: redis.Redis, prefix: str) -> None:
    store = RedisStore(client=raw, key_prefix=prefix)
    store.add_user(make_user())
    store.close()
    assert raw.exists(f"{prefix}user:alice") == 1


def test_sessions_expire_in_redis_at_their_deadline(
    store_and_raw: tuple[RedisStore, redis.Redis, str],
) -> None:
    store, raw, prefix = store_and_raw
    alice = make_user()
    session = make_session(alice, "s1", expires_at=T0 + timedelta(days=30))
    store.add_session(alice.user, session)
    assert 13.9 * 86400_000 < raw.pttl(f"{prefix}session:s1") <= 14 * 86400_000
    store.touch_session("s1", T0 + timedelta(days=20), None)  # now the absolute end is first
    assert 9.9 * 86400_000 < raw.pttl(f"{prefix}session:s1") <= 10 * 86400_000
    store.add_session(alice.user, make_session(alice, "s2", expires_at=None, idle_expires_at=None))
    assert raw.pttl(f"{prefix}session:s2") == -1


def test_purge_cleans_the_indexes_of_sessions_redis_forgot(
    store_and_raw: tuple[RedisStore, redis.Redis, str],
) -> None:
    store, raw, prefix = store_and_raw
    alice = make_user()
    store.add_session(alice.user, make_session(alice, "s1"))
    raw.delete(f"{prefix}session:s1")  # as its TTL would
    assert store.list_sessions(alice.id) == []
    assert store.purge_sessions(T0 + timedelta(days=15)) == 0, "Redis deleted it, not purge"
    assert raw.smembers(f"{prefix}user-sessions:{alice.id}") == set()
    assert raw.zcard(f"{prefix}deadlines") == 0
    assert raw.hlen(f"{prefix}owners") == 0


def test_purge_works_in_batches(store_and_raw: tuple[RedisStore, redis.Redis, str]) -> None:
    store, _, _ = store_and_raw
    alice = make_user()
    for n in range(1005):
        store.add_session(alice.user, make_session(alice, f"s{n}"))
    assert store.purge_sessions(T0 + timedelta(days=15)) == 1005


def test_failure_counters_expire_in_redis(
    store_and_raw: tuple[RedisStore, redis.Redis, str],
) -> None:
    store, raw, prefix = store_and_raw
    store.reserve_attempts([Reservation("alice", timedelta(minutes=15), 5)], T0)
    assert 14 * 60_000 < raw.pttl(f"{prefix}failure:alice") <= 15 * 60_000


def test_a_missing_driver_names_the_pip_line() -> None:
    script = (
        "import sys; sys.modules['redis'] = None\n"
        "from nullptr_auth.stores import open_store\n"
        "try:\n    open_store('redis://127.0.0.1:6379/0')\n"
        "except ImportError as error:\n    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert "pip install 'nullptr_auth[redis]'" in result.stdout


@pytest.fixture
def store_and_raw(
    url: str, prefix: str, raw: redis.Redis
) -> Iterator[tuple[RedisStore, redis.Redis, str]]:
    store = RedisStore(url, key_prefix=prefix)
    yield store, raw, prefix
    store.close()


def test_a_burst_of_more_threads_than_connections_waits_its_turn(
    store_and_raw: tuple[RedisStore, redis.Redis, str],
) -> None:
    """Seen: 120 logins at once under ``nullptr-auth serve`` got 16 answers ``503``, as
    redis-py's default pool refuses the 101st connection instead of waiting for one."""
    store, _, _ = store_and_raw
    barrier = threading.Barrier(200)
    failures: list[BaseException] = []

    def one() -> None:
        barrier.wait()
        try:
            for _ in range(5):  # what a login asks of the store, and then some
                store.get_failures("burst", T0)
            store.reserve_attempts([Reservation("burst", timedelta(minutes=15), 1000)], T0)
        except StoreUnavailable as exc:
            failures.append(exc)

    threads = [threading.Thread(target=one) for _ in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert store.get_failures("burst", T0) == (200, T0)


MOMENTS = [
    pytest.param(T0.replace(microsecond=999_999), id="last-microsecond-of-a-second"),
    pytest.param(T0.replace(microsecond=1), id="first-microsecond"),
    pytest.param(datetime(1970, 1, 1, 0, 0, 0, 1, timezone.utc), id="epoch"),
    pytest.param(datetime(1969, 12, 31, 23, 59, 59, 999_999, timezone.utc), id="before-1970"),
    pytest.param(datetime(2241, 12, 31, 23, 59, 59, 999_999, timezone.utc), id="year-2241"),
]


@pytest.mark.parametrize("moment", MOMENTS)
def test_a_read_gives_back_the_times_and_texts_written(
    store_and_raw: tuple[RedisStore, redis.Redis, str], moment: datetime
) -> None:
    """Exact to the microsecond, texts of any characters, a deadline absent: what a
    cheaper read of the hash must still give (docs/performance.md, stop 19)."""
    store, _, _ = store_and_raw
    alice = make_user()
    store.add_user(alice)
    session = Session(
        "s1",
        alice.id,
        moment,
        moment,
        None,
        moment + timedelta(days=14),  # the key lives as long as the session: not 0
        "agent/\u00e9\x00\u2603",
        "",
        "d\x00v",
        bytes(range(256)),
    )
    store.add_session(alice.user, session)
    found = store.find_session("s1")
    assert found is not None
    assert found[0] == alice.user
    assert found[1] == session
    assert found[1].token_hash == session.token_hash


def test_a_touch_writes_both_times_and_leaves_the_rest(
    store_and_raw: tuple[RedisStore, redis.Redis, str],
) -> None:
    """The touch script writes the two times, an idle deadline of none included, and
    every other field reads back as it was written."""
    store, _, _ = store_and_raw
    alice = make_user()
    store.add_user(alice)
    session = make_session(alice, "s1")._replace(user_agent="agent/\u00e9", device="d\x00v")
    store.add_session(alice.user, session)
    later = T0 + timedelta(hours=2, microseconds=7)
    for idle in (later + timedelta(days=14), None):
        store.touch_session("s1", later, idle)
        assert store.find_session("s1") == (
            alice.user,
            session._replace(last_seen_at=later, idle_expires_at=idle),
        )
