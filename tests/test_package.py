"""The distributions a PyPI user gets: metadata, the LICENSE, and an sdist whose suite runs.

Builds the sdist and wheel once (``python -m build``), checks them with ``twine check``,
and runs the core suite from the unpacked sdist. Marked ``servers``: it builds and starts
processes of its own, so it runs once, in the ``package`` env, not once per Python.
"""

from __future__ import annotations

import email
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import nullptr_auth

ROOT = Path(__file__).parents[1]
pytestmark = pytest.mark.servers


def _tracked() -> list[str]:
    return subprocess.run(
        ["git", "ls-files"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel, built as a release would be: from the tracked files alone.

    Not from the checkout itself, whose leftover ``*.egg-info/SOURCES.txt`` would let
    setuptools add files that MANIFEST.in forgot.
    """
    pytest.importorskip("build", reason="build is not installed; tox -e package runs this")
    source = ROOT
    if (ROOT / ".git").exists():
        source = tmp_path_factory.mktemp("source")
        for name in _tracked():
            if (ROOT / name).is_file():
                (source / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return out


def _sdist(dist: Path) -> Path:
    return next(dist.glob("nullptr_auth-*.tar.gz"))


def _wheel(dist: Path) -> Path:
    return next(dist.glob("nullptr_auth-*.whl"))


def test_twine_check_passes(dist: Path) -> None:
    pytest.importorskip("twine", reason="twine is not installed; tox -e package runs this")
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", _sdist(dist), _wheel(dist)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_wheel_ships_the_license_and_the_metadata(dist: Path) -> None:
    with zipfile.ZipFile(_wheel(dist)) as wheel:
        names = wheel.namelist()
        info = next(name.rsplit("/", 1)[0] for name in names if name.endswith("/METADATA"))
        metadata = email.message_from_bytes(wheel.read(f"{info}/METADATA"))
        license_text = wheel.read(next(n for n in names if n.endswith("/LICENSE")))
    assert license_text.startswith(b"MIT License")
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata["Author"]
    classifiers = metadata.get_all("Classifier")
    for expected in [
        "License :: OSI Approved :: MIT License",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.13",
        "Framework :: Flask",
        "Framework :: Django",
        "Framework :: Pyramid",
        "Environment :: Web Environment",
        "Topic :: Security",
    ]:
        assert expected in classifiers
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL"))
    assert {"Documentation", "Source", "Changelog", "Issues"} <= set(urls)


def test_the_version_comes_from_the_installed_metadata() -> None:
    version = re.search(r"^version = (\S+)$", (ROOT / "setup.cfg").read_text(), re.MULTILINE)
    assert version is not None
    assert nullptr_auth.__version__ == version[1]


def test_the_sdist_holds_every_tracked_file(dist: Path) -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (an unpacked sdist): nothing to compare with")
    tracked = _tracked()
    with tarfile.open(_sdist(dist)) as sdist:
        shipped = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    missing = sorted(set(tracked) - shipped - {".gitignore"})
    assert missing == []
    assert {"LICENSE", "tests/conftest.py", "tests/services.py", "tox.ini"} <= shipped


def test_the_suite_runs_from_the_unpacked_sdist(dist: Path, tmp_path: Path) -> None:
    with tarfile.open(_sdist(dist)) as sdist:
        sdist.extractall(tmp_path, filter="data")
    (source,) = tmp_path.iterdir()
    env = {**os.environ, "PYTHONPATH": str(source), "PYTHONDONTWRITEBYTECODE": "1"}
    where = subprocess.run(
        [sys.executable, "-c", "import nullptr_auth; print(nullptr_auth.__file__)"],
        cwd=source,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(source)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "not servers", "-q", "-p", "no:cacheprovider"],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"\b\d{3,} passed\b", result.stdout), result.stdout[-500:]
