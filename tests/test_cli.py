"""The ``nullptr-auth`` command line, run in-process through ``main(argv)``."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import webtest

from nullptr_auth.cli import main

from .conftest import PASSWORD, MakeAuth, login


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/auth.db"


def run(database: str, *argv: str, stdin: str = "") -> int:
    """Run the CLI with ``stdin`` as a non-terminal standard input."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "stdin", io.StringIO(stdin))
        return main(["--database", database, *argv])


@pytest.fixture
def web(make_auth: MakeAuth, database: str) -> webtest.TestApp:
    """An HTTP view of the same store, as a running server would have, on real time."""
    return webtest.TestApp(
        make_auth(database, secret_keys=None, clock=lambda: datetime.now(timezone.utc))
    )


def test_create_and_list_users(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(database, "user", "create", "Alice", stdin=PASSWORD + "\n") == 0
    assert run(database, "user", "create", "bob", stdin="bobs long password") == 0
    assert run(database, "user", "list") == 0
    out = capsys.readouterr().out
    assert "created alice" in out
    assert [line.split()[1] for line in out.splitlines()[2:]] == ["alice", "bob"]


def test_the_password_read_from_stdin_is_exact(database: str, web: webtest.TestApp) -> None:
    run(database, "user", "create", "alice", stdin="  spaces kept  \n")
    login(web, password="  spaces kept  ")


def test_a_created_user_can_log_in_over_http(database: str, web: webtest.TestApp) -> None:
    run(database, "user", "create", "alice", stdin=PASSWORD + "\n")
    client = web
    assert client.get("/session", headers=login(client)).json["username"] == "alice"


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        pytest.param(["user", "create", "_bad"], PASSWORD, "username", id="invalid-username"),
        pytest.param(["user", "create", "carol"], "short", "password", id="short-password"),
        pytest.param(["user", "create", "carol"], "", "password", id="no-password"),
        pytest.param(["user", "create", "alice"], PASSWORD, "taken", id="taken"),
        pytest.param(["user", "delete", "nobody"], "", "No user", id="delete-unknown"),
        pytest.param(["user", "set-password", "nobody"], PASSWORD, "No user", id="set-unknown"),
        pytest.param(["session", "list", "nobody"], "", "No user", id="list-unknown-user"),
        pytest.param(["session", "revoke", "0" * 32], "", "no session", id="revoke-unknown"),
    ],
)
def test_errors_are_one_line_on_stderr(
    database: str, capsys: pytest.CaptureFixture[str], argv: list[str], stdin: str, message: str
) -> None:
    run(database, "user", "create", "alice", stdin=PASSWORD)
    capsys.readouterr()
    assert run(database, *argv, stdin=stdin) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1
    assert message in captured.err
    assert "Traceback" not in captured.err


def test_an_unusable_database_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(f"sqlite:///{tmp_path}/missing/auth.db", "user", "list") == 1
    assert len(capsys.readouterr().err.splitlines()) == 1
    assert run("redis-is-not-a-url", "user", "list") == 1
    assert "unknown database URL" in capsys.readouterr().err


def test_a_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["user", "frobnicate"])
    assert raised.value.code == 2


def test_set_password_and_delete_end_sessions(database: str, web: webtest.TestApp) -> None:
    run(database, "user", "create", "alice", stdin=PASSWORD)
    client = web
    headers = login(client)
    assert run(database, "user", "set-password", "alice", stdin="another long password") == 0
    client.get("/app", headers=headers, status=401)
    headers = login(client, password="another long password")
    assert run(database, "user", "delete", "alice") == 0
    client.get("/app", headers=headers, status=401)
    client.post_json(
        "/session", {"username": "alice", "password": "another long password"}, status=401
    )


def test_list_and_revoke_sessions(
    database: str, web: webtest.TestApp, capsys: pytest.CaptureFixture[str]
) -> None:
    run(database, "user", "create", "alice", stdin=PASSWORD)
    run(database, "user", "create", "bob", stdin=PASSWORD)
    client = web
    alice, bob = login(client), login(client, "bob")
    capsys.readouterr()
    assert run(database, "session", "list", "alice") == 0
    [line] = capsys.readouterr().out.splitlines()
    session_id = line.split()[0]
    assert " alice " in line and alice["Token"] not in line
    assert run(database, "session", "list") == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert run(database, "session", "revoke", session_id) == 0
    client.get("/app", headers=alice, status=401)
    client.get("/app", headers=bob, status=200)


def test_purge_says_how_many(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    run(database, "user", "create", "alice", stdin=PASSWORD)
    assert run(database, "session", "purge") == 0
    assert "deleted 0 expired sessions" in capsys.readouterr().out


def test_the_database_comes_from_the_environment(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run(database, "user", "create", "alice", stdin=PASSWORD)
    monkeypatch.setenv("NULLPTR_AUTH_DATABASE", database)
    capsys.readouterr()
    assert main(["user", "list"]) == 0
    assert "alice" in capsys.readouterr().out


def test_python_dash_m_runs_the_cli(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "nullptr_auth",
            "--database",
            f"sqlite:///{tmp_path}/a.db",
            "user",
            "list",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_backup_copies_a_sqlite_database_that_serves(
    database: str, web: webtest.TestApp, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(database, "user", "create", "alice", stdin=PASSWORD + "\n")
    headers = login(web)
    assert run(database, "backup", str(tmp_path / "copy.db")) == 0
    assert (tmp_path / "copy.db").stat().st_mode & 0o077 == 0
    assert run(f"sqlite:///{tmp_path}/copy.db", "session", "list", "alice") == 0
    assert "alice" in capsys.readouterr().out.splitlines()[-1]
    assert web.get("/session", headers=headers).json["username"] == "alice", "still serving"
    assert run(database, "backup", str(tmp_path / "copy.db")) == 1, "never overwrites"
    assert "File exists" in capsys.readouterr().err
    assert run("memory://", "backup", str(tmp_path / "other.db")) == 1
    assert "SQLite" in capsys.readouterr().err
