"""Resident memory: processes serving 100,000 sessions from SQLite against an idle one.

Each figure comes from a fresh subprocess running this file, so nothing the parent
loaded counts. All import the same modules and build the same middleware over the same
database; the idle one then stops. ``serve`` authenticates 20,001 sessions in turn,
twice over. ``zipf`` makes the Zipf(1.1) shape's requests over all 100,000 sessions
(``_shapes.WARM_REQUESTS`` of them, more than a timed run draws), so the session cache
(64 MB by default) ends up holding the shape's whole working set: issue 13's target is
that this costs under 64 MiB of resident memory over the idle process.

    python benchmarks/_memory.py idle|serve|zipf DATABASE_URL TOKENS_JSON
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import _shapes
from _common import NO_ACTIVITY_WRITES, auth_headers, environ, middleware
from _report import Target, table

HERE = Path(__file__).resolve().parent


def resident_kib() -> tuple[int, int]:
    """VmRSS and VmHWM (the peak) of this process, in KiB, from ``/proc``; else psutil."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        import psutil

        info = psutil.Process().memory_info()
        return info.rss // 1024, info.rss // 1024
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def _serve(url: str, tokens: list[str], passes: int = 2) -> None:
    """Authenticate every token ``passes`` times, building each environ as it goes (a
    list of 20,000 prepared environs would itself weigh tens of MiB)."""
    auth = middleware(url, activity_interval=NO_ACTIVITY_WRITES)  # as the (in turn) rows
    template = environ(auth_headers(tokens[0]))
    statuses: list[str] = []

    def start_response(status: str, headers: object, exc_info: object = None) -> None:
        statuses.append(status)

    for _ in range(passes):
        for token in tokens:
            for _ in auth(dict(template, HTTP_TOKEN=token), start_response):  # type: ignore[arg-type]
                pass
    refused = sum(not status.startswith("200") for status in statuses)
    if refused:
        raise RuntimeError(f"{refused} requests were refused")


def _zipf(url: str, tokens: list[str]) -> dict[str, int]:
    """The Zipf shape's requests over every session; what the cache holds afterwards."""
    auth = middleware(url, activity_interval=NO_ACTIVITY_WRITES)
    requests = _shapes.Environs(
        environ(auth_headers(tokens[0])),
        tokens,
        _shapes.zipf_order(len(tokens), requests=_shapes.WARM_REQUESTS),
    )
    refused = 0

    def start_response(status: str, headers: object, exc_info: object = None) -> None:
        nonlocal refused
        refused += not status.startswith("200")

    for request in requests:
        for _ in auth(dict(request), start_response):  # type: ignore[arg-type]
            pass
    if refused:
        raise RuntimeError(f"{refused} requests were refused")
    stats = auth.store.cache_stats()  # type: ignore[attr-defined]
    return {
        "requests": len(requests),
        "sessions": _shapes.distinct(requests.order),
        "entries": stats.entries,
        "cache_bytes": stats.bytes,
    }


def probe(mode: str, url: str, tokens_file: str) -> dict[str, int]:
    saved = json.loads(Path(tokens_file).read_text())
    tokens = [saved["hot"], *saved["tokens"]]
    found: dict[str, int] = {"requests": 0}
    if mode == "serve":
        _serve(url, tokens[:20_001])
        found["requests"] = 2 * 20_001
    elif mode == "zipf":
        found = _zipf(url, tokens)
    else:
        middleware(url, activity_interval=NO_ACTIVITY_WRITES)
    rss, peak = resident_kib()
    return {"rss": rss, "peak": peak, **found}


def _run(mode: str, url: str, tokens_file: Path) -> dict[str, int]:
    command = [sys.executable, str(HERE / "_memory.py"), mode, url, str(tokens_file)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return dict(json.loads(output))


def measure(url: str, tokens_file: Path, repeats: int) -> tuple[str, list[Target]]:
    """Alternate idle and serving subprocesses ``repeats`` times; compare medians."""
    runs: dict[str, list[dict[str, int]]] = {"idle": [], "serve": [], "zipf": []}
    for _ in range(repeats):
        for mode in runs:
            runs[mode].append(_run(mode, url, tokens_file))
    rss = {mode: statistics.median(r["rss"] for r in found) for mode, found in runs.items()}
    peak = {mode: statistics.median(r["peak"] for r in found) for mode, found in runs.items()}
    growth = (rss["serve"] - rss["idle"]) / 1024
    zipf = runs["zipf"][0]
    working_set = (rss["zipf"] - rss["idle"]) / 1024
    rows = [
        [
            "idle: middleware built, no request",
            f"{rss['idle'] / 1024:.1f}",
            f"{peak['idle'] / 1024:.1f}",
        ],
        [
            f"serving: {runs['serve'][0]['requests']:,} requests over 20,001 sessions",
            f"{rss['serve'] / 1024:.1f}",
            f"{peak['serve'] / 1024:.1f}",
        ],
        [
            f"Zipf: {zipf['requests']:,} requests over {zipf['sessions']:,} sessions,"
            f" {zipf['entries']:,} cached ({zipf['cache_bytes'] / 2**20:.1f} MiB charged)",
            f"{rss['zipf'] / 1024:.1f}",
            f"{peak['zipf'] / 1024:.1f}",
        ],
    ]
    text = table(["process (SQLite, 100k sessions)", "RSS MiB", "peak MiB"], rows)
    return text, [
        Target("memory: 20,001 sessions in turn - idle, MiB", growth, 64),
        Target("memory: Zipf working set cached - idle, MiB", working_set, 64),
    ]


if __name__ == "__main__":
    print(json.dumps(probe(*sys.argv[1:4])))
