"""HTTP-level figures: gunicorn serving each contender, ``wrk`` loading it, on 127.0.0.1.

For each worker class (2 sync workers; 2 gthread workers of 4 threads) every contender
gets a gunicorn of its own, all started at once and left idle while another is loaded.
Then, round after round, each is loaded by ``wrk`` (16 connections, 2 threads) for a few
seconds in a shuffled order, and its requests/s is divided by the bare app's of the same
round; a gthread round in which one worker holds every connection is run again
(:func:`_spread_round`). Without ``wrk`` (``apt-get install wrk``) a Python load
generator stands in, and the table says so: it spends more CPU per request, so its
ratios read higher.
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
import threading
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
KEEPS_CONNECTIONS = {"gthread"}
"""The worker classes that keep a client's connection open between its requests (the
sync worker closes it after each answer), so that where ``wrk``'s connections land when
it opens them at the start of a round decides the whole round."""
TRIES = 5
"""How often a round is run before it is taken even with every connection on one worker."""


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


def _note_holders(port: int, holders: set[int]) -> None:
    """Add to ``holders`` the processes holding an accepted connection to ``port`` now
    (by ``ss``: one that is not accepted yet belongs to no process)."""
    command = ["ss", "-Htnp", "state", "established", f"( sport = :{port} )"]
    listing = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    holders.update(int(pid) for pid in re.findall(r"pid=(\d+)", listing))


def _spread_round(
    generate: Callable[[Server, int], float], server: Server, seconds: int
) -> tuple[float, int]:
    """One round's requests/s with ``wrk``'s connections on more than one worker, and how
    many rounds were run again to get it.

    gunicorn's workers take connections from one listening socket, whichever wakes
    first. Now and then one of them accepts all 16 as ``wrk`` opens them, and under
    gthread it keeps them all round: the other worker idles and the round runs at a
    third of the rate, for the bare app as for any other (seen here: 2 rounds in 12 of
    the bare app alone, each exactly when ``ss`` showed one worker holding all 16). Such
    a round measures gunicorn's accept, not the app, so it is run again, for every
    contender alike.
    """
    rerun = 0
    while True:
        holders: set[int] = set()
        probe = threading.Timer(min(1.0, seconds / 2), _note_holders, (server.port, holders))
        probe.start()
        rate = generate(server, seconds)
        probe.join()
        if len(holders) > 1 or rerun == TRIES - 1:
            return rate, rerun
        rerun += 1


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
    rerun: dict[str, int]
    """How many rounds of each contender were run again (:func:`_spread_round`); empty
    where that was not checked."""

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
            # without ss (iproute2) a round is taken as it comes, and the column is empty
            spread = kind in KEEPS_CONNECTIONS and shutil.which("ss") is not None
            rerun = dict.fromkeys(samples, 0) if spread else {}
            order = list(servers)
            for number in range(rounds):
                random.Random(number).shuffle(order)  # noqa: S311 - an order, not a secret
                for server in order:
                    if spread:
                        rate, tries = _spread_round(generate, server, seconds)
                        rerun[server.name] += tries
                    else:
                        rate = generate(server, seconds)
                    samples[server.name].append(rate)
                log(f"HTTP {kind}: round {number + 1}/{rounds}")
        results.append(HttpResult(kind, samples, rerun))
    return results


def report(results: list[HttpResult], generator: str) -> tuple[str, list[Target]]:
    rows = []
    targets = []
    for result in results:
        for name, values in result.samples.items():
            ratio = None if name == "bare" else result.ratio(name)
            each = ", ".join(f"{value:,.0f}" for value in values)
            median = f"{statistics.median(values):,.0f}"
            rerun = str(result.rerun[name]) if name in result.rerun else ""
            rows.append([f"{result.kind}: {name}", median, times(ratio), each, rerun])
        for name, store in STORES.items():
            if name in result.samples:
                label = f"HTTP, gunicorn {result.kind}{store}: requests/s / bare app's"
                targets.append(Target(label, result.ratio(name), 0.85, at_most=False))
    # each round's figure: the ratio is the median of the rounds' ratios, and one round
    # of a noisy neighbour shows here, not in the median of the requests/s
    # "run again": the rounds that had every connection on one worker (_spread_round)
    text = table(["gunicorn workers: app", "requests/s", "÷ bare", "each round", "run again"], rows)
    return f"load generator: {generator}\n\n{text}", targets
