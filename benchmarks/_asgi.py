"""ASGI: how long the middleware holds the event loop, and what a request costs.

Two parts, both in this process on one asyncio loop:

* **Loop holds under a mixed load.** Tasks log in (``POST /session`` with the default
  argon2 hasher, on a SQLite store) while others send authenticated requests as fast as
  the loop lets them. Every callback the loop runs is timed (``Handle._run``): in the
  loop thread's CPU time, which is the time the loop was *held* by the code it ran, and
  in wall time, which adds the waits for the GIL that worker threads (hashing, SQLite)
  hold in turns of ``sys.getswitchinterval()``. The target is on the first: no hold
  over 1 ms.

  On this machine (a KVM guest on shared cores) any step of plain Python, alone in its
  process, now and then takes milliseconds of CPU time that are not its own work, at
  random: the hypervisor's stalls are charged to whatever thread ran. So one maximum
  over 100,000 steps measures the machine, not the code. The target is therefore
  checked on each *kind* of step, the code between the same two suspension points (a
  coroutine resumed at one ``await`` and suspended at the next, or the same plain
  callback): a kind's hold is its 99.9th percentile, which a stall hitting one in
  100,000 steps cannot move, while code that is long every time it runs, or in more
  than one run in a thousand, shows in full. The single longest steps, ours and the
  control's, are printed beside it.
* **Overhead per authenticated request**, interleaved in rounds like the in-process
  table: ``nullptr_auth.asgi`` (SQLite, 100k sessions) over a bare ASGI app, against a
  hand-written floor (Starlette's ``AuthenticationMiddleware`` with a backend doing one
  itsdangerous signature check and one store lookup: an indexed SQLite query, or a
  dict), and, when it is installed, against fastapi-users (FastAPI, its database
  strategy on in-memory token and user tables, so also one lookup per request) over
  the same FastAPI endpoint without authentication.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import hmac
import json
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import cycle, islice
from pathlib import Path
from typing import Any

from _common import BENCH_KEY, PASSWORD, USERNAME
from _floor import FLOOR_USER, DictLookup, Lookup, SQLiteLookup, _signer, floor_db
from _populate import sessions_db
from _report import Target, micros, table, times
from _timing import Rounds, interleave

from nullptr_auth.asgi import AuthMiddleware
from nullptr_auth.stores import SQLiteStore

try:  # fastapi-users' row needs FastAPI; annotations of its endpoints must resolve here
    from fastapi import Request as FastAPIRequest
except ImportError:  # pragma: no cover
    FastAPIRequest = Any  # type: ignore[misc,assignment]

MAIN_SIZE = 100_000
HOT_SET = 16
CONTROL_WORK = 150
"""The control's step builds and drops a dict of ``CONTROL_WORK`` strings and lists: about
20 µs of allocating Python, a cached request's length and kind of work."""


class _Uncached(SQLiteStore):
    """SQLite without the non-blocking seam: every lookup goes to a worker thread."""

    def cached_session(self, session_id: str) -> None:  # type: ignore[override]
        return None


_START = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]}
_BODY = {"type": "http.response.body", "body": b"hello"}


async def bare(scope: Any, receive: Any, send: Any) -> None:
    """The bare ASGI app: two messages, so overheads stand out."""
    await send(_START)
    await send(_BODY)


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: Any) -> None:
    return None


def scope(headers: dict[str, str] | None = None, path: str = "/hello") -> dict[str, Any]:
    """An ``http`` scope as uvicorn builds it."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "GET",
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench/1")]
        + [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "state": {},
    }


@dataclass
class AsgiContender:
    """One ASGI app and the scopes it is timed on, shaped like ``_timing.Contender``.

    Every request gets a fresh copy of its scope and header list (the middleware
    replaces the headers), the bare app's too, so the copy costs the same on every row.
    """

    name: str
    app: Any
    scopes: Sequence[dict[str, Any]]
    loop: asyncio.AbstractEventLoop
    base: str | None = "bare app"
    floor: str | None = None
    _requests: Iterator[dict[str, Any]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._requests = cycle(self.scopes)

    def batch(self, calls: int) -> float:
        return self.loop.run_until_complete(self._batch(calls))

    async def _batch(self, calls: int) -> float:
        app = self.app
        start = time.perf_counter()
        for request in islice(self._requests, calls):
            copy = dict(request)
            copy["headers"] = list(request["headers"])
            await app(copy, _receive, _send)
        return (time.perf_counter() - start) / calls


# -- the floor: Starlette's AuthenticationMiddleware and a hand-written backend --------
def floor_app(lookup: Lookup) -> Any:
    from starlette.authentication import (
        AuthCredentials,
        AuthenticationBackend,
        SimpleUser,
    )
    from starlette.middleware.authentication import AuthenticationMiddleware

    signer = _signer()

    class FloorBackend(AuthenticationBackend):
        """One signature check and one lookup; anything wrong is anonymous."""

        async def authenticate(self, conn: Any) -> Any:
            username, token = conn.headers.get("username"), conn.headers.get("token")
            if not username or not token:
                return None
            try:
                session_id = signer.unsign(token).decode("ascii").partition(".")[0]
            except Exception:
                return None
            digest = hashlib.sha256(token.encode("ascii")).digest()
            row = lookup(session_id)
            if (
                row is None
                or not hmac.compare_digest(digest, row[2])
                or row[1] != username.lower()
                or row[3] <= time.time()
            ):
                return None
            return AuthCredentials(["authenticated"]), SimpleUser(row[1])

    return AuthenticationMiddleware(bare, backend=FloorBackend())


# -- fastapi-users: a FastAPI app with its database strategy in memory -----------------
def fastapi_contenders(
    loop: asyncio.AbstractEventLoop, auth: AuthMiddleware, token: str
) -> list[AsgiContender]:
    """FastAPI bare, FastAPI under nullptr_auth.asgi, and FastAPI with fastapi-users."""
    try:
        from fastapi import Depends, FastAPI, Response
        from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin
        from fastapi_users.authentication import AuthenticationBackend, BearerTransport
        from fastapi_users.authentication.strategy.db import DatabaseStrategy
    except ImportError:
        return []

    @dataclass
    class User:
        id: uuid.UUID
        email: str
        hashed_password: str = ""
        is_active: bool = True
        is_superuser: bool = False
        is_verified: bool = True

    @dataclass
    class AccessToken:
        token: str
        user_id: uuid.UUID
        created_at: Any

    class Users:
        def __init__(self) -> None:
            self.rows: dict[uuid.UUID, User] = {}

        async def get(self, id: uuid.UUID) -> User | None:
            return self.rows.get(id)

    class Tokens:
        def __init__(self) -> None:
            self.rows: dict[str, AccessToken] = {}

        async def get_by_token(self, token: str, max_age: Any = None) -> AccessToken | None:
            return self.rows.get(token)

    users, tokens = Users(), Tokens()
    alice = User(uuid.uuid4(), "alice@example.com")
    users.rows[alice.id] = alice
    from datetime import datetime, timezone

    bearer = "fastapi-users-" + uuid.uuid4().hex
    tokens.rows[bearer] = AccessToken(bearer, alice.id, datetime.now(timezone.utc))

    class Manager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):  # type: ignore[type-var]
        reset_password_token_secret = verification_token_secret = BENCH_KEY

    async def manager() -> Any:
        yield Manager(users)  # type: ignore[arg-type]

    backend = AuthenticationBackend(
        name="db",
        transport=BearerTransport(tokenUrl="login"),
        get_strategy=lambda: DatabaseStrategy(tokens, lifetime_seconds=3600),  # type: ignore[arg-type]
    )
    current = FastAPIUsers[User, uuid.UUID](manager, [backend]).current_user(active=True)  # type: ignore[type-var]

    def hello_response() -> Response:
        return Response(b"hello", media_type="text/plain")

    plain = FastAPI()
    plain.get("/hello")(lambda: hello_response())

    with_users = FastAPI()

    @with_users.get("/hello")
    def users_hello(user: Any = Depends(current)) -> Response:  # noqa: B008 - FastAPI's way
        return hello_response()

    def scoped_user(request: FastAPIRequest) -> Any:
        user = request.scope.get("nullptr_auth.user")
        if user is None:
            raise RuntimeError("anonymous")
        return user

    ours = FastAPI()

    @ours.get("/hello")
    def ours_hello(user: Any = Depends(scoped_user)) -> Response:  # noqa: B008 - FastAPI's way
        return hello_response()

    nullptr = AuthMiddleware(ours, auth.store, secret_keys=[BENCH_KEY], max_sessions_per_user=None)
    pair = {"Username": USERNAME, "Token": token}
    return [
        AsgiContender("FastAPI bare", plain, [scope()], loop, base=None),
        AsgiContender(
            "FastAPI + nullptr_auth.asgi",
            nullptr,
            [scope(pair)],
            loop,
            base="FastAPI bare",
            floor="FastAPI + fastapi-users",
        ),
        AsgiContender(
            "FastAPI + fastapi-users",
            with_users,
            [scope({"Authorization": f"Bearer {bearer}"})],
            loop,
            base="FastAPI bare",
        ),
    ]


# -- the overhead table ----------------------------------------------------------------
def overhead(quick: bool, log: Callable[[str], None]) -> tuple[str, list[Target]]:
    population = sessions_db(MAIN_SIZE, log=log)
    floor = floor_db(MAIN_SIZE)
    loop = asyncio.new_event_loop()
    auth = AuthMiddleware(bare, population.url, secret_keys=[BENCH_KEY], max_sessions_per_user=None)
    # A working set the store's per-process cache holds (it keeps a copy 5 s): every
    # request of it is answered on the loop, but the once-a-minute activity write of
    # each session, which goes to a worker thread like every cache miss. The row
    # "no cache" is every request through the thread (Redis and PostgreSQL today).
    tokens = population.tokens[:HOT_SET] or (population.hot_token,)
    ours = [scope({"Username": USERNAME, "Token": t}) for t in tokens]
    floors = [scope({"Username": FLOOR_USER, "Token": t}) for t in floor.tokens[:HOT_SET]]
    uncached = AuthMiddleware(
        bare, _Uncached(population.path), secret_keys=[BENCH_KEY], max_sessions_per_user=None
    )
    contenders = [
        AsgiContender("bare app", bare, [scope()], loop, base=None),
        AsgiContender("nullptr_auth.asgi SQLite 100k", auth, ours, loop, floor="floor SQLite 100k"),
        AsgiContender(
            "nullptr_auth.asgi, no cache (a thread per request)",
            uncached,
            ours,
            loop,
            floor="floor SQLite 100k",
        ),
        AsgiContender("floor SQLite 100k", floor_app(SQLiteLookup(floor.path)), floors, loop),
        AsgiContender("floor dict 100k", floor_app(DictLookup(floor.path)), floors, loop),
        *fastapi_contenders(loop, auth, population.hot_token),
    ]
    try:
        for contender in contenders:  # every row answers 200 before it is timed
            _check(contender)
        rounds = interleave(
            contenders,  # type: ignore[arg-type]
            rounds=12 if quick else 30,
            batch_seconds=0.01 if quick else 0.02,
            progress=log,
        )
    finally:
        loop.close()
    return _overhead_report(rounds, contenders)


def _check(contender: AsgiContender) -> None:
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    for request in contender.scopes:  # also warms the caches of the working set
        copy = dict(request)
        copy["headers"] = list(request["headers"])
        contender.loop.run_until_complete(contender.app(copy, _receive, send))
        status = sent[-2]["status"]
        if status != 200:
            raise RuntimeError(f"{contender.name} answered {status}: {sent[-1]}")


def _overhead_report(rounds: Rounds, contenders: list[AsgiContender]) -> tuple[str, list[Target]]:
    rows = []
    for contender in contenders:
        low, high = rounds.quartiles(contender.name)
        extra = (
            ""
            if contender.base is None
            else micros(rounds.overhead(contender.name, contender.base))
        )
        versus = None
        if contender.floor is not None and contender.base is not None:
            versus = rounds.ratio(
                rounds.overheads(contender.name, contender.base),
                rounds.overheads(contender.floor, contender.base),
            )
        rows.append(
            [
                contender.name,
                micros(rounds.median(contender.name)),
                f"{micros(low)}-{micros(high)}",
                extra,
                times(versus),
            ]
        )
    text = table(["contender", "µs/request", "quartiles", "overhead µs", "vs floor"], rows)
    names = {c.name for c in contenders}
    targets = [
        Target(
            "ASGI authenticated, SQLite 100k: overhead / Starlette floor's (SQLite)",
            _ratio(rounds, "nullptr_auth.asgi SQLite 100k", "floor SQLite 100k", "bare app"),
            1.0,
        ),
        Target(
            "ASGI authenticated, SQLite 100k: overhead / Starlette floor's (dict)",
            _ratio(rounds, "nullptr_auth.asgi SQLite 100k", "floor dict 100k", "bare app"),
            1.0,
            stretch=True,
        ),
    ]
    if "FastAPI + fastapi-users" in names:
        targets.append(
            Target(
                "FastAPI: nullptr_auth.asgi's overhead / fastapi-users' (database strategy)",
                _ratio(
                    rounds, "FastAPI + nullptr_auth.asgi", "FastAPI + fastapi-users", "FastAPI bare"
                ),
                1.0,
            )
        )
    return text, targets


def _ratio(rounds: Rounds, name: str, other: str, base: str) -> float:
    return rounds.ratio(rounds.overheads(name, base), rounds.overheads(other, base))


# -- loop holds under a mixed load -------------------------------------------------------
@dataclass
class Holds:
    cpu: list[float] = field(default_factory=list)  # loop CPU per callback, GC left out
    kinds: dict[str, list[float]] = field(default_factory=dict)  # the same, by kind
    wall: list[float] = field(default_factory=list)
    longest: list[tuple[float, str]] = field(default_factory=list)  # (CPU s, what ran)
    collections: list[float] = field(default_factory=list)  # loop CPU of each GC pause
    idle: list[float] = field(default_factory=list)  # the control task's steps


def _what(handle: Any, gcs: int) -> str:
    """The callback a hold ran: a task's coroutine, or the callback's name."""
    callback = getattr(handle, "_callback", None)
    task = getattr(callback, "__self__", None)
    coro = task.get_coro() if isinstance(task, asyncio.Task) else None
    name = getattr(coro, "__qualname__", None) or getattr(callback, "__qualname__", repr(callback))
    return f"{name}" + (f" ({gcs} garbage collections)" if gcs else "")


def _suspension_point(handle: Any) -> str:
    """Where a task's coroutine stands: the innermost frame of its ``await`` chain in
    nullptr_auth (else in this benchmark), and the innermost of all (asyncio's, anyio's)."""
    task = getattr(getattr(handle, "_callback", None), "__self__", None)
    if not isinstance(task, asyncio.Task):
        return ""
    if task.done():
        return "done"
    ours = innermost = ""
    awaiting = task.get_coro()
    while awaiting is not None:
        frame = getattr(awaiting, "cr_frame", None) or getattr(awaiting, "gi_frame", None)
        if frame is not None:
            path = Path(frame.f_code.co_filename)
            innermost = f"{path.name}:{frame.f_lineno}"
            if path.parent.name == "nullptr_auth" or not ours:
                ours = innermost
        awaiting = getattr(awaiting, "cr_await", None) or getattr(awaiting, "gi_yieldfrom", None)
    return ours if ours == innermost else f"{ours} ({innermost})"


def _percentile(values: list[float], share: float) -> float:
    """``values`` sorted."""
    return values[min(len(values) - 1, int(share * len(values)))]


def loop_holds(quick: bool, log: Callable[[str], None]) -> tuple[str, list[Target]]:
    """Logins and authenticated requests at once; every loop callback timed."""
    with tempfile.TemporaryDirectory() as directory:
        auth = AuthMiddleware(
            bare, f"sqlite:///{Path(directory) / 'auth.db'}", secret_keys=[BENCH_KEY]
        )
        auth.accounts.create(USERNAME, PASSWORD)  # the default argon2 hasher
        _, token = auth.sessions.login(USERNAME, PASSWORD)
        seconds = 3.0 if quick else 10.0
        log(f"mixed load for {seconds:.0f} s")
        holds, counts = asyncio.run(_mixed(auth, token, seconds))
        auth.store.close()
    cpu, wall = sorted(holds.cpu), sorted(holds.wall)
    at = _percentile

    rows = [
        [
            kind,
            f"{len(values):,}",
            micros(statistics.median(values)),
            micros(at(values, 0.99)),
            micros(at(values, 0.999)),
            micros(values[-1]),
        ]
        for kind, values in (("loop thread CPU", cpu), ("wall", wall))
    ]
    text = table(["per callback", "callbacks", "median µs", "p99 µs", "p99.9 µs", "max µs"], rows)
    text += (
        f"\n\n{counts['logins']} logins and {counts['requests']:,} authenticated requests"
        f" in {seconds:.0f} s (2 login tasks, 8 request tasks)."
    )
    for spent, what in sorted(holds.longest, reverse=True)[:3]:
        text += f"\nA hold of {spent * 1e3:.2f} ms of loop CPU: {what}."
    pauses = sorted(holds.collections) or [0.0]
    idle = sorted(holds.idle) or [0.0]

    def over_1_ms(values: list[float]) -> str:
        return f"{sum(value > 0.001 for value in values) * 1e5 / len(values):.1f}"

    text += (
        f"\nGarbage collections in the loop thread: {len(holds.collections)}, the longest"
        f" {pauses[-1] * 1e3:.2f} ms of loop CPU (left out of the rows above: the"
        " interpreter's collector walks every object of the process, whoever made it)."
        f"\nThe control, 8 tasks of plain-Python steps beside ours: {len(idle):,} steps,"
        f" median {micros(statistics.median(idle))} µs, the longest {idle[-1] * 1e3:.2f} ms"
        " of loop CPU (what this machine and interpreter alone do to a step)."
        f"\nSteps over 1 ms per 100,000: ours {over_1_ms(cpu)}, the control's {over_1_ms(idle)}."
    )
    kinds = sorted(
        ((at(sorted(values), 0.999), len(values), kind) for kind, values in holds.kinds.items()),
        reverse=True,
    )
    longest_kind = kinds[0][0] if kinds else 0.0
    text += "\n\nThe kinds of step that hold the loop longest (99.9th percentile of each):\n\n"
    text += table(
        ["kind of step (resumed at -> suspended at)", "steps", "p99.9 µs", "max µs"],
        [
            [kind, f"{count:,}", micros(p999), micros(max(holds.kinds[kind]))]
            for p999, count, kind in kinds[:6]
        ],
    )
    target = Target(
        "ASGI: longest event-loop hold of a kind of step (p99.9 of its loop CPU, GC left"
        " out) under logins + requests, ms",
        longest_kind * 1e3,
        1.0,
        detail=f"the single longest step {cpu[-1] * 1e3:.2f} ms, the control's"
        f" {idle[-1] * 1e3:.2f} ms; longest GC pause {pauses[-1] * 1e3:.2f} ms,"
        f" wall max {wall[-1] * 1e3:.1f} ms",
    )
    return text, [target]


async def _mixed(auth: AuthMiddleware, token: str, seconds: float) -> tuple[Holds, dict[str, int]]:
    holds = Holds()
    original = asyncio.events.Handle._run

    loop_thread = threading.get_ident()
    collections = [0, 0.0, 0.0]  # collections in the loop thread, their CPU, the last start

    def _count_collections(phase: str, info: dict[str, int]) -> None:
        if threading.get_ident() != loop_thread:
            return
        if phase == "start":
            collections[0] += 1
            collections[2] = time.thread_time()
        else:
            pause = time.thread_time() - collections[2]
            collections[1] += pause
            holds.collections.append(pause)

    gc.callbacks.append(_count_collections)

    def timed(handle: asyncio.events.Handle) -> None:
        resumed_at = _suspension_point(handle)
        before, collected = collections[0], collections[1]
        wall, cpu = time.perf_counter(), time.thread_time()
        original(handle)
        spent = time.thread_time() - cpu - (collections[1] - collected)
        holds.wall.append(time.perf_counter() - wall)
        what = _what(handle, collections[0] - before)
        if what.startswith(idle.__qualname__):
            holds.idle.append(spent)
            return
        holds.cpu.append(spent)
        kind = f"{what.partition(' (')[0]} {resumed_at} -> {_suspension_point(handle)}"
        holds.kinds.setdefault(kind, []).append(spent)
        if spent > 0.0005:
            holds.longest.append((spent, what))

    counts = {"logins": 0, "requests": 0}
    body = json.dumps({"username": USERNAME, "password": PASSWORD}).encode()
    login_scope = scope(
        {"Content-Type": "application/json", "Content-Length": str(len(body))}, "/session"
    )
    login_scope["method"] = "POST"
    authenticated = scope({"Username": USERNAME, "Token": token})

    async def receive_login() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def call(template: dict[str, Any], receive: Any) -> None:
        copy = dict(template)
        copy["headers"] = list(template["headers"])
        await auth(copy, receive, _send)

    async def logins(until: float) -> None:
        while True:
            await call(login_scope, receive_login)
            counts["logins"] += 1
            if time.monotonic() >= until:
                return

    async def idle(until: float) -> None:
        """The control: steps of plain Python as long as a request's, none of ours, so
        that their holds are the machine's and the interpreter's own."""
        while time.monotonic() < until:
            {str(n): [n] for n in range(CONTROL_WORK)}
            await asyncio.sleep(0)

    async def requests(until: float) -> None:
        while True:
            await call(authenticated, _receive)
            counts["requests"] += 1
            await asyncio.sleep(0)
            if time.monotonic() >= until:
                return

    # One of each first: the first call into anyio imports its asyncio backend (tens of
    # ms, once per process), which is start-up, not a request.
    await asyncio.gather(logins(0), requests(0))
    counts.update(logins=0, requests=0)
    # As a server does after start-up (gunicorn's docs advise it after preloading): what
    # exists now is never garbage, so a full collection need not walk it again.
    gc.collect()
    gc.freeze()
    holds.collections.clear()  # that collection was ours, before the timing
    until = time.monotonic() + seconds
    asyncio.events.Handle._run = timed  # type: ignore[method-assign]
    try:
        await asyncio.gather(
            *[logins(until) for _ in range(2)],
            *[requests(until) for _ in range(8)],
            *[idle(until) for _ in range(8)],
        )
    finally:
        asyncio.events.Handle._run = original  # type: ignore[method-assign]
        gc.callbacks.remove(_count_collections)
        gc.unfreeze()
    return holds, counts
