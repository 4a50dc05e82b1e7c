"""The one canonical spelling of a request path, on which the middleware decides.

A server hands ``PATH_INFO`` over as the client sent it (gunicorn keeps ``//api/x``
and ``/./api/x``), and the frameworks behind the middleware read it in different ways:
werkzeug merges repeated slashes, Falcon drops leading ones, a proxy in front may
resolve dot segments. If the middleware decided on the raw spelling while the
application routed on another, ``require_auth=["/api"]`` would let ``//api/secret``
reach ``/api/secret`` anonymously. So every decision is made on :func:`canonical`, and
a prefix rule covers a path if it covers any of the spellings an application may route
by (:func:`spellings`).
"""

from __future__ import annotations

import re
from collections.abc import Collection

_REPEATED_SLASHES = re.compile(r"//+")


def canonical(path: str) -> str:
    """``path`` with repeated slashes merged and ``.``/``..`` segments resolved.

    Dot segments are resolved after the slashes are merged (``/a//../b`` is ``/b``), a
    ``..`` never climbs above the root, and a trailing slash is kept, as is the one that
    a final ``.`` or ``..`` segment implies (RFC 3986 §5.2.4: ``/api/.`` is ``/api/``).
    The empty path (the root of a ``SCRIPT_NAME`` mount) is ``/``.
    """
    if path.startswith("/") and "//" not in path and "/." not in path:
        return path  # the common case, already canonical
    parts = path.split("/")
    kept: list[str] = []
    for part in parts:
        if part == "..":
            if kept:
                kept.pop()
        elif part not in ("", "."):
            kept.append(part)
    trailing = path.endswith("/") or parts[-1] in (".", "..")
    return "/" + "/".join(kept) + ("/" if trailing and kept else "")


def spellings(path: str) -> Collection[str]:
    """The readings of ``path`` that some server or framework routes by.

    The raw path (routed as sent), with repeated slashes merged (werkzeug), and
    :func:`canonical` (slashes merged and dot segments resolved, as a normalising proxy
    does). A prefix that covers any of them covers the request.
    """
    resolved = canonical(path)
    if resolved == path:
        return (path,)
    return {path, _REPEATED_SLASHES.sub("/", path), resolved}


def is_canonical(path: str) -> bool:
    return canonical(path) == path
