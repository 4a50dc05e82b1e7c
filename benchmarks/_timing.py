"""Interleaved timing: every contender runs once per round, so drift hits all alike.

The machines this runs on are shared and their speed drifts by half for minutes at a
time. Timing contender A for ten seconds and then B for ten seconds measures the drift as
much as A and B. So each round runs one short batch of every contender, in an order that
changes from round to round, and the figures are medians over rounds. Ratios are taken
within a round first (A's and B's batches ran seconds apart) and their median reported.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import count, islice
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

Environ = dict[str, Any]


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
    """A server that accepts anything: the benchmark checks the status once, beforehand."""
    return None


@dataclass
class Contender:
    """One WSGI application and the requests it is timed on.

    ``environs`` are cycled through, one per request, continuing across batches, so a
    contender given many sessions never sees the same one twice in a row. Every request
    gets a fresh copy of its environ (the middleware pops ``HTTP_TOKEN``), and so does the
    bare app, so the copy costs the same on every row. ``base`` names the contender whose
    cost this one's overhead is measured over, ``floor`` the hand-written floor doing the
    same work, whose overhead this one's is compared with.
    """

    name: str
    app: WSGIApplication
    environs: Sequence[Environ]
    base: str | None = "bare app"
    floor: str | None = None
    _requests: Iterator[Environ] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # By index, not itertools.cycle: a lazy sequence (_shapes.py) hands out one
        # environ it rewrites, which cycle would keep and replay unchanged.
        environs = self.environs
        self._requests = (environs[i % len(environs)] for i in count())

    def batch(self, calls: int) -> float:
        """Seconds per request over ``calls`` requests."""
        app = self.app
        start = time.perf_counter()
        for environ in islice(self._requests, calls):
            body = app(dict(environ), _start_response)
            for _ in body:
                pass
            close = getattr(body, "close", None)
            if close is not None:
                close()
        return (time.perf_counter() - start) / calls


@dataclass
class Rounds:
    """Seconds per request of every contender, one figure per round."""

    samples: dict[str, list[float]]

    def median(self, name: str) -> float:
        return statistics.median(self.samples[name])

    def quartiles(self, name: str) -> tuple[float, float]:
        values = self.samples[name]
        if len(values) < 2:
            return values[0], values[0]
        q = statistics.quantiles(values, n=4)
        return q[0], q[2]

    def overheads(self, name: str, base: str) -> list[float]:
        """Per round: this contender's cost minus its base's, in that same round."""
        return [a - b for a, b in zip(self.samples[name], self.samples[base], strict=True)]

    def overhead(self, name: str, base: str) -> float:
        return statistics.median(self.overheads(name, base))

    def ratio(self, numerator: list[float], denominator: list[float]) -> float:
        """Median of the per-round ratios of two series of the same rounds."""
        return statistics.median(
            a / b if b > 0 else float("inf") for a, b in zip(numerator, denominator, strict=True)
        )


def calibrate(contender: Contender, seconds: float) -> int:
    """How many requests make one batch of about ``seconds``, after a warm-up."""
    calls = 16
    while True:
        elapsed = contender.batch(calls) * calls
        if elapsed >= seconds / 4 or calls >= 1 << 22:
            return max(16, int(calls * seconds / max(elapsed, 1e-9)))
        calls *= 4


def interleave(
    contenders: Sequence[Contender],
    *,
    rounds: int,
    batch_seconds: float,
    seed: int = 7,
    progress: Callable[[str], None] | None = None,
) -> Rounds:
    """Run ``rounds`` rounds of one batch per contender, in a shuffled order each round."""
    sizes = {c.name: calibrate(c, batch_seconds) for c in contenders}
    samples: dict[str, list[float]] = {c.name: [] for c in contenders}
    order = list(contenders)
    shuffle = random.Random(seed).shuffle  # noqa: S311 - an order, not a secret
    for number in range(rounds):
        shuffle(order)
        gc.collect()
        for contender in order:
            samples[contender.name].append(contender.batch(sizes[contender.name]))
        if progress is not None:
            progress(f"round {number + 1}/{rounds}")
    return Rounds(samples)


def alternate(
    steps: Mapping[str, Callable[[], float]], *, rounds: int, seed: int = 11
) -> dict[str, list[float]]:
    """Call each step once per round, in a shuffled order; collect what each returns."""
    results: dict[str, list[float]] = {name: [] for name in steps}
    order = list(steps)
    shuffle = random.Random(seed).shuffle  # noqa: S311 - an order, not a secret
    for _ in range(rounds):
        shuffle(order)
        for name in order:
            results[name].append(steps[name]())
    return results


def median_ratio(numerator: Iterable[float], denominator: Iterable[float]) -> float:
    """Median of per-round ratios (pairs taken in order)."""
    return statistics.median(a / b for a, b in zip(numerator, denominator, strict=True))
