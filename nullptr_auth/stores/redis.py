"""``redis://host:port/N``: users and sessions in Redis, shared by every app server.

Use it when several machines serve one application: a session ended on one is refused
on the very next request on every other. Install the driver with
``pip install 'nullptr_auth[redis]'``; ``rediss://`` connects over TLS::

    AuthMiddleware(app, database="redis://cache.internal:6379/0?prefix=shop:auth:")

Every key starts with a prefix (``nullptr_auth:`` unless ``key_prefix=`` or the URL's
``?prefix=`` says otherwise), so one Redis database can hold several applications::

    <prefix>user:<username>           hash   id, username, password_hash, created_at, disabled
    <prefix>user-id:<user id>         string the username, to find a user by id
    <prefix>users                     zset   every username, in order
    <prefix>session:<session id>      hash   the session and its username; expires with it
    <prefix>user-sessions:<user id>   set    the ids of a user's sessions
    <prefix>owners                    hash   session id -> user id, for every session
    <prefix>deadlines                 zset   session id, scored by when it ends
    <prefix>failure:<key>             hash   a run of failed logins; expires with it
    <prefix>failure-ends              zset   failure key, scored by when its run ends
    <prefix>secret-key                string the generated signing key

Times are integer microseconds since the epoch, so they round-trip exactly.

A session's key expires when the session ends (its earlier deadline), counted from the
moment the session was created or last touched, so Redis forgets ended sessions by
itself and its own clock does not matter. The indexes that name expired sessions are
cleaned by :meth:`RedisStore.purge_sessions`, which the middleware calls now and then.
Every change of more than one key is one Lua script, so it is atomic: two concurrent
registrations of one name admit one, and ending a user's sessions never half-happens.
Scripts reach keys they compute, so this store runs on one Redis server (with replicas
or Sentinel), not on Redis Cluster.

Any error of the driver (the server is down, a timeout, a failover) raises
:class:`~nullptr_auth.errors.StoreUnavailable`; the client reconnects by itself when the
server is back. A thread that reads sessions keeps one connection of the pool for its
reads (at most half the pool is kept so), as redis-py's ``single_connection_client``.
Without persistence (``appendonly``/``save``), a restart of Redis ends
every session and forgets every user kept in it, and the generated signing key: processes
then agree on a new one by themselves (see :class:`~nullptr_auth.tokens.StoredKeySigner`),
but configured ``secret_keys`` are the better choice with Redis.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import CredentialsChanged, StoreUnavailable, TooManySessions, UsernameTaken
from ..models import Session, User, UserRecord
from ._cache import MISS, CacheStats, SessionCache, megabytes_from
from ._kept import Kept
from ._tracking import MAX_AGE, MAX_LAG, Tracking, redis_listener
from .base import Reservation

if TYPE_CHECKING:
    import redis

DEFAULT_URL = "redis://127.0.0.1:6379/0"
DEFAULT_PREFIX = "nullptr_auth:"
PURGE_BATCH = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)

_PRELUDE = """
local prefix = ARGV[1]
local function session_key(id) return prefix .. 'session:' .. id end
local ended_ids = {}
local function end_session(id, user_id)
  local ended = redis.call('DEL', session_key(id))
  if ended == 1 then table.insert(ended_ids, id) end
  redis.call('SREM', prefix .. 'user-sessions:' .. user_id, id)
  redis.call('HDEL', prefix .. 'owners', id)
  redis.call('ZREM', prefix .. 'deadlines', id)
  return ended
end
local function end_sessions(user_id, keep)
  local ended = 0
  for _, id in ipairs(redis.call('SMEMBERS', prefix .. 'user-sessions:' .. user_id)) do
    if id ~= keep then ended = ended + end_session(id, user_id) end
  end
  return ended
end
"""
_ADD_USER = """
local key = prefix .. 'user:' .. ARGV[3]
if redis.call('EXISTS', key) == 1 then return 0 end
redis.call('HSET', key, 'id', ARGV[2], 'username', ARGV[3], 'password_hash', ARGV[4],
           'created_at', ARGV[5], 'disabled', ARGV[6])
redis.call('SET', prefix .. 'user-id:' .. ARGV[2], ARGV[3])
redis.call('ZADD', prefix .. 'users', 0, ARGV[3])
return 1
"""
_UPDATE_USER = """
local username = redis.call('GET', prefix .. 'user-id:' .. ARGV[2])
if not username then return {0, ended_ids} end
redis.call('HSET', prefix .. 'user:' .. username, ARGV[3], ARGV[4])
if ARGV[5] == '1' then end_sessions(ARGV[2], ARGV[6]) end
return {1, ended_ids}
"""
_DELETE_USER = """
local username = redis.call('GET', prefix .. 'user-id:' .. ARGV[2])
if not username then return {0, ended_ids} end
end_sessions(ARGV[2], '')
redis.call('DEL', prefix .. 'user:' .. username, prefix .. 'user-id:' .. ARGV[2])
redis.call('ZREM', prefix .. 'users', username)
return {1, ended_ids}
"""
_ADD_SESSION = """
local id, user_id, now = ARGV[2], ARGV[3], tonumber(ARGV[6])
local function is_live(expires, idle)
  return (expires == '' or now < tonumber(expires)) and (idle == '' or now < tonumber(idle))
end
if ARGV[17] ~= '' then
  local user = redis.call('HMGET', prefix .. 'user:' .. ARGV[4], 'id', 'password_hash', 'disabled')
  if user[1] ~= user_id or user[2] ~= ARGV[17] or user[3] ~= '0' then return {-1, ended_ids} end
end
if ARGV[15] ~= '' then
  local live = {}
  for _, other in ipairs(redis.call('SMEMBERS', prefix .. 'user-sessions:' .. user_id)) do
    local s = redis.call('HMGET', session_key(other), 'expires_at', 'idle_expires_at',
                         'last_seen_at', 'created_at')
    if not s[3] then
      end_session(other, user_id)
    elseif is_live(s[1], s[2]) then
      table.insert(live, {other, tonumber(s[3]), tonumber(s[4])})
    end
  end
  local excess = #live + 1 - tonumber(ARGV[15])
  if excess > 0 then
    if ARGV[16] ~= '1' then return {0, ended_ids} end
    table.sort(live, function(a, b)
      if a[2] ~= b[2] then return a[2] < b[2] end
      if a[3] ~= b[3] then return a[3] < b[3] end
      return a[1] < b[1]
    end)
    for i = 1, math.min(excess, #live) do end_session(live[i][1], user_id) end
  end
end
redis.call('HSET', session_key(id), 'user_id', user_id, 'username', ARGV[4],
           'token_hash', ARGV[5], 'created_at', ARGV[6], 'last_seen_at', ARGV[7],
           'expires_at', ARGV[8], 'idle_expires_at', ARGV[9], 'user_agent', ARGV[10],
           'ip', ARGV[11], 'device', ARGV[12])
if ARGV[13] ~= '' then redis.call('PEXPIRE', session_key(id), ARGV[13]) end
redis.call('SADD', prefix .. 'user-sessions:' .. user_id, id)
redis.call('HSET', prefix .. 'owners', id, user_id)
redis.call('ZADD', prefix .. 'deadlines', ARGV[14], id)
return {1, ended_ids}
"""
_TOUCH_SESSION = """
local key, seen, idle = session_key(ARGV[2]), ARGV[3], ARGV[4]
local expires = redis.call('HGET', key, 'expires_at')
if not expires then return 0 end
redis.call('HSET', key, 'last_seen_at', seen, 'idle_expires_at', idle)
local ends = expires
if ends == '' or (idle ~= '' and tonumber(idle) < tonumber(ends)) then ends = idle end
if ends == '' then
  redis.call('PERSIST', key)
  redis.call('ZADD', prefix .. 'deadlines', '+inf', ARGV[2])
else
  local ttl = math.max(1, math.ceil((tonumber(ends) - tonumber(seen)) / 1000))
  redis.call('PEXPIRE', key, string.format('%d', ttl))
  redis.call('ZADD', prefix .. 'deadlines', ends, ARGV[2])
end
return 1
"""
_DELETE_SESSION = """
local owner = redis.call('HGET', session_key(ARGV[2]), 'user_id')
if not owner or (ARGV[3] ~= '' and owner ~= ARGV[3]) then return 0 end
return end_session(ARGV[2], owner)
"""
_DELETE_SESSIONS = "return {end_sessions(ARGV[2], ARGV[3]), ended_ids}"
_PURGE = """
local ids = redis.call('ZRANGEBYSCORE', prefix .. 'deadlines', '-inf', ARGV[2],
                       'LIMIT', 0, ARGV[3])
local purged = 0
for _, id in ipairs(ids) do
  purged = purged + end_session(id, redis.call('HGET', prefix .. 'owners', id) or '')
end
local runs = redis.call('ZRANGEBYSCORE', prefix .. 'failure-ends', '-inf', ARGV[2],
                        'LIMIT', 0, ARGV[3])
for _, run in ipairs(runs) do
  redis.call('DEL', prefix .. 'failure:' .. run)
  redis.call('ZREM', prefix .. 'failure-ends', run)
end
return {purged, math.max(#ids, #runs), ended_ids}
"""
_RESERVE_ATTEMPTS = """
local now = tonumber(ARGV[2])
local runs = {}
for i = 3, #ARGV, 4 do
  local key = prefix .. 'failure:' .. ARGV[i]
  local run = redis.call('HMGET', key, 'count', 'ends_at')
  local live = run[1] and tonumber(run[2]) > now
  if live and tonumber(run[1]) >= tonumber(ARGV[i + 3]) then return (i - 3) / 4 end
  table.insert(runs, {key, ARGV[i], live})
end
for n, run in ipairs(runs) do
  local i = 3 + (n - 1) * 4
  if run[3] then
    redis.call('HINCRBY', run[1], 'count', 1)
  else
    redis.call('HSET', run[1], 'count', 1)
  end
  local ends = now + tonumber(ARGV[i + 1])
  redis.call('HSET', run[1], 'last_failure_at', ARGV[2], 'ends_at', string.format('%d', ends))
  redis.call('PEXPIRE', run[1], ARGV[i + 2])
  redis.call('ZADD', prefix .. 'failure-ends', ends, run[2])
end
return -1
"""
_RELEASE_ATTEMPTS = """
local uncount = tonumber(ARGV[2])
for i = 3, #ARGV do
  local key = prefix .. 'failure:' .. ARGV[i]
  if i >= 3 + uncount or redis.call('HINCRBY', key, 'count', -1) <= 0 then
    redis.call('DEL', key)
    redis.call('ZREM', prefix .. 'failure-ends', ARGV[i])
  end
end
"""


class RedisStore:
    """A :class:`~nullptr_auth.stores.base.Store` in one Redis database.

    :param url: ``redis://[[user]:password@]host:port/N`` or ``rediss://…``; a
        ``?prefix=`` query sets the key prefix. Ignored when ``client`` is given.
    :param client: a ``redis.Redis`` client to use instead of making one from ``url``
        (it must not decode responses); it stays its owner's to close.
    :param key_prefix: the start of every key; overrides the URL's ``?prefix=``.
    :param connect_timeout: seconds to wait for a connection before giving up.
    :param timeout: seconds to wait for an answer (or for a free connection) before
        giving up.
    :param max_connections: how many connections this object keeps at most; more
        threads at once wait for one.
    :param cache_megabytes: the budget of the session cache (``_cache.py``); ``0`` reads
        every session from Redis. Overrides the URL's ``?cache=off`` / ``?cache_mb=``.
    :raises ImportError: if the ``redis`` package is not installed.
    :raises ValueError: if the prefix is empty or the client decodes responses.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        client: redis.Redis | None = None,
        key_prefix: str | None = None,
        connect_timeout: float = 2.0,
        timeout: float = 2.0,
        max_connections: int = 50,
        cache_megabytes: float | None = None,
    ) -> None:
        driver = _driver()
        url, url_prefix = _split_query(url, "prefix")
        url, cache = _split_query(url, "cache")
        url, cache_mb = _split_query(url, "cache_mb")
        self.key_prefix = key_prefix if key_prefix is not None else url_prefix or DEFAULT_PREFIX
        if not self.key_prefix:
            raise ValueError("key_prefix must not be empty")
        self._owns_client = client is None
        # A blocking pool: a burst of more threads than connections waits its turn (up
        # to ``timeout``) instead of failing at once, as redis-py's default pool does.
        self._client: redis.Redis = client or driver.Redis(
            connection_pool=driver.BlockingConnectionPool.from_url(
                url,
                max_connections=max_connections,
                timeout=timeout,
                socket_connect_timeout=connect_timeout,
                socket_timeout=timeout,
                retry=driver.retry.Retry(driver.backoff.ExponentialBackoff(cap=0.2), retries=1),
            )
        )
        if self._client.get_encoder().decode_responses:
            raise ValueError("the Redis client must not decode responses (decode_responses)")
        self._tracking = Tracking(
            redis_listener(self._tracking_connection, self.key_prefix),
            f"nullptr_auth redis tracking {self.key_prefix}",
        )
        self.cache = SessionCache(
            self._tracking,
            megabytes=megabytes_from(cache, cache_mb, cache_megabytes, default=0.0),
            max_age=MAX_AGE,
        )
        self._errors = driver.RedisError
        self._driver = driver
        self._kept: Kept[redis.Redis] = Kept()  # threads' clients for reads: _reading_client
        register = self._client.register_script
        self._add_user, self._update_user, self._delete_user = (
            register(_PRELUDE + _ADD_USER),
            register(_PRELUDE + _UPDATE_USER),
            register(_PRELUDE + _DELETE_USER),
        )
        self._add_session, self._touch_session = (
            register(_PRELUDE + _ADD_SESSION),
            register(_PRELUDE + _TOUCH_SESSION),
        )
        self._delete_session, self._delete_sessions, self._purge = (
            register(_PRELUDE + _DELETE_SESSION),
            register(_PRELUDE + _DELETE_SESSIONS),
            register(_PRELUDE + _PURGE),
        )
        self._reserve_attempts, self._release_attempts = (
            register(_PRELUDE + _RESERVE_ATTEMPTS),
            register(_PRELUDE + _RELEASE_ATTEMPTS),
        )

    def __repr__(self) -> str:
        kwargs = self._client.connection_pool.connection_kwargs
        where = f"{kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('db', 0)}"
        return f"<RedisStore {where} prefix={self.key_prefix!r}>"

    # -- users ------------------------------------------------------------------------
    def add_user(self, user: UserRecord) -> None:
        created = self._run(
            self._add_user,
            user.id,
            user.username,
            user.password_hash,
            _micros(user.created_at),
            int(user.disabled),
        )
        if not created:
            raise UsernameTaken()

    def get_user(self, username: str) -> UserRecord | None:
        with self._reaching():
            fields = self._hash(self._key("user:", username))
        return _user(fields) if fields else None

    def list_users(self) -> list[UserRecord]:
        with self._reaching():
            names = _texts(self._client.zrange(self._key("users"), 0, -1))
            found = self._fetch_all(self._key("user:", name) for name in names)
        return [_user(fields) for fields in found]

    def set_password_hash(
        self, user_id: str, password_hash: str, *, end_sessions: bool, keep: str | None = None
    ) -> bool:
        return bool(
            self._ending(
                self._update_user, user_id, "password_hash", password_hash, int(end_sessions), keep
            )
        )

    def set_disabled(self, user_id: str, disabled: bool) -> bool:
        return bool(
            self._ending(self._update_user, user_id, "disabled", int(disabled), int(disabled), "")
        )

    def delete_user(self, user_id: str) -> bool:
        return bool(self._ending(self._delete_user, user_id))

    # -- sessions ---------------------------------------------------------------------
    def add_session(
        self,
        user: User,
        session: Session,
        *,
        limit: int | None = None,
        evict: bool = True,
        verified_hash: str | None = None,
    ) -> None:
        ends_at = session.ends_at
        ttl = None if ends_at is None else _milliseconds(ends_at - session.created_at)
        added = self._ending(
            self._add_session,
            session.id,
            user.id,
            user.username,
            session.token_hash,
            _micros(session.created_at),
            _micros(session.last_seen_at),
            _optional_micros(session.expires_at),
            _optional_micros(session.idle_expires_at),
            session.user_agent,
            session.ip,
            session.device,
            ttl,
            "+inf" if ends_at is None else _micros(ends_at),
            limit,
            int(evict),
            verified_hash,
        )
        if added == -1:
            raise CredentialsChanged()
        if not added:
            raise TooManySessions()

    def cache_stats(self) -> CacheStats | None:
        """The session cache's hits, misses, entries and bytes; ``None`` with it off.
        Read by :mod:`nullptr_auth.metrics` when scraped."""
        return self.cache.stats()

    def find_session(self, session_id: str) -> tuple[User, Session] | None:
        """From this process's cache while Redis has pushed no change of the session."""
        return self.cache.get(session_id, self._read_session)

    def cached_session(self, session_id: str) -> tuple[User, Session] | None:
        """The session from this process's cache if it certainly holds now, without
        I/O (CachingStore: an event loop calls it); ``None`` when only a read can tell."""
        found = self.cache.peek(session_id)
        return None if found is MISS else found  # type: ignore[return-value]

    def _read_session(self, session_id: str) -> tuple[User, Session] | None:
        """One ``HMGET`` of the fields a session needs: the answer is half the size of
        ``HGETALL``'s (values, not names and values), and redis-py parses it in Python."""
        try:
            values = cast(
                "list[bytes | None]",
                self._reading_client().hmget(self._key("session:", session_id), _SESSION_FIELDS),
            )
        except self._errors as exc:
            raise StoreUnavailable() from exc
        if values[0] is None:  # no such hash: every field is missing, user_id first
            return None
        fields = cast("list[bytes]", values)
        return User(fields[0].decode(), fields[1].decode()), _session_of(session_id, fields)

    def _reading_client(self) -> redis.Redis:
        """This thread's client for reads, on a connection checked out of the pool once
        and kept (redis-py's ``single_connection_client``, as the floor's): the pool's
        checkout and return cost a queue, a non-blocking ``recv`` and two
        ``settimeout`` calls a read (docs/performance.md, stop 18). Errors, retries
        and reconnection are redis-py's own, as through the pool.

        At most half the pool is kept; past that, and in a forked child until it keeps
        its own, reads go through the pool. The connection of a thread that has ended
        goes back to the pool when another thread keeps one.
        """
        kept = self._kept.mine()
        if kept is not None:
            return kept
        pool = self._client.connection_pool
        kept = self._kept.keep(
            lambda: self._driver.Redis(connection_pool=pool, single_connection_client=True),
            limit=getattr(pool, "max_connections", 2) // 2,
            release=lambda ended: ended.close(),
        )
        return self._client if kept is None else kept

    def list_sessions(self, user_id: str | None = None) -> list[Session]:
        """Sessions Redis still holds: it forgets each at its deadline."""
        with self._reaching():
            if user_id is None:
                ids = _texts(self._client.zrange(self._key("deadlines"), 0, -1))
            else:
                ids = _texts(self._client.smembers(self._key("user-sessions:", user_id)))
            found = self._fetch_all(self._key("session:", name) for name in ids)
        sessions = [_session(i, fields) for i, fields in zip(ids, found, strict=True) if fields]
        return sorted(sessions, key=lambda session: (session.created_at, session.id))

    def touch_session(
        self, session_id: str, last_seen_at: datetime, idle_expires_at: datetime | None
    ) -> None:
        self._run(
            self._touch_session,
            session_id,
            _micros(last_seen_at),
            _optional_micros(idle_expires_at),
        )
        self._tracking.changed([session_id])

    def delete_session(self, session_id: str, user_id: str | None = None) -> bool:
        ended = bool(self._run(self._delete_session, session_id, user_id))
        if ended:
            self._tracking.changed([session_id])
        return ended

    def delete_sessions(self, user_id: str, *, keep: str | None = None) -> int:
        return int(self._ending(self._delete_sessions, user_id, keep))

    def purge_sessions(self, now: datetime) -> int:
        """Delete sessions and runs of failures past their end, in atomic batches."""
        purged, seen = 0, PURGE_BATCH
        while seen == PURGE_BATCH:
            batch, seen, ended = self._run(self._purge, _micros(now), PURGE_BATCH)
            self._tracking.changed(_texts(ended))
            purged += int(batch)
        return purged

    # -- throttling counters ----------------------------------------------------------
    def reserve_attempts(self, reservations: Sequence[Reservation], now: datetime) -> int | None:
        arguments: list[object] = [_micros(now)]
        for reservation in reservations:
            arguments += [
                reservation.key,
                _micros(_EPOCH + reservation.window),
                _milliseconds(reservation.window),
                reservation.ceiling,
            ]
        refused = int(self._run(self._reserve_attempts, *arguments))
        return None if refused < 0 else refused

    def get_failures(self, key: str, now: datetime) -> tuple[int, datetime] | None:
        with self._reaching():
            count, last, ends = cast(
                "list[bytes | None]",
                self._client.hmget(
                    self._key("failure:", key), ["count", "last_failure_at", "ends_at"]
                ),
            )
        if count is None or last is None or ends is None or int(ends) <= _micros(now):
            return None
        return int(count), _datetime(last)

    def release_attempts(self, uncount: Sequence[str], end: Sequence[str]) -> None:
        self._run(self._release_attempts, len(uncount), *uncount, *end)

    # -- the signing key --------------------------------------------------------------
    def get_or_create_secret_key(self, candidate: bytes) -> bytes:
        """The kept key, read first; a Redis that lost it gets ``candidate`` back, unless
        another process wrote one first (``SET NX``: the first writer wins)."""
        key = self._key("secret-key")
        with self._reaching():
            kept = cast("bytes | None", self._client.get(key))
            if kept is None:
                self._client.set(key, candidate, nx=True)
                kept = cast("bytes | None", self._client.get(key))
        if kept is None:  # deleted between the two commands: keep asking
            return self.get_or_create_secret_key(candidate)
        return kept

    def close(self) -> None:
        """Disconnect the client this store made; an injected client is left open."""
        self._tracking.close()
        self.cache.clear()
        for client in self._kept.clear():
            client.close()  # its connection back to the pool
        if self._owns_client:
            self._client.close()
            self._client.connection_pool.disconnect()

    # -- talking to Redis -------------------------------------------------------------
    def _key(self, kind: str, name: str = "") -> str:
        return f"{self.key_prefix}{kind}{name}"

    def _run(self, script: Any, *args: object) -> Any:
        """Run one of the scripts with the prefix first; ``None`` travels as ``''``."""
        values = [self.key_prefix, *("" if arg is None else arg for arg in args)]
        with self._reaching():
            return script(keys=[], args=values)

    def _ending(self, script: Any, *args: object) -> Any:
        """Run a script that answers ``{result, ids of the sessions it ended}``; this
        process refuses those sessions from now on (others when Redis tells them)."""
        result, ended = self._run(script, *args)
        self._tracking.changed(_texts(ended))
        return result

    def _tracking_connection(self) -> Any:
        """A new connection like the client's, speaking RESP3, for the listener."""
        pool = self._client.connection_pool
        kwargs = dict(
            pool.connection_kwargs,
            protocol=3,
            socket_timeout=2 * MAX_LAG,
            client_name=f"nullptr_auth-tracking-{self.key_prefix}",
        )
        return pool.connection_class(**kwargs)

    def _hash(self, key: str) -> dict[bytes, bytes]:
        return cast("dict[bytes, bytes]", self._client.hgetall(key))

    def _fetch_all(self, keys: Iterator[str]) -> list[dict[bytes, bytes]]:
        """Many hashes in one round trip (not atomic: a missing one comes back empty)."""
        pipeline = self._client.pipeline(transaction=False)
        for key in keys:
            pipeline.hgetall(key)
        return cast("list[dict[bytes, bytes]]", pipeline.execute())

    @contextlib.contextmanager
    def _reaching(self) -> Iterator[None]:
        try:
            yield
        except self._errors as exc:
            raise StoreUnavailable() from exc


def _driver() -> Any:
    """The ``redis`` package, imported on first use so that it stays optional."""
    try:
        import redis
        import redis.backoff
        import redis.retry
    except ImportError as exc:
        raise ImportError(
            "the Redis store needs the redis package: pip install 'nullptr_auth[redis]'"
        ) from exc
    return redis


def _split_query(url: str, argument: str) -> tuple[str, str | None]:
    """The URL without one of our query arguments, and its (last) value."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    values = [value for name, value in query if name == argument]
    rest = urlencode([(name, value) for name, value in query if name != argument])
    return urlunsplit(parts._replace(query=rest)), (values[-1] if values else None)


def _texts(values: Any) -> list[str]:
    """Names as Redis answers them (bytes: this client does not decode)."""
    return [value.decode() for value in values]


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def _optional_micros(moment: datetime | None) -> int | None:
    return None if moment is None else _micros(moment)


def _datetime(micros: bytes) -> datetime:
    return _EPOCH + int(micros) * _MICROSECOND


def _optional_datetime(micros: bytes) -> datetime | None:
    return _datetime(micros) if micros else None


def _milliseconds(duration: timedelta) -> int:
    """A TTL that does not run out before ``duration``, and at least 1 ms."""
    return max(1, -(-duration // timedelta(milliseconds=1)))


def _user(fields: Mapping[bytes, bytes]) -> UserRecord:
    return UserRecord(
        fields[b"id"].decode(),
        fields[b"username"].decode(),
        fields[b"password_hash"].decode(),
        _datetime(fields[b"created_at"]),
        fields[b"disabled"] == b"1",
    )


_SESSION_FIELDS = (
    b"user_id",
    b"username",
    b"created_at",
    b"last_seen_at",
    b"expires_at",
    b"idle_expires_at",
    b"user_agent",
    b"ip",
    b"device",
    b"token_hash",
)


def _session(session_id: str, fields: Mapping[bytes, bytes]) -> Session:
    return _session_of(session_id, [fields[name] for name in _SESSION_FIELDS])


def _session_of(session_id: str, values: Sequence[bytes]) -> Session:
    """A session from the values of ``_SESSION_FIELDS``, in that order."""
    user_id, _, created, seen, expires, idle, agent, ip, device, token_hash = values
    return Session(
        session_id,
        user_id.decode(),
        _datetime(created),
        _datetime(seen),
        _optional_datetime(expires),
        _optional_datetime(idle),
        agent.decode(),
        ip.decode(),
        device.decode(),
        token_hash,
    )
