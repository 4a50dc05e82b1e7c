"""The hand-written floor: the least a token middleware with revocable sessions does.

Per request it reads the two headers through werkzeug, verifies the token's
itsdangerous signature (HMAC-SHA256), hashes the whole token with SHA-256, looks the
session up by id (one indexed SQLite query on a per-thread connection, or a dict),
compares the hashes in constant time, checks the username and expiry, and calls the
app. No cache, no activity tracking, no audit, no error mapping: what anyone would write
in an afternoon, and the yardstick nullptr_auth's overhead is held against.

Its database has its own minimal table and tokens of its own signing, so the floor does
not depend on anything inside nullptr_auth.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from _populate import MINTED, cache_dir
from itsdangerous import BadSignature, Signer
from werkzeug.datastructures import EnvironHeaders

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

FLOOR_KEY = "hand-written-floor-signing-key-0123456789"
FLOOR_USER = "alice"
_VERSION = 2  # 2: MINTED tokens (100,000)
_SCHEMA = """
CREATE TABLE sessions (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL, username TEXT NOT NULL,
    token_hash BLOB NOT NULL, expires_at REAL NOT NULL
)
"""
_FIND = "SELECT user_id, username, token_hash, expires_at FROM sessions WHERE id = ?"
Row = tuple[str, str, bytes, float]


def _signer() -> Signer:
    return Signer(FLOOR_KEY, salt="floor-session", digest_method=hashlib.sha256)


def _unauthorized(start_response: StartResponse) -> Iterable[bytes]:
    start_response("401 Unauthorized", [("Content-Type", "text/plain")])
    return [b"unauthorized"]


class Floor:
    """WSGI middleware authenticating ``Username``/``Token`` against ``lookup``."""

    def __init__(self, app: WSGIApplication, lookup: Lookup) -> None:
        self.app = app
        self.lookup = lookup
        self.signer = _signer()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        headers = EnvironHeaders(environ)
        username, token = headers.get("Username"), headers.get("Token")
        if not username or not token:
            return _unauthorized(start_response)
        try:
            session_id = self.signer.unsign(token).decode("ascii").partition(".")[0]
        except BadSignature:
            return _unauthorized(start_response)
        digest = hashlib.sha256(token.encode("ascii")).digest()
        row = self.lookup(session_id)
        if (
            row is None
            or not hmac.compare_digest(digest, row[2])
            or row[1] != username.lower()
            or row[3] <= time.time()
        ):
            return _unauthorized(start_response)
        environ.pop("HTTP_TOKEN", None)
        environ["REMOTE_USER"] = row[1]
        return self.app(environ, start_response)


class Lookup:
    """Finds a session row by id."""

    def __call__(self, session_id: str) -> Row | None:
        raise NotImplementedError


class SQLiteLookup(Lookup):
    """One prepared, indexed query on a connection per thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    def __call__(self, session_id: str) -> Row | None:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = sqlite3.connect(self.path, check_same_thread=False)
        row: Row | None = db.execute(_FIND, (session_id,)).fetchone()
        return row


class DictLookup(Lookup):
    """The same rows in a dict: the floor without any I/O."""

    def __init__(self, path: Path) -> None:
        with contextlib.closing(sqlite3.connect(path)) as db:
            rows = db.execute("SELECT id, user_id, username, token_hash, expires_at FROM sessions")
            self.rows: dict[str, Row] = {r[0]: (r[1], r[2], bytes(r[3]), r[4]) for r in rows}

    def __call__(self, session_id: str) -> Row | None:
        return self.rows.get(session_id)


@dataclass(frozen=True)
class FloorData:
    path: Path
    hot_token: str
    tokens: tuple[str, ...]


def floor_db(size: int, directory: Path | None = None) -> FloorData:
    """The floor's database of ``size`` sessions, built once and cached."""
    path = (directory or cache_dir()) / f"floor-{size}-v{_VERSION}.db"
    sidecar = path.with_suffix(".json")
    if not (path.exists() and sidecar.exists()):
        _build(path, sidecar, size)
    saved = json.loads(sidecar.read_text())
    return FloorData(path, saved["tokens"][0], tuple(saved["tokens"]))


def _build(path: Path, sidecar: Path, size: int) -> None:
    building = path.with_name(path.name + ".building")
    building.unlink(missing_ok=True)
    signer = _signer()
    tokens: list[str] = []
    with contextlib.closing(sqlite3.connect(building)) as db:
        db.execute(_SCHEMA)
        with db:
            rows = _rows(signer, size, min(size, MINTED), tokens)
            db.executemany("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)", rows)
    building.rename(path)
    sidecar.write_text(json.dumps({"tokens": tokens}))


def _rows(
    signer: Signer, size: int, minted: int, tokens: list[str]
) -> Iterator[tuple[str, str, str, bytes, float]]:
    """``size`` rows; the first ``minted`` are ``FLOOR_USER``'s, their tokens appended."""
    expires = time.time() + 10 * 365 * 86400
    for number in range(size):
        session_id = secrets.token_hex(16)
        if number < minted:
            token = signer.sign(f"{session_id}.{secrets.token_urlsafe(32)}").decode("ascii")
            tokens.append(token)
            digest, user = hashlib.sha256(token.encode("ascii")).digest(), FLOOR_USER
        else:
            digest, user = secrets.token_bytes(32), f"user{number // 5}"
        yield session_id, f"id-{user}", user, digest, expires
