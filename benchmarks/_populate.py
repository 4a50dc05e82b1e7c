"""SQLite databases with many live sessions, built fast and kept between runs.

Logging in 100,000 times through the API would take minutes (one argon2 verify and one
durable commit each). Instead one session is started through the public API, its row
read back as a template, and the other rows written in one transaction with
``executemany`` into the same table, each with a fresh id and token hash. Sessions the
benchmark authenticates with are issued by nullptr_auth's own signer
(``middleware.sessions.signer``), so their tokens and at-rest hashes are real; the rest
get random hashes and belong to made-up users.

Files are cached under the temporary directory, keyed by the size and a digest of the
schema, and checked by authenticating before reuse, so a schema or token change
rebuilds them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import PASSWORD, USERNAME, middleware

from nullptr_auth import AuthError

MINTED = 100_000
"""Sessions the benchmark can authenticate with: every session of the 100,000 that the
Zipf traffic shape draws from (``_shapes.py``)."""
SESSIONS_PER_FAKE_USER = 5
_TABLE = "nullptr_auth_sessions"


def cache_dir() -> Path:
    path = Path(tempfile.gettempdir()) / "nullptr_auth_bench"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


@dataclass(frozen=True)
class Population:
    """A database of ``size`` live sessions and the tokens of those the benchmark may use."""

    path: Path
    size: int
    hot_token: str
    tokens: tuple[str, ...]

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"


def sessions_db(size: int, directory: Path | None = None, *, log: Any = print) -> Population:
    """A database of ``size`` sessions, from the cache when a valid one is there."""
    directory = directory or cache_dir()
    path = directory / f"nullptr-{size}-m{MINTED}-{_schema_digest(directory)}.db"
    cached = _load(path, size)
    if cached is not None:
        return cached
    log(f"building {path.name} ({size:,} sessions) once; later runs reuse it")
    return _build(path, size)


def _schema_digest(directory: Path) -> str:
    """A digest of the schema nullptr_auth creates today, from a throwaway database."""
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        store = middleware(f"sqlite:///{scratch}/probe.db").store
        store.get_user("nobody")
        store.close()
        with contextlib.closing(sqlite3.connect(f"{scratch}/probe.db")) as db:
            rows = db.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    return hashlib.sha256(repr(rows).encode()).hexdigest()[:12]


def _load(path: Path, size: int) -> Population | None:
    sidecar = path.with_suffix(".json")
    if not (path.exists() and sidecar.exists()):
        return None
    saved = json.loads(sidecar.read_text())
    population = Population(path, size, saved["hot"], tuple(saved["tokens"]))
    return population if _authenticates(population) else None


def _authenticates(population: Population) -> bool:
    """Whether the saved tokens still log in (sessions expire; formats change)."""
    auth = middleware(population.url)
    try:
        for token in (population.hot_token, population.tokens[0], population.tokens[-1]):
            auth.sessions.authenticate(USERNAME, token)
    except AuthError:
        return False
    finally:
        auth.store.close()
    return True


def _build(path: Path, size: int) -> Population:
    building = path.with_name(path.name + ".building")
    _remove(building)
    auth = middleware(f"sqlite:///{building}")
    user = auth.accounts.create(USERNAME, PASSWORD)
    hot = auth.sessions.start(user)
    signer = auth.sessions.signer
    ids = [secrets.token_hex(16) for _ in range(min(MINTED, size - 1))]
    issued = [(session_id, signer.issue(session_id)) for session_id in ids]
    auth.store.close()
    with contextlib.closing(sqlite3.connect(building)) as db:
        db.execute("PRAGMA synchronous = OFF")
        columns, template = _template(db)
        rows = _rows(columns, template, [(sid, i.token_hash) for sid, i in issued], size - 1)
        with db:
            db.executemany(_insert(columns), rows)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    _remove(path)
    building.rename(path)
    _remove(building)
    tokens = tuple(i.token for _, i in issued)
    path.with_suffix(".json").write_text(json.dumps({"hot": hot, "tokens": tokens}))
    return Population(path, size, hot, tokens)


def _template(db: sqlite3.Connection) -> tuple[list[str], dict[str, Any]]:
    """The columns of the sessions table and the one row started through the API."""
    cursor = db.execute(f"SELECT * FROM {_TABLE}")  # noqa: S608
    columns = [d[0] for d in cursor.description]
    missing = {"id", "user_id", "username", "token_hash"} - set(columns)
    if missing:
        raise RuntimeError(f"{_TABLE} has no column {sorted(missing)}: update _populate.py")
    return columns, dict(zip(columns, cursor.fetchone(), strict=True))


def _rows(
    columns: list[str], template: dict[str, Any], issued: list[tuple[str, bytes]], count: int
) -> Iterator[tuple[Any, ...]]:
    """``count`` rows like the template: the issued sessions first (the template's user's),
    then sessions of made-up users with random token hashes."""
    for session_id, token_hash in issued:
        row = dict(template, id=session_id, token_hash=token_hash)
        yield tuple(row[c] for c in columns)
    for number in range(count - len(issued)):
        owner = number // SESSIONS_PER_FAKE_USER
        row = dict(
            template,
            id=secrets.token_hex(16),
            user_id=str(uuid.UUID(int=owner + 1)),
            username=f"user{owner}",
            token_hash=secrets.token_bytes(32),
        )
        yield tuple(row[c] for c in columns)


def _insert(columns: list[str]) -> str:
    names = ", ".join(columns)
    marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO {_TABLE} ({names}) VALUES ({marks})"  # noqa: S608


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal", "-revocations"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
