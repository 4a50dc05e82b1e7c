"""In-process contenders: every row of the main table, built and checked before timing.

Rows whose names end in ``(in turn)`` cycle through 20,000 sessions, one per request,
so no per-process cache can hold them all: they time the path through the store. The
other rows present one session over and over, like one busy client, which is what the
reference figures in issue 7 measured.

Activity (``last_seen_at``) is written at most once a minute per session, so a real
client pays for one write per minute, not per request. A benchmark that visits each of
20,000 sessions less than once a minute would pay it on every request, so the
``(in turn)`` and Zipf rows never write (``_common.NO_ACTIVITY_WRITES``), and the write
has a row of its own (``activity_interval`` of 1 µs: every request writes).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import _remote
import _remote_setup
import _shapes
from _common import (
    NO_ACTIVITY_WRITES,
    PASSWORD,
    USERNAME,
    auth_headers,
    check,
    environ,
    hello,
    middleware,
    probe,
)
from _floor import DictLookup, Floor, Lookup, SQLiteLookup, floor_db
from _populate import Population, sessions_db
from _report import Target, micros, table, times
from _timing import Contender, Rounds

from nullptr_auth import AuthError, AuthMiddleware

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

MAIN_SIZE = 100_000
SMALL_SIZE = 1_000
BIG_SIZE = 1_000_000


@dataclass
class Setup:
    """The contenders, what was skipped and why, and what to close afterwards."""

    contenders: list[Contender] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    cleanups: list[Callable[[], None]] = field(default_factory=list)
    main: Population | None = None

    def add(self, contender: Contender, checked_app: WSGIApplication | None = None) -> None:
        """Add a contender after checking that its first request is authenticated."""
        check(checked_app or contender.app, contender.environs[0], contender.name)
        self.contenders.append(contender)

    def keep(self, pattern: str) -> None:
        """Time only the contenders whose names match ``pattern``, and what they are
        measured against (their base and floor): a quicker run while working on a row."""
        chosen = [c for c in self.contenders if re.search(pattern, c.name)]
        needed = {c.name for c in chosen} | {"bare app"}
        needed |= {n for c in chosen for n in (c.base, c.floor) if n is not None}
        if any(c.name.startswith("nullptr_auth Redis") or "PostgreSQL" in c.name for c in chosen):
            needed |= {"floor SQLite: one session", "floor SQLite: Zipf"}  # the cache targets
        self.contenders = [c for c in self.contenders if c.name in needed]

    def close(self) -> None:
        for cleanup in reversed(self.cleanups):
            with contextlib.suppress(Exception):
                cleanup()


def build(*, big: bool, log: Callable[[str], None]) -> Setup:
    """Every in-process contender; ``big`` adds the 1,000 / 1,000,000 session rows."""
    setup = Setup()
    main = setup.main = sessions_db(MAIN_SIZE, log=log)
    hot = environ(auth_headers(main.hot_token))
    setup.add(Contender("bare app", hello, [hot], base=None))
    _add_nullptr(setup, main, hot)
    _add_floors(setup)
    _add_shapes(setup, main, log)
    _add_peers(setup)
    if big:
        _add_sizes(setup, log)
    return setup


def _nullptr(setup: Setup, url: str, **options: Any) -> tuple[AuthMiddleware, AuthMiddleware]:
    """The middleware around the bare app, and one around the probe for checking."""
    timed, checking = middleware(url, **options), middleware(url, app=probe, **options)
    setup.cleanups += [timed.store.close, checking.store.close]
    return timed, checking


def _add_nullptr(setup: Setup, main: Population, hot: dict[str, Any]) -> None:
    timed, checking = _nullptr(setup, main.url)
    anonymous = Contender("nullptr_auth anonymous", timed, [environ()])
    check(timed, anonymous.environs[0], anonymous.name)
    setup.contenders.append(anonymous)
    memory, memory_check = _memory_middlewares()
    token = memory.sessions.start(memory.accounts.get(USERNAME))
    setup.add(
        Contender(
            "nullptr_auth memory://", memory, [environ(auth_headers(token))], floor="floor dict"
        ),
        memory_check,
    )
    setup.add(
        Contender("nullptr_auth SQLite 100k", timed, [hot], floor="floor SQLite 100k"), checking
    )
    writing, checking = _nullptr(setup, main.url, activity_interval=timedelta(microseconds=1))
    setup.add(Contender("nullptr_auth SQLite 100k, activity written", writing, [hot]), checking)


def _memory_middlewares() -> tuple[AuthMiddleware, AuthMiddleware]:
    """Two middlewares (bare app, probe) over one ``memory://`` store holding alice."""
    first = middleware("memory://")
    first.accounts.create(USERNAME, PASSWORD)
    return first, middleware(first.store, app=probe)


def _add_floors(setup: Setup) -> None:
    data = floor_db(MAIN_SIZE)
    sqlite_floor = Floor(hello, SQLiteLookup(data.path))
    dict_floor = Floor(hello, DictLookup(data.path))
    setup.add(Contender("floor SQLite 100k", sqlite_floor, [environ(auth_headers(data.hot_token))]))
    setup.add(Contender("floor dict", dict_floor, [environ(auth_headers(data.hot_token))]))


def _add_shapes(setup: Setup, main: Population, log: Callable[[str], None]) -> None:
    """Every store under every traffic shape, each beside its own floor (``_shapes.py``).

    The rows with ``cache off`` (``?cache=off``) read the store on every request: the
    miss path. The one-session and Zipf rows say ``?cache=on``, which the Redis and
    PostgreSQL stores need (their caches are opt-in) and SQLite's default.
    ``cache 1 MB`` holds about 1,800 sessions, so 20,000 in turn miss on
    every request too, but pay for keeping and evicting what they read.
    """
    data = floor_db(MAIN_SIZE)
    floor_tokens = (data.hot_token, *data.tokens[1:])
    tokens = (main.hot_token, *main.tokens)
    stores: list[tuple[str, Callable[[str], str], Lookup | None]] = [
        ("SQLite", lambda q: f"{main.url}?{q}" if q else main.url, SQLiteLookup(data.path))
    ]
    for label, prepare, url, lookup in (
        ("Redis", _remote_setup.redis, _remote.redis_url, _remote.RedisLookup),
        ("PostgreSQL", _remote_setup.postgres, _remote.postgres_url, _remote.PostgresLookup),
    ):
        try:
            prepare(main, data, log)
        except (ImportError, OSError, RuntimeError, ValueError, AuthError) as exc:
            setup.skipped.append(f"{label}: {type(exc).__name__}: {exc}")
            continue
        except Exception as exc:  # a driver's error: the server is not there
            setup.skipped.append(f"{label}: {type(exc).__name__}: {exc}")
            continue
        stores.append((label, url, lookup()))
    template = environ(auth_headers(tokens[0]))
    floor_template = environ(auth_headers(floor_tokens[0]))
    for label, url, lookup in stores:
        floor = Floor(hello, lookup)
        shapes = [
            ("one session", [environ(auth_headers(tokens[0]))], [floor_template], "cache=on"),
            (
                "in turn, cache off",
                _shapes.in_turn(template, tokens),
                _shapes.in_turn(floor_template, floor_tokens),
                "cache=off",
            ),
            ("in turn, cache 1 MB", _shapes.in_turn(template, tokens), None, "cache_mb=1"),
            (
                "Zipf",
                _shapes.zipf(template, tokens),
                _shapes.zipf(floor_template, floor_tokens),
                "cache=on",
            ),
        ]
        for shape, environs, floor_environs, query in shapes:
            floor_name = f"floor {label}: {shape.replace(', cache off', '')}"
            if floor_environs is not None:
                setup.add(Contender(floor_name, floor, floor_environs))
            timed, checking = _nullptr(setup, url(query), activity_interval=NO_ACTIVITY_WRITES)
            if shape == "Zipf":
                _warm(timed, environs, log)
            setup.add(
                Contender(
                    f"nullptr_auth {label}: {shape}",
                    timed,
                    environs,
                    floor=floor_name if floor_environs is not None else None,
                ),
                checking,
            )


def _warm(auth: AuthMiddleware, environs: _shapes.Environs, log: Callable[[str], None]) -> None:
    """Read every session the timed rounds will draw once, as a long-running process
    would have: the Zipf rows time the steady state, not a cold start."""
    from concurrent.futures import ThreadPoolExecutor

    order = environs.order[: _shapes.WARM_REQUESTS]
    tokens = {environs.tokens[i] for i in order}
    ids = [auth.sessions.signer.verify(token)[0] for token in tokens]
    log(f"warming {auth.store!r} with {len(ids):,} sessions")
    auth.store.find_session(ids[0])
    serving_deadline = time.monotonic() + 10
    while time.monotonic() < serving_deadline and not getattr(
        getattr(getattr(auth.store, "cache", None), "channel", None), "live", True
    ):
        time.sleep(0.01)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(auth.store.find_session, ids, chunksize=256))


def _add_peers(setup: Setup) -> None:
    import _peers

    try:
        who, who_environ = _peers.repoze_who()
        setup.add(Contender("repoze.who auth_tkt", who, [who_environ]), _peers.repoze_who(probe)[0])
    except ImportError as exc:
        setup.skipped.append(f"repoze.who: {exc} (pip install repoze.who)")
    try:
        bare, login, flask_environ = _peers.flask_apps()
        setup.add(Contender("Flask (bare)", bare, [flask_environ]))
        setup.add(Contender("Flask-Login", login, [flask_environ], base="Flask (bare)"))
    except ImportError as exc:
        setup.skipped.append(f"Flask-Login: {exc} (pip install flask-login)")


def _add_sizes(setup: Setup, log: Callable[[str], None]) -> None:
    for size, label in ((SMALL_SIZE, "1k"), (BIG_SIZE, "1M")):
        population = sessions_db(size, log=log)
        timed, checking = _nullptr(setup, population.url)
        hot = environ(auth_headers(population.hot_token))
        setup.add(Contender(f"nullptr_auth SQLite {label}", timed, [hot]), checking)
    spread = _shapes.in_turn(environ(auth_headers(population.tokens[0])), population.tokens)
    in_turn, checking = _nullptr(
        setup, f"{population.url}?cache_mb=1", activity_interval=NO_ACTIVITY_WRITES
    )
    setup.add(Contender("nullptr_auth SQLite 1M: in turn, cache 1 MB", in_turn, spread), checking)


def names(contenders: Sequence[Contender]) -> set[str]:
    return {c.name for c in contenders}


def report(rounds: Rounds, setup: Setup) -> tuple[str, list[Target]]:
    """The table of every contender, and the in-process targets."""
    rows = [_table_row(rounds, c) for c in setup.contenders]
    headers = ["contender", "µs/request", "p25-p75", "overhead µs", "÷ floor's overhead"]
    return table(headers, rows), _targets(rounds, names(setup.contenders))


def _table_row(rounds: Rounds, contender: Contender) -> list[str]:
    low, high = rounds.quartiles(contender.name)
    overhead = (
        "" if contender.base is None else micros(rounds.overhead(contender.name, contender.base))
    )
    versus = None
    if contender.floor is not None and contender.base is not None:
        versus = rounds.ratio(
            rounds.overheads(contender.name, contender.base),
            rounds.overheads(contender.floor, "bare app"),
        )
    return [
        contender.name
        + (f" (over {contender.base})" if contender.base not in (None, "bare app") else ""),
        micros(rounds.median(contender.name)),
        f"{micros(low)}-{micros(high)}",
        overhead,
        times(versus),
    ]


def _overhead_ratio(rounds: Rounds, name: str, other: str) -> float:
    return rounds.ratio(rounds.overheads(name, "bare app"), rounds.overheads(other, "bare app"))


def _targets(rounds: Rounds, present: set[str]) -> list[Target]:
    targets = []
    if {"nullptr_auth SQLite 100k", "floor SQLite 100k"} <= present:
        figure = _overhead_ratio(rounds, "nullptr_auth SQLite 100k", "floor SQLite 100k")
        name = "authenticated, SQLite 100k: overhead / floor's overhead"
        targets += [Target(name, figure, 1.0), Target(name, figure, 0.75, stretch=True)]
    if "nullptr_auth anonymous" in present:
        figure = rounds.ratio(
            rounds.overheads("nullptr_auth anonymous", "bare app"), rounds.samples["bare app"]
        )
        targets.append(Target("anonymous pass-through: overhead / bare app's cost", figure, 3.0))
    for label in ("SQLite", "Redis", "PostgreSQL"):
        name, floor = f"nullptr_auth {label}: in turn, cache off", f"floor {label}: in turn"
        if {name, floor} <= present:
            figure = _overhead_ratio(rounds, name, floor)
            targets.append(
                Target(f"miss path, {label}, 20,000 in turn: overhead / floor's", figure, 1.0)
            )
    for label in ("Redis", "PostgreSQL"):
        for shape in ("one session", "Zipf"):
            # The SQLite floor under the same traffic: a Zipf mix over 100,000 sessions
            # costs every contender its CPU caches (the floor's Zipf row is slower than
            # its one-session row too); notes() prints the Zipf rows against the floor's
            # one session as well.
            name, floor = f"nullptr_auth {label}: {shape}", f"floor SQLite: {shape}"
            if {name, floor} <= present:
                figure = _overhead_ratio(rounds, name, floor)
                targets.append(
                    Target(
                        f"cache, {label}, {shape}: overhead / SQLite floor's ({shape})",
                        figure,
                        0.3,
                    )
                )
    if {"nullptr_auth SQLite 1M", "nullptr_auth SQLite 1k"} <= present:
        figure = _overhead_ratio(rounds, "nullptr_auth SQLite 1M", "nullptr_auth SQLite 1k")
        targets.append(Target("store size: SQLite overhead at 1M / at 1k", figure, 1.2))
    return targets


def notes(rounds: Rounds, present: set[str]) -> list[str]:
    """Ratios worth printing that issue 7 sets no target for."""
    pairs = [
        (
            "nullptr_auth SQLite: in turn, cache 1 MB",
            "floor SQLite: in turn",
            "miss kept in a full cache, SQLite: overhead / floor's (in turn)",
        ),
        (
            "nullptr_auth SQLite 1M: in turn, cache 1 MB",
            "nullptr_auth SQLite: in turn, cache 1 MB",
            "cache-miss path: overhead at 1M / at 100k",
        ),
        *[
            (
                f"nullptr_auth {s}: {shape}",
                f"floor {s}: {floor}",
                f"{s}, {shape}: overhead / floor's",
            )
            for s in ("SQLite", "Redis", "PostgreSQL")
            for shape, floor in (
                ("one session", "one session"),
                ("Zipf", "Zipf"),
                ("in turn, cache 1 MB", "in turn"),
            )
        ],
        *[
            (
                f"nullptr_auth {s}: Zipf",
                "floor SQLite: one session",
                f"cache, {s}, Zipf: overhead / SQLite floor's (one session)",
            )
            for s in ("Redis", "PostgreSQL")
        ],
        ("nullptr_auth memory://", "floor dict", "memory:// overhead / dict floor's overhead"),
        (
            "repoze.who auth_tkt",
            "nullptr_auth SQLite 100k",
            "repoze.who overhead / nullptr_auth SQLite 100k's",
        ),
    ]
    return [
        f"info  {label}: {_overhead_ratio(rounds, a, b):.2f}"
        for a, b, label in pairs
        if {a, b} <= present
    ]
