"""Traffic shapes: which session each request presents.

* **one session**: the same session on every request, like one busy client.
* **in turn**: each request the next of 20,000 sessions, so every session is seen once
  per 20,000 requests: what a cache that cannot hold them all pays on every request.
* **Zipf**: ranks drawn from a Zipf distribution with exponent 1.1 over 100,000
  sessions (rank *k* with weight 1/k^1.1), a few sessions busy and a long tail, like
  the users of a real site; ranks are given to sessions in a shuffled order.

The environs of a shape are a lazy sequence over one template environ whose ``Token``
it rewrites on each access: 100,000 prepared environs would weigh 150 MB. The
contender copies each environ before the request (``_timing.py``), so rewriting the
template between requests is safe.
"""

from __future__ import annotations

import bisect
import itertools
import random
from array import array
from collections.abc import Sequence
from typing import Any, overload

IN_TURN = 20_000
ZIPF_SESSIONS = 100_000
ZIPF_EXPONENT = 1.1
ZIPF_REQUESTS = 1_000_000
WARM_REQUESTS = 300_000
"""Requests of a Zipf shape whose sessions are read before timing: more than a full run makes."""


class Environs(Sequence[dict[str, Any]]):
    """``template`` with the ``Token`` of ``tokens[order[i]]`` for the i-th request."""

    def __init__(self, template: dict[str, Any], tokens: Sequence[str], order: Sequence[int]):
        self.template = dict(template)
        self.tokens = tokens
        self.order = order

    def __len__(self) -> int:
        return len(self.order)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            raise TypeError("no slices")
        self.template["HTTP_TOKEN"] = self.tokens[self.order[index]]
        return self.template


def in_turn(template: dict[str, Any], tokens: Sequence[str]) -> Environs:
    return Environs(template, tokens, range(min(IN_TURN, len(tokens))))


def zipf(template: dict[str, Any], tokens: Sequence[str], seed: int = 13) -> Environs:
    return Environs(template, tokens, zipf_order(min(ZIPF_SESSIONS, len(tokens)), seed))


def zipf_order(sessions: int, seed: int = 13, requests: int = ZIPF_REQUESTS) -> array[int]:
    """``requests`` indexes below ``sessions``, drawn Zipf(1.1), ranks shuffled."""
    weights = itertools.accumulate(1 / k**ZIPF_EXPONENT for k in range(1, sessions + 1))
    cumulative = list(weights)
    total = cumulative[-1]
    chance = random.Random(seed)  # noqa: S311 - a traffic shape, not a secret
    session_of_rank = list(range(sessions))
    chance.shuffle(session_of_rank)
    draw = bisect.bisect_left
    return array(
        "I", (session_of_rank[draw(cumulative, chance.random() * total)] for _ in range(requests))
    )


def distinct(order: Sequence[int]) -> int:
    return len(set(order))
