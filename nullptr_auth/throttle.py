"""Throttling of failed logins, shared by every process through the store.

Failures are counted in runs under three keys; a run lasts while failures keep coming
within its rule's window, and a success ends the runs of that username:

=================  =====  ========  ===========  ===========================================
key                free   window    most delay   why
=================  =====  ========  ===========  ===========================================
username+address   5      15 min    15 min       the strict limit: one attacker, one account
address            50     15 min    15 min       one address spraying many usernames
username           20     24 h      1 h          many addresses on one account; at 100
                                                 failures the account refuses logins until
                                                 24 h pass without one (NIST SP 800-63B)
=================  =====  ========  ===========  ===========================================

Past its free failures, a rule makes each attempt wait 1 s, then 2 s, 4 s, … up to its
most delay after the run's last failure; a throttled attempt gets ``429`` with
``Retry-After`` and is not checked at all, so it costs no argon2 work and does not count.
The strict limit is keyed on the address, so an attacker elsewhere slows the real user
only through the looser username limit, whose delay is bounded (one hour at most, until
the hard limit of 100 consecutive failures).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import TooManyAttempts
from .stores.base import Store


@dataclass(frozen=True)
class Rule:
    """How one kind of run is throttled: ``parts`` of the attempt name its key."""

    name: str
    parts: tuple[str, ...]
    free_failures: int
    window: timedelta
    most_delay: timedelta
    hard_limit: int | None = None

    def delay(self, failures: int) -> timedelta:
        """How long after the last of ``failures`` the next attempt must wait."""
        if self.hard_limit is not None and failures >= self.hard_limit:
            return self.window
        if failures < self.free_failures:
            return timedelta(0)
        return min(timedelta(seconds=2 ** min(failures - self.free_failures, 30)), self.most_delay)


_MINUTES_15 = timedelta(minutes=15)
RULES = (
    Rule("login-strict", ("username", "address"), 5, _MINUTES_15, _MINUTES_15),
    Rule("login-address", ("address",), 50, _MINUTES_15, _MINUTES_15),
    Rule("login-username", ("username",), 20, timedelta(hours=24), timedelta(hours=1), 100),
)
LOOKUP_RULES = (Rule("lookups", ("address",), 30, _MINUTES_15, _MINUTES_15),)
"""With ``reveal_unknown_users=False``: every checkUsername and register counts."""


class Throttle:
    """Counts failures of one kind in a store and refuses attempts while they must wait.

    :param store: where the runs are counted.
    :param clock: returns the current UTC time.
    :param rules: how each key is throttled.
    """

    def __init__(
        self, store: Store, clock: Callable[[], datetime], rules: Sequence[Rule] = RULES
    ) -> None:
        self._store = store
        self._clock = clock
        self._rules = tuple(rules)

    def __repr__(self) -> str:
        return f"<Throttle {', '.join(rule.name for rule in self._rules)}>"

    def check(self, username: str, address: str) -> None:
        """:raises TooManyAttempts: if any rule says this attempt must wait."""
        now = self._clock()
        wait = timedelta(0)
        for rule, key in self._keys(username, address):
            run = self._store.get_failures(key, now)
            if run is not None:
                failures, last = run
                wait = max(wait, last + rule.delay(failures) - now)
        if wait > timedelta(0):
            raise TooManyAttempts(math.ceil(wait.total_seconds()))

    def failed(self, username: str, address: str) -> None:
        now = self._clock()
        for rule, key in self._keys(username, address):
            self._store.add_failure(key, now, rule.window)

    def succeeded(self, username: str, address: str) -> None:
        """End the runs of this username; the address's run goes on.

        Most logins have no run to end: a read finds that out without the write lock.
        """
        now = self._clock()
        for rule, key in self._keys(username, address):
            if "username" in rule.parts and self._store.get_failures(key, now) is not None:
                self._store.clear_failures(key)

    def _keys(self, username: str, address: str) -> list[tuple[Rule, str]]:
        name = hashlib.sha256(username.lower().encode("utf-8", "replace")).hexdigest()[:32]
        parts = {"username": name, "address": address[:64]}
        return [
            (rule, f"{rule.name}:" + "|".join(parts[part] for part in rule.parts))
            for rule in self._rules
        ]
