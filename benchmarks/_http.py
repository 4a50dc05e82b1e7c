"""HTTP-level figures: gunicorn serving each contender, ``wrk`` loading it, on 127.0.0.1.

For each worker class (2 sync workers; 2 gthread workers of 4 threads) every contender
gets a gunicorn of its own, all started at once and left idle while another is loaded.
Then, round after round, each is loaded by ``wrk`` (16 connections, 2 threads) for a few
seconds in a shuffled order, and its requests/s is divided by the bare app's of the same
round. Without ``wrk`` (``apt-get install wrk``) a Python load generator stands in, and
the table says so: it spends more CPU per request, so its ratios read higher.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from _report import Target, table, times

HERE = Path(__file__).resolve().parent
CONNECTIONS = 16
STORES = {
    "nullptr_auth": "",
    "nullptr_auth-redis": ", Redis ?cache=on",
    "nullptr_auth-postgres": ", PostgreSQL ?cache=on",
}
"""The nullptr_auth contenders with a target, and how their target names their store."""
KINDS = {
    "sync": ["-k", "sync", "-w", "2"],
    "gthread": ["-k", "gthread", "-w", "2", "--threads", "4"],
}


@dataclass
class Server:
    """One gunicorn serving one contender, and the headers its requests carry."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    headers: dict[str, str]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hello"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(
    name: str, kind: str, env: dict[str, str], headers: dict[str, str], logs: Path
) -> Server:
    port = _free_port()
    log = logs / f"{name}-{kind}.log"
    command = [sys.executable, "-m", "gunicorn", *KINDS[kind], "-b", f"127.0.0.1:{port}"]
    command += ["--pythonpath", str(HERE), "--log-level", "warning", "http_app:app"]
    environment = dict(os.environ, NULLPTR_AUTH_BENCH_APP=name, **env)
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            command, env=environment, stdout=subprocess.DEVNULL, stderr=stderr
        )
    return Server(name, port, process, headers, log)


def _ready(server: Server, timeout: float = 30.0) -> None:
    """Wait until the server answers its authenticated request with 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn for {server.name} exited: {server.log.read_text()}")
        with contextlib.suppress(OSError):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            connection.request("GET", "/hello", headers=server.headers)
            status = connection.getresponse().status
            connection.close()
            if status != 200:
                raise RuntimeError(f"{server.name}: expected 200, got {status}")
            return
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn for {server.name} did not answer within {timeout} s")


def _stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@contextlib.contextmanager
def _servers(
    kind: str, contenders: dict[str, tuple[dict[str, str], dict[str, str]]]
) -> Iterator[list[Server]]:
    with tempfile.TemporaryDirectory(prefix="nullptr-auth-bench-") as logs:
        servers = [
            _start(n, kind, env, headers, Path(logs)) for n, (env, headers) in contenders.items()
        ]
        try:
            for server in servers:
                _ready(server)
            yield servers
        finally:
            for server in servers:
                _stop(server)


def _wrk(server: Server, seconds: int) -> float:
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "5s"]
    for name, value in server.headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(
        [*command, server.url], capture_output=True, text=True, check=True
    ).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if bad:
        raise RuntimeError(
            f"{server.name}: {bad.group(1)} responses were not 200\n{output}"
            f"\nits server's log:\n{server.log.read_text()[-4000:]}"
        )
    found = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if found is None:
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    return float(found.group(1))


def _python_load(server: Server, seconds: int) -> float:
    command = [
        sys.executable,
        str(HERE / "_loadgen.py"),
        server.url,
        str(seconds),
        str(CONNECTIONS),
    ]
    command += [f"{name}: {value}" for name, value in server.headers.items()]
    return float(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def load_generator() -> tuple[str, Callable[[Server, int], float]]:
    if shutil.which("wrk"):
        return "wrk", _wrk
    return "Python load generator (wrk not found: apt-get install wrk)", _python_load


@dataclass
class HttpResult:
    kind: str
    samples: dict[str, list[float]]

    def ratio(self, name: str) -> float:
        return statistics.median(
            a / b for a, b in zip(self.samples[name], self.samples["bare"], strict=True)
        )


def measure(
    contenders: dict[str, tuple[dict[str, str], dict[str, str]]],
    *,
    rounds: int,
    seconds: int,
    log: Callable[[str], None],
) -> list[HttpResult]:
    """Requests/s of every contender under each worker class, in interleaved rounds.

    ``contenders`` maps an app name of ``http_app`` to (extra environment, headers).
    """
    _, generate = load_generator()
    results = []
    for kind in KINDS:
        with _servers(kind, contenders) as servers:
            for server in servers:
                generate(server, 1)  # warm-up: imports, connections, caches
            samples: dict[str, list[float]] = {s.name: [] for s in servers}
            order = list(servers)
            for number in range(rounds):
                random.Random(number).shuffle(order)  # noqa: S311 - an order, not a secret
                for server in order:
                    samples[server.name].append(generate(server, seconds))
                log(f"HTTP {kind}: round {number + 1}/{rounds}")
        results.append(HttpResult(kind, samples))
    return results


def report(results: list[HttpResult], generator: str) -> tuple[str, list[Target]]:
    rows = []
    targets = []
    for result in results:
        for name, values in result.samples.items():
            ratio = None if name == "bare" else result.ratio(name)
            each = ", ".join(f"{value:,.0f}" for value in values)
            rows.append(
                [f"{result.kind}: {name}", f"{statistics.median(values):,.0f}", times(ratio), each]
            )
        for name, store in STORES.items():
            if name in result.samples:
                label = f"HTTP, gunicorn {result.kind}{store}: requests/s / bare app's"
                targets.append(Target(label, result.ratio(name), 0.85, at_most=False))
    # each round's figure: the ratio is the median of the rounds' ratios, and one round
    # of a noisy neighbour shows here, not in the median of the requests/s
    text = table(["gunicorn workers: app", "requests/s", "÷ bare", "each round"], rows)
    return f"load generator: {generator}\n\n{text}", targets
