"""Revocation propagation: one store object ends a session; how long until another, whose
cache holds it, refuses it?

For each trial a new session is started through store A; store B reads it until it is
served from B's cache, then A ends it and B asks every 0.1 ms until it is refused. The
figure is the time from the return of A's ``delete_session`` (the change committed; A
itself refuses the session from then on) to B's first refusal (0 if B refused first),
in the same process (two store objects, as two apps would have) and across processes
(B in a child process; ``CLOCK_MONOTONIC`` is one clock for every process of the
machine). Each trial waits until B's channel serves, so a trial
never measures a channel that is reconnecting (that one serves nothing: exact).

    python benchmarks/_propagation.py watch URL     # the child: reads ids on stdin
"""

from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from _report import Target, table

from nullptr_auth.models import Session, User
from nullptr_auth.stores import Store, open_store

HERE = Path(__file__).resolve().parent
USER = User("00000000-0000-0000-0000-00000000beef", "propagation")
BOUND_MS = 10.0
POLL = 0.0001


def _session() -> Session:
    now = datetime.now(timezone.utc)
    return Session(
        secrets.token_hex(16),
        USER.id,
        now,
        now,
        now + timedelta(days=1),
        None,
        "",
        "",
        "",
        b"h" * 32,
    )


def _cached(store: Store, session_id: str) -> None:
    """Read until the read came from the cache (the channel may be starting)."""
    deadline = time.monotonic() + 10
    cache = getattr(store, "cache", None)
    while time.monotonic() < deadline:
        if store.find_session(session_id) is None:
            raise RuntimeError(f"{session_id} is not there")
        if cache is None or cache.peek(session_id) is not _miss():
            return
        time.sleep(0.005)
    raise RuntimeError(f"{store!r} never cached {session_id}")


def _miss() -> object:
    from nullptr_auth.stores._cache import MISS

    return MISS


def _refused(store: Store, session_id: str, limit: float = 10.0) -> float:
    """Ask every 0.1 ms (sleeping between, as a server thread waits for its next request:
    a loop that never let go of the GIL would starve the listener thread)."""
    deadline = time.monotonic() + limit
    while store.find_session(session_id) is not None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{store!r} still serves {session_id} after {limit} s")
        time.sleep(POLL)
    return time.monotonic()


def same_process(url: str, trials: int) -> list[float]:
    a, b = open_store(url), open_store(url)
    try:
        found = []
        for _ in range(trials):
            session = _session()
            a.add_session(USER, session)
            _cached(b, session.id)
            a.delete_session(session.id)
            ended = time.monotonic()
            found.append(_refused(b, session.id) - ended)
        return found
    finally:
        a.close()
        b.close()


def across_processes(url: str, trials: int) -> list[float]:
    a = open_store(url)
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "watch", url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), *sys.path])),
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        found = []
        for _ in range(trials):
            session = _session()
            a.add_session(USER, session)
            child.stdin.write(f"{session.id}\n")
            child.stdin.flush()
            if child.stdout.readline().strip() != "cached":
                raise RuntimeError("the watching process failed")
            a.delete_session(session.id)
            ended = time.monotonic()
            found.append(float(child.stdout.readline()) - ended)
        return found
    finally:
        child.stdin.close()
        child.wait(timeout=30)
        a.close()


def watch(url: str) -> None:
    store = open_store(url)
    for line in sys.stdin:
        session_id = line.strip()
        _cached(store, session_id)
        print("cached", flush=True)
        print(repr(_refused(store, session_id)), flush=True)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(
    stores: dict[str, str], trials: int, log: Callable[[str], None]
) -> tuple[str, list[Target]]:
    """p50 and p99, in milliseconds, of every store in both settings."""
    rows, targets = [], []
    with tempfile.TemporaryDirectory() as scratch:
        stores = {"SQLite": f"sqlite:///{scratch}/propagation.db", **stores}
        for label, url in stores.items():
            for where, run in (
                ("same process", same_process),
                ("across processes", across_processes),
            ):
                log(f"propagation: {label}, {where}, {trials} trials")
                try:
                    times = [max(0.0, t) * 1000 for t in run(url, trials)]
                except Exception as exc:
                    rows.append([f"{label}, {where}", "", "", f"skipped: {exc}"])
                    continue
                p50, p99 = statistics.median(times), _percentile(times, 0.99)
                rows.append([f"{label}, {where}", f"{p50:.3f}", f"{p99:.3f}", f"{max(times):.3f}"])
                targets.append(
                    Target(f"revocation propagation p99 ms, {label}, {where}", p99, BOUND_MS)
                )
    headers = ["store, where B runs", "p50 ms", "p99 ms", "max ms"]
    return f"{trials} trials each\n\n" + table(headers, rows), targets


if __name__ == "__main__":
    if sys.argv[1:2] == ["watch"]:
        watch(sys.argv[2])
