"""``sessions=``: users in one store, sessions in another, as a fleet deploys them."""

from __future__ import annotations

import io
import sqlite3
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import webtest

from nullptr_auth.cli import main
from nullptr_auth.stores.split import SplitStore

from .conftest import PASSWORD, MakeAuth, login
from .services import redis_url, scratch_key_prefix


def test_users_in_sqlite_sessions_in_redis(make_auth: MakeAuth, tmp_path: Path) -> None:
    url = redis_url()
    with scratch_key_prefix(url) as prefix:
        auth = make_auth(f"sqlite:///{tmp_path}/users.db", sessions=f"{url}?prefix={prefix}")
        assert isinstance(auth.store, SplitStore)
        auth.accounts.create("alice", PASSWORD)
        client = webtest.TestApp(auth)
        first, second = login(client), login(client)
        assert client.get("/app", headers=first).json["remote_user"] == "alice"
        with sqlite3.connect(tmp_path / "users.db") as db:
            assert db.execute("SELECT count(*) FROM nullptr_auth_sessions").fetchone() == (0,)
            assert db.execute("SELECT count(*) FROM nullptr_auth_users").fetchone() == (1,)
        db.close()
        auth.accounts.set_password("alice", "another long password")
        client.get("/app", headers=first, status=401)
        client.get("/app", headers=second, status=401)
        auth.store.close()


def test_the_command_line_takes_a_sessions_store(
    make_auth: MakeAuth,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = redis_url()
    with scratch_key_prefix(url) as prefix:
        sessions = f"{url}?prefix={prefix}"
        users = f"sqlite:///{tmp_path}/users.db"
        monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD))
        assert main(["--database", users, "--sessions", sessions, "user", "create", "alice"]) == 0
        web = webtest.TestApp(make_auth(users, sessions=sessions, secret_keys=None, clock=_now))
        login(web)
        monkeypatch.setenv("NULLPTR_AUTH_SESSIONS", sessions)
        capsys.readouterr()
        assert main(["--database", users, "session", "list"]) == 0
        [line] = capsys.readouterr().out.splitlines()
        assert " alice " in line


def _now() -> datetime:
    return datetime.now(timezone.utc)
