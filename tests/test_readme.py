"""README.md, copy-pasted literally: its demo command and curl walk-through in a fresh clone.

The clone is of the committed tree (as CI's is), so a README that drifts from the
program fails here. Commands are run as written, but for the port: the README's 8000
becomes a free one, so that the test can share a machine. In each expected-output line
(``# …`` under a command), ``…`` and the letters touching it match anything.
Marked ``servers`` (it starts the demo server, gunicorn and waitress), so it runs once,
in the ``package`` env.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from .services import free_port, redis_url, scratch_key_prefix, with_query

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
WILDCARD = re.compile(r"[\w-]*…[\w-]*")


def section(title: str) -> str:
    """The text of the README's ``## title`` section (or ``###``), up to the next heading.

    Headings have two ``#`` or more, so a shell comment in a code block ends nothing.
    """
    heading = r"^#{2,} "
    found = re.search(
        rf"{heading}{re.escape(title)}\n(.*?)(?={heading}|\Z)", README, re.MULTILINE | re.DOTALL
    )
    assert found, f"README.md has no section {title!r}"
    return found[1]


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)


@dataclass
class Step:
    command: str
    expected: list[str]


def steps(block: str) -> list[Step]:
    """Commands (continued by a trailing ``\\`` or ``|``) and the output lines under them."""
    found: list[Step] = []
    current: Step | None = None
    lines = iter(block.splitlines())
    for line in lines:
        if not line.strip():
            current = None
        elif line.startswith("#"):
            if current is not None:
                current.expected.append(line.removeprefix("# "))
        else:
            command = [line]
            while command[-1].rstrip().endswith(("\\", "|")):
                command.append(next(lines))
            current = Step("\n".join(command), [])
            found.append(current)
    return found


def matches(expected: str, actual: str) -> bool:
    literal = WILDCARD.split(expected)
    return re.fullmatch(".*?".join(map(re.escape, literal)), actual) is not None


def test_readme_links_are_absolute_so_they_work_on_pypi() -> None:
    relative = [
        link for link in re.findall(r"\]\(([^)]+)\)", README) if not link.startswith("https://")
    ]
    assert relative == []


def test_the_test_command_is_ci_s() -> None:
    [command] = shell_blocks(section("Two commands"))[1].splitlines()
    ci = [
        line
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "set ", "cd ", "export "))
    ]
    assert ci == [command]


def test_the_walk_through_parses_as_the_test_expects() -> None:
    walk = steps(shell_blocks(section("A walk-through with curl"))[0])
    assert len(walk) == 7
    assert sum(1 for step in walk if step.expected) == 6


# -- in a fresh clone ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (an unpacked sdist): nothing to clone")
    target = tmp_path_factory.mktemp("fresh") / "nullptr_auth"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True, timeout=120)
    return target


def _environment() -> dict[str, str]:
    """This process's environment without what points at this checkout or its venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["NULLPTR_AUTH_DATABASE"] = "sqlite:///nullptr_auth.db"
    env.pop("NULLPTR_AUTH_SESSIONS", None)
    env.pop("NULLPTR_AUTH_SECRET_KEYS", None)
    return env


@pytest.fixture(scope="module")
def demo(clone: Path) -> Iterator[int]:
    """The README's demo command, run in the clone; the port it serves on."""
    [command] = shell_blocks(section("Two commands"))[0].splitlines()
    port = free_port()
    log = clone / "serve.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            ["bash", "-c", f"{command} --port {port}"],
            cwd=clone,
            env=_environment(),
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    try:
        _wait_for(port, server, log)
        yield port
    finally:
        _stop(server)


def _wait_for(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    """Until something answers on ``port``: a new venv and pip install come first."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=5)
            return
        except requests.ConnectionError:
            time.sleep(0.5)
    raise AssertionError(f"nothing listens on {port}: {log.read_text()}")


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.mark.servers
def test_the_walk_through_answers_as_the_readme_shows(clone: Path, demo: int) -> None:
    block = shell_blocks(section("A walk-through with curl"))[0]
    walk = steps(block.replace("localhost:8000", f"localhost:{demo}"))
    script = "\n".join(
        f"{{ {step.command}\n}} > step{n}.out 2> step{n}.err" for n, step in enumerate(walk)
    )
    subprocess.run(["bash", "-c", script], cwd=clone, env=_environment(), check=True, timeout=300)
    for n, step in enumerate(walk):
        out = (clone / f"step{n}.out").read_text()
        err = (clone / f"step{n}.err").read_text()
        assert err == "", f"{step.command}\nwrote to stderr: {err}"
        if step.expected:
            actual = out.splitlines()
            assert len(actual) == len(step.expected), f"{step.command}\nprinted: {out}"
            for expected, line in zip(step.expected, actual, strict=True):
                assert matches(expected, line), (
                    f"{step.command}\nREADME: {expected}\ngot:    {line}"
                )
            assert out.endswith("\n"), f"{step.command}\nleaves the prompt on its line"


@pytest.mark.servers
@pytest.mark.parametrize("server", ["gunicorn", "waitress-serve"])
def test_the_production_commands_serve_the_demo(clone: Path, server: str) -> None:
    """The README's demo lines of "Running in production", with the demo's venv."""
    [line] = [
        line
        for line in shell_blocks(section("Running in production"))[0].splitlines()
        if line.startswith(server) and "nullptr_auth.demo" in line
    ]
    port = free_port()
    argv = shlex.split(line.replace("127.0.0.1:8000", f"127.0.0.1:{port}"))
    program = Path(sys.executable).parent / argv[0]
    if not program.exists():
        pytest.skip(f"{argv[0]} is not installed; tox -e package has it")
    log = clone / f"{server}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(program), *argv[1:]],
            cwd=clone,
            env={**_environment(), "PYTHONPATH": str(clone)},
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    try:
        _wait_for(port, process, log)
        answer = requests.get(f"http://127.0.0.1:{port}/hello", timeout=10)
        assert answer.json() == {"path": "/hello", "remote_user": None, "user": None}
    finally:
        _stop(process)


@pytest.mark.servers
def test_the_two_servers_block_runs_twice(clone: Path, demo: int) -> None:
    """The Redis block, pasted twice into the clone (whose .venv the demo made)."""
    url = redis_url()
    block = shell_blocks(section("Two servers on one Redis"))[0]
    with scratch_key_prefix(url) as prefix:
        first, second = free_port(), free_port()
        database = with_query(url, "prefix", prefix)
        script = (
            block.replace("redis://127.0.0.1:6379/0?prefix=demo:", database)
            .replace("localhost:8001", f"localhost:{first}")
            .replace("--port 8001", f"--port {first}")
            .replace("localhost:8002", f"localhost:{second}")
            .replace("--port 8002", f"--port {second}")
        )
        assert "8001" not in script and "8002" not in script and "demo:" not in script
        for paste in (1, 2):
            shell = subprocess.Popen(
                ["bash", "-c", script],
                cwd=clone,
                env=_environment(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            try:
                out, err = shell.communicate(timeout=600)
            finally:
                _stop(shell)
                with contextlib.suppress(ProcessLookupError):  # servers a failed paste left
                    os.killpg(shell.pid, signal.SIGTERM)
            assert shell.returncode == 0, f"paste {paste}: {err}"
            assert '"remote_user": "alice"' in out and "\n204\n" in out, out
            assert out.rstrip().endswith(
                '"code": "INVALID_SESSION", "message": '
                '"The Username and Token headers do not name a live session."}}'
            ), out
