"""The cost of metrics=Metrics() (and of more transports) on an authenticated request.

    python benchmarks/metrics_cost.py

One in-process authenticated GET through the middleware on memory:// (so the store
costs least and the overheads stand out most), timed without and with metrics, and
with all three transports on. Rounds alternate so that machine noise hits each the same;
each figure is the best of its rounds. Target (issue 15): metrics within 10 % of the
run without them. Prints figures and PASS/FAIL; asserts nothing.
"""

from __future__ import annotations

import sys
import timeit
from collections.abc import Callable
from typing import Any

from _common import USERNAME, auth_headers, environ, hello, middleware
from werkzeug.test import run_wsgi_app

from nullptr_auth import AuthMiddleware
from nullptr_auth.metrics import Metrics

ROUNDS, NUMBER, TARGET = 9, 20_000, 1.10


def request(auth: AuthMiddleware, headers: dict[str, str]) -> Callable[[], object]:
    base = environ(headers)

    def call() -> object:
        _, status, _ = run_wsgi_app(auth, dict(base))
        return status

    assert call() == "200 OK", call()
    return call


def build(**options: Any) -> Callable[[], object]:
    auth = middleware("memory://", app=hello, **options)
    auth.accounts.create(USERNAME, "correct horse battery staple")
    token = auth.sessions.start(auth.accounts.get(USERNAME))
    return request(auth, auth_headers(token))


def main() -> int:
    cases = {
        "headers, no metrics": build(),
        "headers, metrics": build(metrics=Metrics()),
        "all transports, no metrics": build(transports=["headers", "bearer", "cookie"]),
    }
    best = {name: float("inf") for name in cases}
    for _ in range(ROUNDS):
        for name, call in cases.items():
            best[name] = min(best[name], timeit.timeit(call, number=NUMBER) / NUMBER)
    base = best["headers, no metrics"]
    print(f"{'case':<30} {'µs/request':>11} {'ratio':>7}")
    for name, seconds in best.items():
        print(f"{name:<30} {seconds * 1e6:>11.2f} {seconds / base:>7.3f}")
    ratio = best["headers, metrics"] / base
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    print(f"{verdict}: metrics cost {ratio:.3f} of the run without them (target <= {TARGET})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
