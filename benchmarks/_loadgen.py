"""A stand-in for ``wrk`` when it is not installed: requests/s over N connections.

    python benchmarks/_loadgen.py URL SECONDS CONNECTIONS ["Name: value" ...]

asyncio, one new connection per request (``Connection: close``, which sync gunicorn
workers do anyway). It spends more CPU per request than ``wrk``, on the same two cores
as the server, so its figures are lower and their ratios closer to 1.
"""

from __future__ import annotations

import asyncio
import sys
import time
from urllib.parse import urlsplit


async def _client(host: str, port: int, request: bytes, until: float) -> int:
    done = 0
    while time.monotonic() < until:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(request)
        response = await reader.read()
        writer.close()
        if not response.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"not 200: {response[:100]!r}")
        done += 1
    return done


async def _load(url: str, seconds: float, connections: int, headers: list[str]) -> float:
    parts = urlsplit(url)
    lines = [f"GET {parts.path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close", *headers]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    start = time.monotonic()
    until = start + seconds
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    counts = await asyncio.gather(
        *(_client(host, port, request, until) for _ in range(connections))
    )
    return sum(counts) / (time.monotonic() - start)


def main(argv: list[str]) -> int:
    url, seconds, connections, *headers = argv
    print(f"{asyncio.run(_load(url, float(seconds), int(connections), headers)):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
