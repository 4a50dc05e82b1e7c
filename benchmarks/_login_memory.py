"""Resident memory under login load: ``nullptr-auth serve`` after 1,000 logins from 32
concurrent clients, with the default argon2 hasher (19 MiB a hash).

Each login holds one of the hashing slots (one per CPU) for its argon2 verify. glibc
gives every thread that allocates its own arena and keeps what it freed there, so if
hashes ran on the server's request threads (one per connection) resident memory would
grow by 19 MiB per thread that ever hashed; on the hashing threads it stays near base +
slots x 19 MiB whatever the number of request threads. The target is 100 MB of resident
memory once the logins are done; the peak, while 32 request threads and every hashing
slot are busy at once, is printed beside it.

    python benchmarks/_login_memory.py [--quick]
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _report import Target, table

from nullptr_auth import AuthMiddleware

CLIENTS = 32
LOGINS = 1000
PASSWORD = "correct horse battery staple"
KEY = "nullptr-auth-benchmark-signing-key-0123456789"
_SERVING = re.compile(rb"http://127\.0\.0\.1:(\d+)/")


def _post(base: str, path: str, username: str) -> int:
    body = json.dumps({"username": username, "password": PASSWORD}).encode()
    request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1, our own server
        f"{base}{path}", body, {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=120) as answer:  # noqa: S310 - the same
        return int(answer.status)


def _memory_kib(pid: int) -> tuple[int, int]:
    """VmRSS and VmHWM (the peak) of a process, in KiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def _create_users(database: str, names: list[str]) -> None:
    """The users, made from Python before the server starts: over HTTP, 32 registrations
    from one address would pass the registration throttle's 30 (nullptr_auth.throttle)."""
    auth = AuthMiddleware(lambda environ, start_response: [], database, secret_keys=[KEY])
    for name in names:
        auth.accounts.create(name, PASSWORD)
    auth.store.close()


def _start(database: str, directory: str) -> tuple[subprocess.Popen[bytes], str]:
    environment = {
        **os.environ,
        "NULLPTR_AUTH_DATABASE": database,
        "NULLPTR_AUTH_SECRET_KEYS": KEY,
    }
    command = [sys.executable, "-m", "nullptr_auth", "serve", "--port", "0"]
    log = Path(directory, "serve.log")
    with log.open("wb") as output:  # a file, not a pipe: nobody reads the request log
        server = subprocess.Popen(command, env=environment, stderr=output)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and server.poll() is None:
        match = _SERVING.search(log.read_bytes())
        if match is not None:
            return server, f"http://127.0.0.1:{match.group(1).decode()}"
        time.sleep(0.05)
    server.kill()
    raise RuntimeError(f"nullptr-auth serve did not start:\n{log.read_text()}")


def measure(quick: bool) -> tuple[str, list[Target]]:
    logins = LOGINS // 5 if quick else LOGINS
    with tempfile.TemporaryDirectory() as directory:
        database = f"sqlite:///{directory}/auth.db"
        names = [f"user{n}" for n in range(CLIENTS)]
        _create_users(database, names)
        server, base = _start(database, directory)
        try:
            idle = _memory_kib(server.pid)
            with ThreadPoolExecutor(CLIENTS) as clients:
                started = time.monotonic()
                statuses = list(
                    clients.map(
                        lambda n: _post(base, "/session", names[n % CLIENTS]), range(logins)
                    )
                )
                seconds = time.monotonic() - started
            rss, peak = _memory_kib(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
    refused = sum(status != 200 for status in statuses)
    rows = [
        ["idle: serving, no request yet", f"{idle[0] / 1024:.1f}", f"{idle[1] / 1024:.1f}", ""],
        [
            f"after {logins:,} logins from {CLIENTS} clients ({logins / seconds:.0f}/s)",
            f"{rss / 1024:.1f}",
            f"{peak / 1024:.1f}",
            str(refused),
        ],
    ]
    text = table(["nullptr-auth serve (SQLite)", "RSS MiB", "peak MiB", "refused"], rows)
    detail = f"peak {peak * 1024 / 1e6:.0f} MB" + ("" if logins == LOGINS else ", --quick")
    name = f"memory: RSS after {logins:,} logins from {CLIENTS} clients, MB"
    return text, [Target(name, rss * 1024 / 1e6, 100, detail=detail)]


if __name__ == "__main__":
    text, targets = measure("--quick" in sys.argv)
    print(text)
    for target in targets:
        print(target.line())
