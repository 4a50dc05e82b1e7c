"""A worker process holding a store whose cache serves a session, for test_invalidation.

    python -m tests.stores.watcher URL

For each session id on standard input: read it until the cache serves it, print
``cached``; then ask every millisecond until it is refused, print ``refused``.
"""

from __future__ import annotations

import sys
import time

from nullptr_auth.stores import open_store
from nullptr_auth.stores._cache import MISS


def main() -> None:
    store = open_store(sys.argv[1])
    cache = store.cache  # type: ignore[attr-defined]
    for line in sys.stdin:
        session_id = line.strip()
        while store.find_session(session_id) is None or cache.peek(session_id) is MISS:
            time.sleep(0.005)
        print("cached", flush=True)
        while store.find_session(session_id) is not None:
            time.sleep(0.001)
        print("refused", flush=True)


if __name__ == "__main__":
    main()
