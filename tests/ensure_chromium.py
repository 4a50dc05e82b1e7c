"""Make sure Debian's Chromium and chromedriver are installed, for ``tox -e browser``.

Run as ``python tests/ensure_chromium.py``: as root, ``apt-get install`` adds whichever
is missing (after one ``apt-get update``); otherwise, or if that fails, it exits 1
naming what is missing. The browser test imports :func:`missing` from here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PACKAGES = {CHROMIUM: "chromium", CHROMEDRIVER: "chromium-driver"}


def missing() -> list[str]:
    """The apt packages whose program is not there."""
    return [package for path, package in PACKAGES.items() if not os.access(path, os.X_OK)]


def main() -> int:
    absent = missing()
    if not absent:
        return 0
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print(f"the browser test needs the apt packages {' '.join(absent)}", file=sys.stderr)
        return 1
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", *absent]):
        if subprocess.run(command, env=environment, check=False).returncode != 0:
            print(f"could not install {' '.join(absent)}: {' '.join(command)}", file=sys.stderr)
            return 1
    still = missing()
    if still:
        print(f"installed, yet missing: {' '.join(still)}", file=sys.stderr)
    return 1 if still else 0


if __name__ == "__main__":
    sys.exit(main())
