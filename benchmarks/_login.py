"""Logins: what they cost beyond the argon2 verify inside them, and what they cost others.

A login is ``POST /session`` through the middleware, with the default hasher
(``nullptr_auth.passwords.default_hasher()``), into a fresh SQLite database. Three figures:

* latency: one login against one bare ``default_hasher().verify`` of the same password,
  alternated, median of the per-round ratios;
* throughput: logins per second with 1 thread, then with 2 threads (argon2 releases the
  GIL, so on 2 cores the second thread should nearly double it);
* interference: authenticated requests timed in this thread while another thread logs
  in without pause, against the same requests with that thread idle.

Each comes with a control run in the same rounds: two threads of bare argon2 verifies,
and requests beside a thread of bare verifies. On a shared machine the second core is
not always free; when the control falls short too, the machine is the cause.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
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


def _verifier() -> Callable[[], object]:
    """One bare ``default_hasher().verify`` of the password, as a callable."""
    hasher = default_hasher()
    return partial(hasher.verify, hasher.hash(PASSWORD), PASSWORD)


def _timed(work: Callable[[], object]) -> Callable[[], float]:
    def step() -> float:
        start = time.perf_counter()
        work()
        return time.perf_counter() - start

    return step


def _throughput(work: Callable[[], object], threads: int, seconds: float) -> float:
    """Calls per second of ``work`` with ``threads`` threads calling it for ``seconds``."""
    counts = [0] * threads
    until = time.monotonic() + seconds

    def loop(index: int) -> None:
        while time.monotonic() < until:
            work()
            counts[index] += 1

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    start = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.monotonic() - start)


class _Background:
    """A thread that calls ``work`` without pause while ``running`` is set."""

    def __init__(self, work: Callable[[], object]) -> None:
        self.running = threading.Event()
        self.stopped = False
        self.thread = threading.Thread(target=self._loop, args=(work,), daemon=True)
        self.thread.start()

    def _loop(self, work: Callable[[], object]) -> None:
        while not self.stopped:
            if self.running.wait(0.05):
                work()

    def during(self, step: Callable[[], float]) -> Callable[[], float]:
        """``step``, run while this thread works."""

        def busy() -> float:
            self.running.set()
            time.sleep(0.01)  # let the first call start
            try:
                return step()
            finally:
                self.running.clear()

        return busy

    def stop(self) -> None:
        self.stopped = True
        self.running.clear()
        self.thread.join()


def _interference(auth: AuthMiddleware, token: str, settings: Settings) -> dict[str, list[float]]:
    """Authenticated requests alone, beside a thread logging in, and beside a thread
    running bare argon2 verifies (the control: what sharing the CPUs costs anyway)."""
    request = Contender("authenticated", auth, [environ(auth_headers(token))])
    check(auth, request.environs[0], request.name)
    calls = calibrate(request, settings.batch_seconds)

    def quiet() -> float:
        return request.batch(calls)

    logins, verifies = _Background(lambda: _login(auth)), _Background(_verifier())
    try:
        steps = {"quiet": quiet, "logins": logins.during(quiet), "argon2": verifies.during(quiet)}
        return alternate(steps, rounds=settings.interference_rounds)
    finally:
        logins.stop()
        verifies.stop()


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
    login, verify = (lambda: _login(auth)), _verifier()
    latency = alternate(
        {"verify": _timed(verify), "login": _timed(login)}, rounds=settings.latency_rounds
    )
    seconds = settings.throughput_seconds
    rates = alternate(
        {
            f"{name} {threads}": partial(_throughput, work, threads, seconds)
            for name, work in (("login", login), ("argon2", verify))
            for threads in (1, 2)
        },
        rounds=settings.throughput_rounds,
    )
    slowdown = _interference(auth, token, settings)
    return _report(latency, rates, slowdown)


def _report(
    latency: dict[str, list[float]],
    rates: dict[str, list[float]],
    slowdown: dict[str, list[float]],
) -> tuple[str, list[Target]]:
    scaling = median_ratio(rates["login 2"], rates["login 1"])
    control = median_ratio(rates["argon2 2"], rates["argon2 1"])
    busy = median_ratio(slowdown["logins"], slowdown["quiet"])
    busy_control = median_ratio(slowdown["argon2"], slowdown["quiet"])
    targets = [
        Target(
            "login latency / argon2 verify", median_ratio(latency["login"], latency["verify"]), 1.10
        ),
        Target(
            "login throughput, 2 threads / 1 thread",
            scaling,
            1.8,
            at_most=False,
            detail=f"bare argon2 verify in the same rounds: {control:.2f}",
        ),
        Target(
            "authenticated request while logins run / idle",
            busy,
            1.10,
            detail=f"beside bare argon2 verifies instead: {busy_control:.2f}",
        ),
    ]
    return table(["login figure", "median"], _rows(latency, rates, slowdown)), targets


def _rows(
    latency: dict[str, list[float]],
    rates: dict[str, list[float]],
    slowdown: dict[str, list[float]],
) -> list[list[str]]:
    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1e3:.1f} ms"

    def us(values: list[float]) -> str:
        return f"{statistics.median(values) * 1e6:.1f} µs"

    def rate(values: list[float]) -> str:
        return f"{statistics.median(values):.1f}/s"

    return [
        ["argon2 verify alone (default hasher)", ms(latency["verify"])],
        ["login, POST /session", ms(latency["login"])],
        ["logins, 1 thread", rate(rates["login 1"])],
        ["logins, 2 threads", rate(rates["login 2"])],
        ["bare argon2 verifies, 1 thread", rate(rates["argon2 1"])],
        ["bare argon2 verifies, 2 threads", rate(rates["argon2 2"])],
        ["authenticated request, nothing beside it", us(slowdown["quiet"])],
        ["authenticated request, a thread logging in", us(slowdown["logins"])],
        ["authenticated request, a thread verifying argon2", us(slowdown["argon2"])],
    ]
