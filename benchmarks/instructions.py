"""Instructions per session lookup, nullptr_auth's store against its floor, under callgrind.

    python benchmarks/instructions.py [sqlite redis postgres] [--lookups 1000]
    python benchmarks/instructions.py --requests [--lookups 1000]

The two shared cores this project is measured on drift by half for minutes; valgrind's
instruction count does not. For each store this runs, under ``valgrind --tool=callgrind``,
one process that reads ``--lookups`` distinct sessions (cache off: the miss path) and one
that reads none, and prints the difference divided by the lookups: the instructions this
process spends per lookup, network wait excluded. The same for the floor's lookup
(``_floor.py``, ``_remote.py``). Needs the populations ``run.py`` builds, and valgrind.

``--requests`` counts whole requests through the WSGI middleware instead, the same way:
the bare app, an anonymous request, and one session again and again (the cache-hit
path) on ``memory://``, on SQLite, on Redis and PostgreSQL with ``?cache=on`` (their
cache targets) and through the SQLite floor. The web layer's own cost is the
``memory://`` row over the bare app: its store is a dict. Two rows present a session not
read before on every request (SQLite ``?cache=off``, with the signer's memory of verified
tokens full, and the floor): the miss path, whose ratio closes the table. The Redis and
PostgreSQL rows include a little of their listener threads' heartbeats (a few hundred
instructions a request at these counts).

Run with ``lookup STORE WHICH COUNT`` or ``request CASE COUNT``, it is the measured
process itself.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

HERE = Path(__file__).resolve().parent


def lookup(store: str, which: str, count: int) -> None:
    """Read ``count`` distinct sessions through ``which`` (``ours`` or ``floor``)."""
    import _remote
    from _floor import SQLiteLookup, floor_db
    from _populate import sessions_db

    if which == "floor":
        data = floor_db(100_000)
        with sqlite3.connect(data.path) as db:
            ids = [row[0] for row in db.execute("SELECT id FROM sessions LIMIT 2001")]
        lookups = {
            "sqlite": lambda: SQLiteLookup(data.path),
            "redis": _remote.RedisLookup,
            "postgres": _remote.PostgresLookup,
        }
        find = lookups[store]()
    else:
        from nullptr_auth.stores import open_store

        population = sessions_db(100_000)
        with sqlite3.connect(population.path) as db:
            query = "SELECT id FROM nullptr_auth_sessions LIMIT 2001"
            ids = [row[0] for row in db.execute(query)]
        urls = {
            "sqlite": f"{population.url}?cache=off",
            "redis": _remote.redis_url("cache=off"),
            "postgres": _remote.postgres_url("cache=off"),
        }
        find = open_store(urls[store]).find_session
    find(ids[0])  # connections, prepared statements, imports
    for session_id in ids[1 : count + 1]:
        find(session_id)


REQUESTS = {
    "bare app": "bare",
    "anonymous": "anonymous",
    "memory://, one session": "memory",
    "SQLite 100k, one session": "sqlite",
    "Redis ?cache=on, one session": "redis",
    "PostgreSQL ?cache=on, one session": "postgres",
    "floor SQLite 100k, one session": "floor",
    "SQLite 100k, cache off, a new session each": "sqlite-miss",
    "floor SQLite 100k, a new session each": "floor-miss",
}
MISSES = 2000
"""The most requests of the miss cases: their environs are built before the count
starts, for every run alike (the one of no requests too), so that the difference is the
requests alone."""


def request(case: str, count: int) -> None:
    """Make ``count`` requests of one case (a key of :data:`REQUESTS`' values)."""
    from _common import PASSWORD, USERNAME, auth_headers, check, environ, hello, middleware
    from _floor import Floor, SQLiteLookup, floor_db
    from _populate import sessions_db

    app: WSGIApplication = hello
    headers: dict[str, str] = {}
    if case in ("sqlite-miss", "floor-miss"):
        _misses(case, count)
        return
    if case == "memory":
        memory = app = middleware("memory://")
        token = memory.sessions.start(memory.accounts.create(USERNAME, PASSWORD))
        headers = auth_headers(token)
    elif case == "floor":
        data = floor_db(100_000)
        app, headers = Floor(hello, SQLiteLookup(data.path)), auth_headers(data.hot_token)
    elif case in ("sqlite", "anonymous"):
        population = sessions_db(100_000)
        app = middleware(population.url)
        headers = auth_headers(population.hot_token) if case == "sqlite" else {}
    elif case in ("redis", "postgres"):
        import _remote

        population = sessions_db(100_000)
        url = _remote.redis_url if case == "redis" else _remote.postgres_url
        app = middleware(url("cache=on"))
        headers = auth_headers(population.hot_token)
    template = environ(headers)
    check(app, template, case)  # and the session is cached, the signature remembered
    if case in ("redis", "postgres"):
        _until_cached(app, template)  # the listener subscribes in a thread of its own
    for _ in range(count):
        for _ in app(dict(template), _ignore):
            pass


def _misses(case: str, count: int) -> None:
    """``count`` requests each presenting a session not read before: the miss path,
    with the signer's memory of verified tokens full, as on a busy site."""
    from _common import NO_ACTIVITY_WRITES, auth_headers, check, environ, hello, middleware
    from _floor import Floor, SQLiteLookup, floor_db
    from _populate import sessions_db

    from nullptr_auth.tokens import VERIFIED_TOKENS

    app: WSGIApplication
    if case == "floor-miss":
        data = floor_db(100_000)
        app, tokens = Floor(hello, SQLiteLookup(data.path)), data.tokens
    else:
        population = sessions_db(100_000)
        ours = middleware(f"{population.url}?cache=off", activity_interval=NO_ACTIVITY_WRITES)
        tokens = population.tokens
        for token in tokens[-VERIFIED_TOKENS:]:  # never among the requests' below
            ours.sessions.signer.verify(token)
        app = ours
    environs = [environ(auth_headers(token)) for token in tokens[1 : MISSES + 1]]
    check(app, environs[0], case)  # imports, the connection, statements
    for template in environs[1 : count + 1]:
        for _ in app(template, _ignore):
            pass


def _until_cached(app: WSGIApplication, template: dict[str, str]) -> None:
    """Request until the session is answered from the cache (a minute at most)."""
    import time

    from _common import check

    from nullptr_auth import AuthMiddleware

    assert isinstance(app, AuthMiddleware)
    deadline = time.monotonic() + 60
    while app.store.cache_stats().hits == 0:  # type: ignore[attr-defined]
        if time.monotonic() > deadline:
            raise RuntimeError("the session never came from the cache")
        time.sleep(0.05)
        check(app, template, "cached")


def _ignore(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> None:
    """A server's ``start_response`` that sends nothing."""


def _instructions(*measured: str) -> int:
    """The instructions of one run of this file with ``measured`` as its arguments."""
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "callgrind.out"
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        command += [sys.executable, __file__, *measured]
        ran = subprocess.run(command, capture_output=True, text=True, check=False)
        if ran.returncode:
            raise RuntimeError(
                f"{' '.join(measured)} failed (the populations and the Redis and PostgreSQL"
                " floors come from `python benchmarks/run.py --inproc`, which builds them"
                f" once):\n{ran.stderr[-3000:]}"
            )
        found = re.search(r"^summary: (\d+)", out.read_text(), re.MULTILINE)
        if found is None:
            raise RuntimeError("callgrind wrote no summary")
        return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["lookup"]:
        lookup(arguments[1], arguments[2], int(arguments[3]))
        return 0
    if arguments[:1] == ["request"]:
        request(arguments[1], int(arguments[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stores", nargs="*", default=["sqlite", "redis", "postgres"])
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument("--requests", action="store_true", help="whole requests instead")
    options = parser.parse_args(arguments)
    if options.requests:
        _print_requests(options.lookups)
        return 0
    print("| store | floor, instructions/lookup | nullptr_auth | ratio |")
    print("|---|---|---|---|")
    for store in options.stores:
        per = {
            which: (
                _instructions("lookup", store, which, str(options.lookups))
                - _instructions("lookup", store, which, "0")
            )
            / options.lookups
            for which in ("floor", "ours")
        }
        print(
            f"| {store} | {per['floor']:,.0f} | {per['ours']:,.0f}"
            f" | {per['ours'] / per['floor']:.2f}x |"
        )
    return 0


def _print_requests(count: int) -> None:
    per = {
        label: (_instructions("request", case, str(count)) - _instructions("request", case, "0"))
        / count
        for label, case in REQUESTS.items()
    }
    bare = per["bare app"]
    print("| request (WSGI) | instructions/request | over the bare app |")
    print("|---|---|---|")
    for label, figure in per.items():
        over = "" if label == "bare app" else f"{figure - bare:,.0f}"
        print(f"| {label} | {figure:,.0f} | {over} |")
    ours = per["SQLite 100k, cache off, a new session each"] - bare
    floor = per["floor SQLite 100k, a new session each"] - bare
    print(f"\nthe miss path, SQLite, over the bare app: {ours / floor:.2f}x the floor's")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
