"""Username rules and normalisation.

A valid username has 3 to 32 ASCII latin letters, digits, underscores or hyphens and
does not start with an underscore; it is stored lowercase. The rule is checked *before*
lowercasing, because ``str.lower()`` turns some non-ASCII letters into ASCII ones (the
Kelvin sign ``\\u212a`` becomes ``k``) and no non-ASCII name may collide with an ASCII one.
"""

from __future__ import annotations

import re

from .errors import InvalidUsername

_VALID_USERNAME = re.compile(r"[A-Za-z0-9-][A-Za-z0-9_-]{2,31}", re.ASCII)


def is_valid_username(username: str) -> bool:
    return _VALID_USERNAME.fullmatch(username) is not None


def lookup_key(username: str) -> str | None:
    """The stored form of a presented username, or ``None`` if it cannot name any user.

    A name that breaks the rules is simply not found, so login answers it like any
    unknown name, and the Kelvin sign never logs in as ``k``.
    """
    return username.lower() if is_valid_username(username) else None


def validated_username(username: str) -> str:
    """The stored form of a new username; raises :class:`InvalidUsername` if it breaks the rules."""
    if not is_valid_username(username):
        raise InvalidUsername()
    return username.lower()
