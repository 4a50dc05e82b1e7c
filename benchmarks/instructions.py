"""Instructions per session lookup, nullptr_auth's store against its floor, under callgrind.

    python benchmarks/instructions.py [sqlite redis postgres] [--lookups 1000]

The two shared cores this project is measured on drift by half for minutes; valgrind's
instruction count does not. For each store this runs, under ``valgrind --tool=callgrind``,
one process that reads ``--lookups`` distinct sessions (cache off: the miss path) and one
that reads none, and prints the difference divided by the lookups: the instructions this
process spends per lookup, network wait excluded. The same for the floor's lookup
(``_floor.py``, ``_remote.py``). Needs the populations ``run.py`` builds, and valgrind.

Run with ``lookup STORE WHICH COUNT``, it is the measured process itself.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

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


def _instructions(store: str, which: str, count: int) -> int:
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "callgrind.out"
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        command += [sys.executable, __file__, "lookup", store, which, str(count)]
        subprocess.run(command, check=True, capture_output=True)
        found = re.search(r"^summary: (\d+)", out.read_text(), re.MULTILINE)
        if found is None:
            raise RuntimeError("callgrind wrote no summary")
        return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["lookup"]:
        lookup(arguments[1], arguments[2], int(arguments[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stores", nargs="*", default=["sqlite", "redis", "postgres"])
    parser.add_argument("--lookups", type=int, default=1000)
    options = parser.parse_args(arguments)
    print("| store | floor, instructions/lookup | nullptr_auth | ratio |")
    print("|---|---|---|---|")
    for store in options.stores:
        per = {
            which: (
                _instructions(store, which, options.lookups) - _instructions(store, which, 0)
            )
            / options.lookups
            for which in ("floor", "ours")
        }
        print(
            f"| {store} | {per['floor']:,.0f} | {per['ours']:,.0f}"
            f" | {per['ours'] / per['floor']:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
