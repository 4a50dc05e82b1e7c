"""In-process contenders: every row of the main table, built and checked before timing.

Rows whose names end in ``(in turn)`` cycle through 20,000 sessions, one per request,
so no per-process cache can hold them all: they time the path through the store. The
other rows present one session over and over, like one busy client, which is what the
reference figures in issue 7 measured.

Activity (``last_seen_at``) is written at most once a minute per session, so a real
client pays for one write per minute, not per request. A benchmark that visits each of
20,000 sessions less than once a minute would pay it on every request, so the
``(in turn)`` rows run with ``activity_interval`` of an hour, and the write has a row of
its own (``activity_interval`` of 1 µs: every request writes).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from _common import PASSWORD, USERNAME, auth_headers, check, environ, hello, middleware, probe
from _floor import DictLookup, Floor, SQLiteLookup, floor_db
from _populate import Population, sessions_db
from _report import Target, micros, table, times
from _timing import Contender, Rounds

from nullptr_auth import AuthError, AuthMiddleware

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

REDIS_URL = "redis://127.0.0.1:6379/15?prefix=nullptr_auth_bench:"
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test?table_prefix=nullptr_auth_bench_"
REMOTE_USER = "bench-alice"
MAIN_SIZE = 100_000
SMALL_SIZE = 1_000
BIG_SIZE = 1_000_000
HOUR = timedelta(hours=1)


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

    def close(self) -> None:
        for cleanup in reversed(self.cleanups):
            with contextlib.suppress(Exception):
                cleanup()


def build(*, big: bool, remote_sessions: int, log: Callable[[str], None]) -> Setup:
    """Every in-process contender; ``big`` adds the 1,000 / 1,000,000 session rows."""
    setup = Setup()
    main = setup.main = sessions_db(MAIN_SIZE, log=log)
    hot = environ(auth_headers(main.hot_token))
    setup.add(Contender("bare app", hello, [hot], base=None))
    _add_nullptr(setup, main, hot)
    _add_remote_stores(setup, remote_sessions, log)
    _add_floors(setup)
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
    spread = [environ(auth_headers(t)) for t in main.tokens]
    in_turn, checking = _nullptr(setup, main.url, activity_interval=HOUR)
    setup.add(
        Contender(
            "nullptr_auth SQLite 100k (in turn)",
            in_turn,
            spread,
            floor="floor SQLite 100k (in turn)",
        ),
        checking,
    )
    writing, checking = _nullptr(setup, main.url, activity_interval=timedelta(microseconds=1))
    setup.add(Contender("nullptr_auth SQLite 100k, activity written", writing, [hot]), checking)


def _memory_middlewares() -> tuple[AuthMiddleware, AuthMiddleware]:
    """Two middlewares (bare app, probe) over one ``memory://`` store holding alice."""
    first = middleware("memory://")
    first.accounts.create(USERNAME, PASSWORD)
    return first, middleware(first.store, app=probe)


def _add_remote_stores(setup: Setup, sessions: int, log: Callable[[str], None]) -> None:
    """Redis and PostgreSQL rows, when their stores exist and their servers answer."""
    for label, url in (("Redis", REDIS_URL), ("PostgreSQL", POSTGRES_URL)):
        try:
            timed, token = _remote(setup, url, sessions)
        except (ValueError, ImportError, AuthError, OSError, RuntimeError) as exc:
            setup.skipped.append(f"nullptr_auth {label}: {type(exc).__name__}: {exc}")
            continue
        log(f"{label}: {sessions:,} sessions")
        setup.add(
            Contender(
                f"nullptr_auth {label} ({sessions:,} sessions)",
                timed,
                [environ(auth_headers(token, REMOTE_USER))],
                floor="floor SQLite 100k",
            ),
            middleware(timed.store, app=probe),
        )


def _remote(setup: Setup, url: str, sessions: int) -> tuple[AuthMiddleware, str]:
    """A middleware on a shared server, a user with ``sessions`` sessions, and one token.

    Sessions are started through the API (a network round trip each), so there are
    fewer than on SQLite; the user is deleted, with its sessions, at the end.
    """
    timed = middleware(url)
    setup.cleanups.append(timed.store.close)  # cleanups run last first: after the delete
    with contextlib.suppress(AuthError):
        timed.accounts.delete(REMOTE_USER)
    user = timed.accounts.create(REMOTE_USER, PASSWORD)
    setup.cleanups.append(lambda: timed.accounts.delete(REMOTE_USER))
    tokens = [timed.sessions.start(user) for _ in range(sessions)]
    return timed, tokens[0]


def _add_floors(setup: Setup) -> None:
    data = floor_db(MAIN_SIZE)
    sqlite_floor = Floor(hello, SQLiteLookup(data.path))
    dict_floor = Floor(hello, DictLookup(data.path))
    setup.add(Contender("floor SQLite 100k", sqlite_floor, [environ(auth_headers(data.hot_token))]))
    spread = [environ(auth_headers(t)) for t in data.tokens]
    setup.add(Contender("floor SQLite 100k (in turn)", sqlite_floor, spread))
    setup.add(Contender("floor dict", dict_floor, [environ(auth_headers(data.hot_token))]))


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
    spread = [environ(auth_headers(t)) for t in population.tokens]
    in_turn, checking = _nullptr(setup, population.url, activity_interval=HOUR)
    setup.add(Contender("nullptr_auth SQLite 1M (in turn)", in_turn, spread), checking)


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
    if {"nullptr_auth SQLite 1M", "nullptr_auth SQLite 1k"} <= present:
        figure = _overhead_ratio(rounds, "nullptr_auth SQLite 1M", "nullptr_auth SQLite 1k")
        targets.append(Target("store size: SQLite overhead at 1M / at 1k", figure, 1.2))
    return targets


def notes(rounds: Rounds, present: set[str]) -> list[str]:
    """Ratios worth printing that issue 7 sets no target for."""
    pairs = [
        (
            "nullptr_auth SQLite 100k (in turn)",
            "floor SQLite 100k (in turn)",
            "cache-miss path, SQLite 100k: overhead / floor's (in turn)",
        ),
        (
            "nullptr_auth SQLite 1M (in turn)",
            "nullptr_auth SQLite 100k (in turn)",
            "cache-miss path: overhead at 1M / at 100k",
        ),
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
