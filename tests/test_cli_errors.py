"""Every way the command line can fail is one ``nullptr-auth: error: …`` line.

Exit status 1, or 2 for a usage error (130 for Ctrl-C), and never a traceback, a codec
message, a driver's log lines or werkzeug's unprefixed output. Permanent configuration
errors say so instead of "try again later".
"""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import nullptr_auth
from nullptr_auth import AuthMiddleware
from nullptr_auth.cli import main
from nullptr_auth.stores import SQLiteStore

from .conftest import PASSWORD
from .services import postgres_url, redis_url

LINE = re.compile(r"nullptr-auth: error: [^\n]+\n")


def cli(*argv: str, stdin: bytes = b"", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The CLI as a process: what a person at a shell sees on stdout and stderr."""
    result = subprocess.run(
        [sys.executable, "-m", "nullptr_auth", *argv],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return subprocess.CompletedProcess(
        result.args, result.returncode, result.stdout.decode(), result.stderr.decode()
    )


def one_error_line(result: subprocess.CompletedProcess[str], status: int = 1) -> str:
    assert (result.returncode, result.stdout) == (status, ""), result.stderr
    assert LINE.fullmatch(result.stderr), result.stderr
    return result.stderr


# -- usage errors: exit 2 ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(["serve", "--port", "-1"], "'-1' is not a port", id="negative-port"),
        pytest.param(["serve", "--port", "99999"], "'99999' is not a port", id="port-too-big"),
        pytest.param(["serve", "--port", "http"], "'http' is not a port", id="port-not-a-number"),
        pytest.param(["user", "frobnicate"], "invalid choice", id="unknown-action"),
        pytest.param([], "required", id="no-command"),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(argv: list[str], expected: str) -> None:
    assert expected in one_error_line(cli("--database", "memory://", *argv), status=2)


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["--version"])
    assert raised.value.code == 0
    assert capsys.readouterr().out == f"nullptr-auth {nullptr_auth.__version__}\n"
    for argv in (["--help"], ["serve", "--help"], ["user", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        text = capsys.readouterr().out
        assert "``" not in text and "::" not in text and ":class:" not in text


# -- serve ------------------------------------------------------------------------------


@pytest.mark.parametrize("server", [[], ["--asgi"]], ids=["werkzeug", "uvicorn"])
def test_a_busy_port_names_the_host_and_port(server: list[str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        error = one_error_line(
            cli("--database", "memory://", "serve", "--port", str(port), *server)
        )
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in error


def test_serve_asgi_without_uvicorn_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    assert main(["--database", "memory://", "serve", "--port", "0", "--asgi"]) == 1
    assert capsys.readouterr().err == (
        "nullptr-auth: error: serve --asgi needs an ASGI server: pip install uvicorn\n"
    )


def test_an_unknown_host_is_named() -> None:
    error = one_error_line(
        cli("--database", "memory://", "serve", "--host", "no-such-host.invalid")
    )
    assert (
        "cannot listen on no-such-host.invalid:8000: unknown host 'no-such-host.invalid'" in error
    )


def test_serve_reads_or_creates_the_kept_key_before_listening(tmp_path: Path) -> None:
    from nullptr_auth import cli

    store = SQLiteStore(tmp_path / "auth.db")
    cli._check_store(AuthMiddleware(lambda e, s: [], store))
    candidate = b"c" * 32
    assert store.get_or_create_secret_key(candidate) != candidate  # one was kept already
    store.close()


def test_serve_checks_the_store_before_listening(tmp_path: Path) -> None:
    (tmp_path / "garbage.db").write_bytes(b"not a database, " * 512)
    error = one_error_line(
        cli("--database", f"sqlite:///{tmp_path}/garbage.db", "serve", "--port", "0")
    )
    assert "file is not a database" in error and "configuration error" in error


# -- the store's configuration, or an outage ----------------------------------------------


@pytest.mark.parametrize(
    ("database", "expected"),
    [
        pytest.param("sqlite:///{tmp}/no/such/dir/auth.db", "No such file", id="no-directory"),
        pytest.param("sqlite:///{tmp}/garbage.db", "not a database", id="not-a-database"),
    ],
)
def test_a_wrong_sqlite_configuration_says_so(tmp_path: Path, database: str, expected: str) -> None:
    (tmp_path / "garbage.db").write_bytes(b"not a database, " * 512)
    error = one_error_line(cli("--database", database.format(tmp=tmp_path), "user", "list"))
    assert expected in error and "configuration error" in error
    assert "try again" not in error.lower()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("/99", "DB index is out of range", id="db-index-out-of-range"),
        pytest.param("/0?bogus=1", "does not know: 'bogus'", id="unknown-parameter"),
    ],
)
def test_a_wrong_redis_configuration_says_so(query: str, expected: str) -> None:
    base = redis_url().rsplit("/", 1)[0]
    error = one_error_line(cli("--database", base + query, "user", "list"))
    assert expected in error and "configuration error" in error
    assert "__init__" not in error and "try again" not in error.lower()


def test_a_wrong_postgres_url_is_one_line_naming_the_reason() -> None:
    url = postgres_url().replace("postgres@", "no_such_role@", 1)
    error = one_error_line(cli("--database", url, "user", "list"))
    assert 'role "no_such_role" does not exist' in error and "configuration error" in error


def test_an_unreachable_postgres_is_one_line_and_may_be_retried() -> None:
    pytest.importorskip("psycopg_pool")
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    error = one_error_line(cli("--database", f"postgresql://127.0.0.1:{port}/x", "user", "list"))
    assert "cannot be reached" in error and "Connection refused" in error


# -- passwords ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stdin", "expected"),
    [
        pytest.param(b"\n", "The password is too short: it must have more than 8", id="empty"),
        pytest.param(b"", "no password given", id="end-of-input"),
        pytest.param(b"\xff\xfe long enough\n", "is not UTF-8 text", id="not-utf-8"),
    ],
)
def test_password_errors_state_the_error(tmp_path: Path, stdin: bytes, expected: str) -> None:
    database = f"sqlite:///{tmp_path}/auth.db"
    error = one_error_line(cli("--database", database, "user", "create", "alice", stdin=stdin))
    assert expected in error and "codec" not in error


def _at_a_terminal(tmp_path: Path, keys: bytes) -> tuple[int, str]:
    """``user create`` on a real pseudo-terminal: wait for the prompt, then type ``keys``."""
    primary, secondary = os.openpty()
    child = (
        # Python ignores ^C if it started with SIGINT ignored, as a run in the background
        # of a shell without job control (`pytest &`) hands it down: a terminal's user
        # has it, so the child takes what Python's start-up installs then.
        "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "import os, sys; fd = os.open(sys.argv[1], os.O_RDWR)\n"  # becomes the controlling tty
        "for n in (0, 1, 2): os.dup2(fd, n)\n"
        "from nullptr_auth.cli import main; sys.exit(main(sys.argv[2:]))"
    )
    argv = ["--database", f"sqlite:///{tmp_path}/auth.db", "user", "create", "alice"]
    process = subprocess.Popen(
        [sys.executable, "-c", child, os.ttyname(secondary), *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    # The secondary end stays open here too: reading the primary before the child has
    # opened it would fail at once (EIO).
    output, typed, deadline = b"", False, time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if not typed and b"Password: " in output:
                os.write(primary, keys)
                typed = True
            ready, _, _ = select.select([primary], [], [], 0.1)
            if ready:
                output += os.read(primary, 4096)
            elif process.poll() is not None:
                break
        return process.wait(timeout=30), output.decode().replace("\r\n", "\n")
    finally:
        os.close(primary)
        os.close(secondary)
        if process.poll() is None:
            process.kill()
            process.wait()


def test_ctrl_d_at_the_prompt_is_one_line(tmp_path: Path) -> None:
    status, output = _at_a_terminal(tmp_path, b"\x04")
    assert status == 1, output
    assert output == "Password: \nnullptr-auth: error: no password given (end of input)\n"


def test_ctrl_c_at_the_prompt_ends_the_line_and_exits_130(tmp_path: Path) -> None:
    status, output = _at_a_terminal(tmp_path, b"\x03")
    assert status == 130, output
    assert "Traceback" not in output
    assert output.endswith("\nnullptr-auth: error: interrupted\n")


# -- what the listings show -----------------------------------------------------------------


def test_user_list_shows_who_is_disabled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    database = f"sqlite:///{tmp_path}/auth.db"
    for name in ("alice", "bob"):
        assert (
            cli("--database", database, "user", "create", name, stdin=PASSWORD.encode()).returncode
            == 0
        )
    assert main(["--database", database, "user", "disable", "bob"]) == 0
    capsys.readouterr()
    assert main(["--database", database, "user", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1:] for line in lines] == [["alice"], ["bob", "disabled"]]


def test_times_are_written_as_http_writes_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = f"sqlite:///{tmp_path}/auth.db"
    cli("--database", database, "user", "create", "alice", stdin=PASSWORD.encode())
    from nullptr_auth import AuthMiddleware

    from .conftest import CHEAP_HASHER

    auth = AuthMiddleware(
        lambda environ, start_response: [],
        database,
        password_hasher=CHEAP_HASHER,
        allow_weak_hashing_for_tests=True,
    )
    auth.sessions.login("alice", PASSWORD)
    auth.store.close()
    capsys.readouterr()
    assert main(["--database", database, "session", "list"]) == 0
    line = capsys.readouterr().out
    stamps = re.findall(r"(?:created|last seen|expires) (\S+)", line)
    assert len(stamps) == 3
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp) for stamp in stamps)
