"""nullptr_auth's benchmark suite: every figure of issue 7, side by side, as ratios.

The machines this runs on are shared and drift; so every contender is timed in
interleaved rounds within one run, and every target is a ratio between rows of that
run, never an absolute time. Nothing here is a test: a FAIL is a figure to act on.

Run everything (about three minutes; the first run also builds cached databases of
100,000 and 1,000,000 sessions under the temporary directory, about 20 s)::

    python benchmarks/run.py

or a part of it, or a shorter pass (under a minute)::

    python benchmarks/run.py --inproc --memory     # also --http --login --propagation
    python benchmarks/run.py --quick

Sections: ``--inproc`` times one request through each contender in this process;
``--http`` runs gunicorn (2 sync workers, then 2 gthread workers of 4 threads) under
``wrk`` on 127.0.0.1, nullptr_auth on SQLite and on Redis and PostgreSQL with
``?cache=on``; ``--login`` times logins against the argon2 verify they contain;
``--memory`` compares the resident memory of a process serving 100,000 sessions with
an idle one, and measures ``nullptr-auth serve`` after 1,000 logins from 32 clients;
``--asgi`` times the event loop's longest hold under logins and requests through
``nullptr_auth.asgi``, and its overhead against Starlette's ``AuthenticationMiddleware``
and fastapi-users (``_asgi.py``; needs the asgi extra and starlette, optionally
fastapi-users). ``docs/performance.md`` explains every figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable

import _http
import _inproc
import _login
import _login_memory
import _memory
import _propagation
import _remote
import _remote_setup
from _common import auth_headers
from _floor import floor_db
from _populate import sessions_db
from _report import Target, heading
from _timing import interleave

SECTIONS = ("inproc", "http", "login", "memory", "propagation", "asgi")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for section in SECTIONS:
        parser.add_argument(f"--{section}", action="store_true", help=f"run the {section} section")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (< 1 min)")
    parser.add_argument("--rounds", type=int, help="in-process rounds (default 40, quick 12)")
    parser.add_argument("--no-big", action="store_true", help="skip the 1k and 1M session rows")
    parser.add_argument(
        "--only",
        metavar="REGEX",
        help="in-process: time only the rows matching REGEX (and their bare app and floors)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target fails")
    arguments = parser.parse_args(argv)
    arguments.sections = [s for s in SECTIONS if getattr(arguments, s)] or list(SECTIONS)
    return arguments


def _log(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def inproc(arguments: argparse.Namespace) -> list[Target]:
    """The main table: one request through each contender, in interleaved rounds."""
    quick = arguments.quick
    setup = _inproc.build(big=not arguments.no_big, log=_log)
    if arguments.only:
        setup.keep(arguments.only)
    try:
        rounds = interleave(
            setup.contenders,
            rounds=arguments.rounds or (12 if quick else 40),
            batch_seconds=0.01 if quick else 0.02,
            progress=_log,
        )
    finally:
        setup.close()
    text, targets = _inproc.report(rounds, setup)
    print(heading("In-process: one request through each contender"))
    print(text)
    for line in _inproc.notes(rounds, _inproc.names(setup.contenders)):
        print(line)
    for skipped in setup.skipped:
        print(f"skipped  {skipped}")
    return targets


def http(arguments: argparse.Namespace) -> list[Target]:
    """Requests/s under gunicorn and wrk, each app's as a fraction of the bare app's."""
    quick = arguments.quick
    population = sessions_db(_inproc.MAIN_SIZE, log=_log)
    floor = floor_db(_inproc.MAIN_SIZE)
    floor_env = {"NULLPTR_AUTH_BENCH_FLOOR": str(floor.path)}
    contenders = {
        "bare": ({}, auth_headers(population.hot_token)),
        "nullptr_auth": (
            {"NULLPTR_AUTH_BENCH_DATABASE": population.url},
            auth_headers(population.hot_token),
        ),
        "floor-sqlite": (floor_env, auth_headers(floor.hot_token)),
    }
    for name, prepare, url in (
        ("nullptr_auth-redis", _remote_setup.redis, _remote.redis_url),
        ("nullptr_auth-postgres", _remote_setup.postgres, _remote.postgres_url),
    ):
        try:
            prepare(population, floor, _log)
        except Exception as exc:
            print(f"skipped  {name}: {type(exc).__name__}: {exc}")
            continue
        contenders[name] = (
            {"NULLPTR_AUTH_BENCH_DATABASE": url("cache=on")},
            auth_headers(population.hot_token),
        )
    if not quick:
        contenders["floor-dict"] = (floor_env, auth_headers(floor.hot_token))
        contenders.update(_repoze_http())
    generator, _ = _http.load_generator()
    # Five rounds: a gthread round now and then runs at a third of the others' rate, on
    # any contender (docs/performance.md, stop 23), and the median of three ratios moved
    # with one such round.
    results = _http.measure(
        contenders, rounds=1 if quick else 5, seconds=2 if quick else 3, log=_log
    )
    text, targets = _http.report(results, generator)
    print(heading(f"HTTP: gunicorn on 127.0.0.1, {_http.CONNECTIONS} connections"))
    print(text)
    return targets


def login(arguments: argparse.Namespace) -> list[Target]:
    """Logins against the argon2 verify they contain, and their effect on other requests."""
    text, targets = _login.measure(arguments.quick)
    print(heading("Logins: POST /session with the default argon2 hasher"))
    print(text)
    return targets


def memory(arguments: argparse.Namespace) -> list[Target]:
    """Resident memory of a process serving 100k sessions over an idle one."""
    population = sessions_db(_inproc.MAIN_SIZE, log=_log)
    tokens = population.path.with_suffix(".json")
    text, targets = _memory.measure(population.url, tokens, repeats=1 if arguments.quick else 3)
    print(heading("Memory: resident set of a fresh process"))
    print(text)
    text, login_targets = _login_memory.measure(arguments.quick)
    print(heading("Memory: `nullptr-auth serve` under login load"))
    print(text)
    return targets + login_targets


def propagation(arguments: argparse.Namespace) -> list[Target]:
    """Process A ends a session: how long until process B, which cached it, refuses it."""
    stores = {
        # the caches are opt-in on Redis and PostgreSQL: the window measured is theirs
        "Redis": "redis://127.0.0.1:6379/14?prefix=nullptr_auth_propagation:&cache=on",
        "PostgreSQL": "postgresql://postgres@127.0.0.1:5432/test"
        "?table_prefix=nullptr_auth_propagation_&cache=on",
    }
    text, targets = _propagation.measure(stores, 200 if arguments.quick else 1000, _log)
    print(heading("Revocation propagation: A ends a session, B (its cache warm) refuses it"))
    print(text)
    return targets


def asgi(arguments: argparse.Namespace) -> list[Target]:
    """The ASGI middleware: event-loop holds under load, overhead against its floors."""
    import _asgi

    text, targets = _asgi.loop_holds(arguments.quick, _log)
    print(heading("ASGI: event-loop holds under a mixed load of logins and requests"))
    print(text)
    table_text, overheads = _asgi.overhead(arguments.quick, _log)
    print(heading("ASGI: one authenticated request through each contender"))
    print(table_text)
    return targets + overheads


def _repoze_http() -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    try:
        from _peers import repoze_cookie

        return {"repoze.who": ({}, {"Cookie": repoze_cookie()})}
    except ImportError:
        return {}


def _machine() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {load}"
    )


def main(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    started = time.monotonic()
    print(f"# nullptr_auth benchmarks ({'quick' if arguments.quick else 'full'})")
    print(_machine())
    runners: dict[str, Callable[[argparse.Namespace], list[Target]]] = {
        "inproc": inproc,
        "http": http,
        "login": login,
        "memory": memory,
        "propagation": propagation,
        "asgi": asgi,
    }
    targets: list[Target] = []
    for section in arguments.sections:
        if section in runners:
            targets += runners[section](arguments)
    print(heading("Targets"))
    for target in targets:
        print(target.line())
    print(f"\n{time.monotonic() - started:.0f} s")
    failed = [t for t in targets if not t.passed and not t.stretch]
    return 1 if arguments.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
