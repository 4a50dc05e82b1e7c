"""Where a request's time goes inside nullptr_auth: cProfile of each hot path.

    python benchmarks/profile_paths.py [--requests 20000] [--top 15] [--pyinstrument]

Profiles, on the cached 100,000-session SQLite database: an authenticated request on
one session (the cache-hit path), requests cycling through 20,000 sessions (the path
through SQLite), an anonymous request, and ``POST /session`` (a login, default hasher).
Prints the functions with the most time of their own, in µs per request.

cProfile adds roughly the same fixed cost to every Python call it sees, so small
functions look dearer than they are; read the ranking and the call counts, and take
absolute costs from ``run.py`` and ``micro.py``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
from collections.abc import Callable
from itertools import cycle, islice
from typing import Any

from _common import NO_ACTIVITY_WRITES, PASSWORD, USERNAME, auth_headers, check, environ, middleware
from _populate import sessions_db

from nullptr_auth import AuthMiddleware


def _requests(app: AuthMiddleware, environs: list[dict[str, Any]]) -> Callable[[int], None]:
    """A function making ``n`` requests, cycling through ``environs``."""
    requests = cycle(environs)

    def run(count: int) -> None:
        for request in islice(requests, count):
            for _ in app(dict(request), lambda s, h, e=None: None):
                pass

    return run


def _profile(label: str, run: Callable[[int], None], count: int, top: int) -> str:
    run(min(count, 2000))  # warm-up: connections, caches, imports
    profiler = cProfile.Profile()
    profiler.enable()
    run(count)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    lines = [f"\n## {label}: {total / count * 1e6:.1f} µs per request under cProfile\n"]
    lines.append(f"{'µs/req own':>10} {'µs/req cum':>10} {'calls/req':>9}  function")
    entries = sorted(stats.stats.items(), key=lambda item: -item[1][2])  # type: ignore[attr-defined]
    for (filename, line, name), (_, calls, own, cumulative, _) in entries[:top]:
        where = _short(filename, line, name)
        lines.append(
            f"{own / count * 1e6:10.2f} {cumulative / count * 1e6:10.2f} "
            f"{calls / count:9.2f}  {where}"
        )
    return "\n".join(lines)


def _short(filename: str, line: int, name: str) -> str:
    if filename == "~":
        return name
    for marker in ("site-packages/", "nullptr_auth/", "lib/python3"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{filename}:{line}({name})"


def _login_runner(app: AuthMiddleware) -> Callable[[int], None]:
    from _login import _login

    def run(count: int) -> None:
        for _ in range(count):
            _login(app)

    return run


def _pyinstrument(run: Callable[[int], None], count: int) -> str:
    try:
        from pyinstrument import Profiler
    except ImportError:
        return "pyinstrument is not installed (pip install pyinstrument)"
    profiler = Profiler(interval=0.0001)
    profiler.start()
    run(count)
    profiler.stop()
    return str(profiler.output_text(unicode=True, color=False, show_all=False))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--logins", type=int, default=30)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--pyinstrument", action="store_true")
    arguments = parser.parse_args(argv)
    population = sessions_db(100_000)
    hot = middleware(population.url)
    in_turn = middleware(population.url, activity_interval=NO_ACTIVITY_WRITES)
    hot_environ = environ(auth_headers(population.hot_token))
    check(hot, hot_environ, "hot")
    paths = {
        "authenticated, one session (SQLite 100k)": _requests(hot, [hot_environ]),
        "authenticated, 20,000 sessions in turn (SQLite 100k)": _requests(
            in_turn, [environ(auth_headers(t)) for t in population.tokens]
        ),
        "anonymous": _requests(hot, [environ()]),
    }
    out = io.StringIO()
    for label, run in paths.items():
        print(_profile(label, run, arguments.requests, arguments.top), file=out)
        if arguments.pyinstrument:
            print(_pyinstrument(run, arguments.requests), file=out)
    print(_profile_login(arguments.logins, arguments.top), file=out)
    sys.stdout.write(out.getvalue())
    return 0


def _profile_login(count: int, top: int) -> str:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        app = middleware(f"sqlite:///{directory}/login.db", cheap_hashing=False)
        app.accounts.create(USERNAME, PASSWORD)
        try:
            return _profile("login, POST /session", _login_runner(app), count, top)
        finally:
            app.store.close()


if __name__ == "__main__":
    sys.exit(main())
