"""The WSGI apps gunicorn serves in the HTTP benchmark, one per server, chosen by env.

``NULLPTR_AUTH_BENCH_APP`` names the contender; ``NULLPTR_AUTH_BENCH_DATABASE`` is the
nullptr_auth store URL (SQLite, or Redis / PostgreSQL with ``?cache=on`` for the
``nullptr_auth-redis`` / ``-postgres`` contenders) and ``NULLPTR_AUTH_BENCH_FLOOR`` the
floor's database. Each worker builds its app when gunicorn imports this module (no
``--preload``), so every process opens its own connections, as in a deployment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from _common import hello, middleware
from _floor import DictLookup, Floor, SQLiteLookup

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

APPS = (
    "bare",
    "nullptr_auth",
    "nullptr_auth-redis",
    "nullptr_auth-postgres",
    "floor-sqlite",
    "floor-dict",
    "repoze.who",
)


def build(name: str) -> WSGIApplication:
    """The app named ``name``; raises ``ValueError`` for another name."""
    if name == "bare":
        return hello
    if name in ("nullptr_auth", "nullptr_auth-redis", "nullptr_auth-postgres"):
        return middleware(os.environ["NULLPTR_AUTH_BENCH_DATABASE"])
    if name == "floor-sqlite":
        return Floor(hello, SQLiteLookup(Path(os.environ["NULLPTR_AUTH_BENCH_FLOOR"])))
    if name == "floor-dict":
        return Floor(hello, DictLookup(Path(os.environ["NULLPTR_AUTH_BENCH_FLOOR"])))
    if name == "repoze.who":
        from _peers import repoze_who

        return repoze_who()[0]
    raise ValueError(f"unknown app {name!r}; one of {', '.join(APPS)}")


app = build(os.environ.get("NULLPTR_AUTH_BENCH_APP", "bare"))
