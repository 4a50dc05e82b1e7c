"""Throttling of logins, lookups and registrations, shared by every process through the store.

Attempts are counted in runs under a key per rule; a run lasts while attempts keep
coming within its rule's window. **An attempt is counted before it is checked**: the
store reserves it atomically, with one compare-and-increment per rule, before any
password is hashed, so a burst of parallel guesses gets no more checks than the
strictest rule's free attempts, and the rest get ``429`` with ``Retry-After`` at once.
A successful login takes its reservation back (and ends the runs of its username); a
login that could not be checked at all (the server was busy, the store failed) takes
it back too. A refused attempt is not counted and moves no deadline.

=================  =====  ========  ===========  ===========================================
key                free   window    most delay   why
=================  =====  ========  ===========  ===========================================
username+address   5      15 min    15 min       the strict limit: one attacker, one account
address            50     15 min    15 min       one address spraying many usernames
username           20     24 h      1 h          many addresses on one account (each adds
                                                 at most its own 5 free attempts)
account            100    24 h      24 h         at 100 consecutive failures, from anywhere,
                                                 the account refuses logins until 24 h pass
                                                 without one (NIST SP 800-63B §5.2.2)
=================  =====  ========  ===========  ===========================================

Past its free attempts, a rule makes each attempt wait 1 s, then 2 s, 4 s, … up to its
most delay after the run's last attempt.

**One address cannot lock the owner out with a burst.** The username rule counts an
attempt only while the username+address run is within its own free attempts: one
address adds at most 5 to it per strict run, so no burst from it pushes the username
rule past its 20 free failures, and the owner, logging in from elsewhere, is not slowed
by it. The account rule counts every checked failure, so that no one, from one address
or many, makes more than 100 guesses in a row; a single address, held to one guess per
15 minutes after its first five, needs about a day to get there. What attackers can
still do, as NIST SP 800-63B §5.2.2 accepts: 4 addresses that each spend their 5 free
guesses bring the username rule to its delays (at most an hour between attempts), and
100 failures from anywhere refuse even the owner until 24 hours pass without one. That
is the price of a bound on guesses per account.

With ``reveal_unknown_users=False`` every checkUsername and register counts under
:data:`LOOKUP_RULES`; with registration on, every registration counts under
:data:`REGISTRATION_RULES`, so no address creates accounts in bulk.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import CredentialsError, TooManyAttempts
from .stores.base import Reservation, Store


@dataclass(frozen=True)
class Rule:
    """How one kind of run is throttled: ``parts`` of the attempt name its key.

    ``counted_within`` names another rule of the same throttle: this one counts an
    attempt only while that rule's run is still within its free attempts.
    """

    name: str
    parts: tuple[str, ...]
    free_failures: int
    window: timedelta
    most_delay: timedelta
    hard_limit: int | None = None
    counted_within: str | None = None

    def delay(self, failures: int) -> timedelta:
        """How long after the last of ``failures`` the next attempt must wait."""
        if self.hard_limit is not None and failures >= self.hard_limit:
            return self.window
        if failures < self.free_failures:
            return timedelta(0)
        return min(timedelta(seconds=2 ** min(failures - self.free_failures, 30)), self.most_delay)

    def ceiling(self, failures: int) -> int:
        """The most the run may hold once this attempt is counted, given what was read.

        Within the free attempts any of them may go; past them, only the one attempt
        whose delay has passed, so concurrent ones that read the same count are refused.
        """
        return self.free_failures if failures < self.free_failures else failures + 1


_MINUTES_15 = timedelta(minutes=15)
RULES = (
    Rule("login-strict", ("username", "address"), 5, _MINUTES_15, _MINUTES_15),
    Rule("login-address", ("address",), 50, _MINUTES_15, _MINUTES_15),
    Rule(
        "login-username",
        ("username",),
        20,
        timedelta(hours=24),
        timedelta(hours=1),
        counted_within="login-strict",
    ),
    Rule(
        "login-account",
        ("username",),
        100,
        timedelta(hours=24),
        timedelta(hours=24),
        hard_limit=100,
    ),
)
LOOKUP_RULES = (Rule("lookups", ("address",), 30, _MINUTES_15, _MINUTES_15),)
"""With ``reveal_unknown_users=False``: every checkUsername and register counts."""
REGISTRATION_RULES = (Rule("registrations", ("address",), 30, _MINUTES_15, _MINUTES_15),)
"""With ``registration=True``: every registration counts, per client address."""


class Throttle:
    """Counts attempts of one kind in a store and refuses those that must wait.

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
        self._by_name = {rule.name: rule for rule in self._rules}

    def __repr__(self) -> str:
        return f"<Throttle {', '.join(rule.name for rule in self._rules)}>"

    def reserve(self, username: str, address: str) -> list[tuple[Rule, str]]:
        """Count this attempt under every rule that counts it; return those rules' keys.

        :raises TooManyAttempts: if any rule says this attempt must wait; then nothing
            is counted.
        """
        now = self._clock()
        keys = self._keys(username, address)
        runs = {rule.name: self._store.get_failures(key, now) for rule, key in keys}
        wait = timedelta(0)
        counted: list[tuple[Rule, str]] = []
        for rule, key in keys:
            failures, last = runs[rule.name] or (0, now)
            delay = rule.delay(failures)
            if delay:  # another attempt's clock may run a little ahead of this one's
                wait = max(wait, last + delay - now)
            if self._counts(rule, runs):
                counted.append((rule, key))
        if wait > timedelta(0):
            raise TooManyAttempts(math.ceil(wait.total_seconds()))
        reservations = [
            Reservation(key, rule.window, rule.ceiling((runs[rule.name] or (0, now))[0]))
            for rule, key in counted
        ]
        refused = self._store.reserve_attempts(reservations, now)
        if refused is not None:
            raise TooManyAttempts(self._wait(*counted[refused], now))
        return counted

    @contextmanager
    def attempt(self, username: str, address: str) -> Iterator[None]:
        """A login-like attempt: counted first; a failed check keeps the count.

        Leaving the block normally is a success: the username's runs end and the
        address's reservation is taken back. Any error but a
        :class:`~nullptr_auth.errors.CredentialsError` means the attempt was not
        checked, and its reservation is taken back.

        :raises TooManyAttempts: if the attempt must wait; the block does not run.
        """
        counted = self.reserve(username, address)
        try:
            yield
        except CredentialsError:
            raise
        except BaseException:
            self._store.release_attempts([key for _, key in counted], ())
            raise
        self._store.release_attempts(
            [key for rule, key in counted if "username" not in rule.parts],
            [key for rule, key in self._keys(username, address) if "username" in rule.parts],
        )

    def _counts(self, rule: Rule, runs: dict[str, tuple[int, datetime] | None]) -> bool:
        if rule.counted_within is None:
            return True
        bound = self._by_name[rule.counted_within]
        return (runs[bound.name] or (0, None))[0] < bound.free_failures

    def _wait(self, rule: Rule, key: str, now: datetime) -> int:
        """Whole seconds until the run that refused an attempt lets the next one in."""
        failures, last = self._store.get_failures(key, now) or (0, now)
        return max(1, math.ceil((last + rule.delay(failures) - now).total_seconds()))

    def _keys(self, username: str, address: str) -> list[tuple[Rule, str]]:
        name = hashlib.sha256(username.lower().encode("utf-8", "replace")).hexdigest()[:32]
        parts = {"username": name, "address": address[:64]}
        return [
            (rule, f"{rule.name}:" + "|".join(parts[part] for part in rule.parts))
            for rule in self._rules
        ]
