"""Logins: what they cost beyond the argon2 verify inside them, and what they cost others.

A login is ``POST /session`` through the middleware, with the default hasher
(``nullptr_auth.passwords.default_hasher()``), into a fresh SQLite database. Three figures:

* latency: one login against one bare ``default_hasher().verify`` of the same password,
  alternated, median of the per-round ratios;
* throughput: logins per second with 1 thread, then with 2 threads (argon2 releases the
  GIL, so on 2 cores the second thread should nearly double it);
* interference: authenticated requests timed in this thread while another thread logs
  in without pause, against the same requests with that thread idle.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import PASSWORD, USERNAME, auth_headers, check, environ, middleware
from _report import Target, table
from _timing import Contender, alternate, calibrate, median_ratio
from werkzeug.test import EnvironBuilder, run_wsgi_app

from nullptr_auth import AuthMiddleware
from nullptr_auth.passwords import default_hasher


@dataclass(frozen=True)
class Settings:
    latency_rounds: int
    throughput_rounds: int
    throughput_seconds: float
    interference_rounds: int
    batch_seconds: float


QUICK = Settings(6, 1, 1.0, 6, 0.1)
FULL = Settings(20, 3, 2.0, 20, 0.2)


def _login_environ() -> dict[str, Any]:
    body = json.dumps({"username": USERNAME, "password": PASSWORD})
    builder = EnvironBuilder(
        path="/session",
        method="POST",
        data=body,
        content_type="application/json",
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    return dict(builder.get_environ())


def _login(auth: AuthMiddleware) -> float:
    """Seconds one ``POST /session`` takes; the body is built before the clock starts."""
    request = _login_environ()
    start = time.perf_counter()
    body, status, _ = run_wsgi_app(auth, request, buffered=True)
    elapsed = time.perf_counter() - start
    if not status.startswith("200"):
        raise RuntimeError(f"login failed: {status} {b''.join(body)[:200]!r}")
    return elapsed


def _verify() -> Callable[[], float]:
    hasher = default_hasher()
    password_hash = hasher.hash(PASSWORD)

    def verify() -> float:
        start = time.perf_counter()
        hasher.verify(password_hash, PASSWORD)
        return time.perf_counter() - start

    return verify


def _throughput(auth: AuthMiddleware, threads: int, seconds: float) -> float:
    """Logins per second with ``threads`` threads logging in for ``seconds``."""
    counts = [0] * threads
    until = time.monotonic() + seconds

    def work(index: int) -> None:
        while time.monotonic() < until:
            _login(auth)
            counts[index] += 1

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    start = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.monotonic() - start)


class _Background:
    """A thread that logs in without pause while ``running`` is set."""

    def __init__(self, auth: AuthMiddleware) -> None:
        self.running = threading.Event()
        self.stopped = False
        self.thread = threading.Thread(target=self._loop, args=(auth,), daemon=True)
        self.thread.start()

    def _loop(self, auth: AuthMiddleware) -> None:
        while not self.stopped:
            if self.running.wait(0.05):
                _login(auth)

    def stop(self) -> None:
        self.stopped = True
        self.running.clear()
        self.thread.join()


def _interference(auth: AuthMiddleware, token: str, settings: Settings) -> dict[str, list[float]]:
    request = Contender("authenticated", auth, [environ(auth_headers(token))])
    check(auth, request.environs[0], request.name)
    calls = calibrate(request, settings.batch_seconds)
    background = _Background(auth)

    def quiet() -> float:
        return request.batch(calls)

    def busy() -> float:
        background.running.set()
        time.sleep(0.01)  # let the first login start
        try:
            return request.batch(calls)
        finally:
            background.running.clear()

    try:
        return alternate({"quiet": quiet, "busy": busy}, rounds=settings.interference_rounds)
    finally:
        background.stop()


def measure(quick: bool) -> tuple[str, list[Target]]:
    settings = QUICK if quick else FULL
    with tempfile.TemporaryDirectory(prefix="nullptr-auth-login-") as directory:
        auth = middleware(f"sqlite:///{Path(directory) / 'login.db'}", cheap_hashing=False)
        user = auth.accounts.create(USERNAME, PASSWORD)
        token = auth.sessions.start(user)
        _login(auth)  # warm-up
        try:
            return _measure(auth, token, settings)
        finally:
            auth.store.close()


def _measure(auth: AuthMiddleware, token: str, settings: Settings) -> tuple[str, list[Target]]:
    latency = alternate(
        {"verify": _verify(), "login": lambda: _login(auth)}, rounds=settings.latency_rounds
    )
    seconds = settings.throughput_seconds
    rates = alternate(
        {"1": lambda: _throughput(auth, 1, seconds), "2": lambda: _throughput(auth, 2, seconds)},
        rounds=settings.throughput_rounds,
    )
    slowdown = _interference(auth, token, settings)
    return _report(latency, rates, slowdown)


def _report(
    latency: dict[str, list[float]],
    rates: dict[str, list[float]],
    slowdown: dict[str, list[float]],
) -> tuple[str, list[Target]]:
    over_verify = median_ratio(latency["login"], latency["verify"])
    scaling = median_ratio(rates["2"], rates["1"])
    busy = median_ratio(slowdown["busy"], slowdown["quiet"])
    ms, us = 1e3, 1e6
    rows = [
        [
            "argon2 verify alone (default hasher)",
            f"{statistics.median(latency['verify']) * ms:.1f} ms",
        ],
        ["login, POST /session", f"{statistics.median(latency['login']) * ms:.1f} ms"],
        ["logins/s, 1 thread", f"{statistics.median(rates['1']):.1f}"],
        ["logins/s, 2 threads", f"{statistics.median(rates['2']):.1f}"],
        [
            "authenticated request, logins idle",
            f"{statistics.median(slowdown['quiet']) * us:.1f} µs",
        ],
        [
            "authenticated request, logins running",
            f"{statistics.median(slowdown['busy']) * us:.1f} µs",
        ],
    ]
    targets = [
        Target("login latency / argon2 verify", over_verify, 1.10),
        Target("login throughput, 2 threads / 1 thread", scaling, 1.8, at_most=False),
        Target("authenticated request while logins run / idle", busy, 1.10),
    ]
    return table(["login figure", "median"], rows), targets
