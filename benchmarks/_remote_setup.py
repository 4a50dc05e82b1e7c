"""Copy the benchmark's populations and floors into the Redis and PostgreSQL servers."""

from __future__ import annotations

from collections.abc import Callable

import _remote
from _floor import FloorData
from _populate import Population


def redis(main: Population, floor: FloorData, log: Callable[[str], None]) -> None:
    log("Redis: the 100k population and the floor (copied once, then reused)")
    _remote.redis_population(main.path)
    _remote.redis_floor(floor)


def postgres(main: Population, floor: FloorData, log: Callable[[str], None]) -> None:
    log("PostgreSQL: the 100k population and the floor (copied once, then reused)")
    _remote.postgres_population(main.path)
    _remote.postgres_floor(floor)
