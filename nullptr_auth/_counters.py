"""Counters that cost the counting thread no lock: ``itertools.count`` and reading one.

``next()`` on an ``itertools.count`` is one step in C, atomic under the GIL, so the hot
path pays a call and nothing else; what it has counted is read, at scrape time, from
its repr. The metrics and the session cache count this way.
"""

from __future__ import annotations

import itertools


def counted(counter: itertools.count[int]) -> int:
    """What ``counter`` has counted: its repr is ``count(N)``."""
    return int(repr(counter)[6:-1])
