"""A real browser against ``nullptr-auth serve``: Debian's headless Chromium, driven by
Selenium through Debian's chromedriver, on the demo's page ``/demo.html``.

It logs in (the cookie is set ``HttpOnly``, ``SameSite=Lax``), calls the application
with ``fetch(..., {credentials: "include"})``, changes state with the CSRF token, and
logs out. A page on another origin of the same site (``localhost`` on another port: the
browser does send the ``SameSite=Lax`` cookie there) posts a form to the application
and another to ``/session`` (login CSRF): both are refused with ``403 CSRF_FAILED``.

``tox -e browser`` installs what this needs (``tests/ensure_chromium.py``: the apt
packages ``chromium`` and ``chromium-driver``, as root). Elsewhere a missing browser is
a skip naming that env, except where ``CI`` or ``NULLPTR_AUTH_REQUIRE_SERVICES`` is set:
there it is a failure.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import PASSWORD
from .ensure_chromium import CHROMEDRIVER, CHROMIUM, missing
from .test_server import _start, create_user

pytestmark = pytest.mark.servers

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def _need_the_browser() -> None:
    absent = missing()
    if not absent:
        return
    message = f"missing {', '.join(absent)}; `tox -e browser` installs them"
    if os.environ.get("CI") or os.environ.get("NULLPTR_AUTH_REQUIRE_SERVICES"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """``nullptr-auth serve`` on a fresh database with alice; its ``http://localhost`` URL."""
    database = f"sqlite:///{tmp_path}/auth.db"
    create_user(database)
    process, url = _start(database, tmp_path / "server.log")
    try:
        yield url.replace("127.0.0.1", "localhost")
    finally:
        process.terminate()
        process.wait(timeout=10)


EVIL = """<!doctype html><html><body>
<form id="f" method="POST" action="{target}">
<input name="username" value="mallory"><input name="password" value="{password}"></form>
<script>document.getElementById("f").submit();</script>
</body></html>"""


@pytest.fixture
def other_origin(tmp_path: Path, server: str) -> Iterator[str]:
    """A second origin (``localhost`` on another port) serving pages that post forms."""
    pages = tmp_path / "evil"
    pages.mkdir()
    for name, target in [("app", f"{server}/hello"), ("login", f"{server}/session")]:
        (pages / f"{name}.html").write_text(EVIL.format(target=target, password=PASSWORD))
    handler = functools.partial(QuietHandler, directory=str(pages))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    _need_the_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(60)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def run(driver: Any, script: str) -> Any:
    """Await a promise of the demo page (``login(...)``, ``whoami()``...) and return it."""
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f" Promise.resolve({script}).then(done, error => done({{error: String(error)}}));"
    )


def page_text(driver: Any) -> str:
    return str(driver.find_element("tag name", "body").text)


def test_a_browser_session_from_login_to_logout(
    browser: Any, server: str, other_origin: str
) -> None:
    browser.get(f"{server}/demo.html")
    logged_in = run(browser, f"login('alice', {PASSWORD!r})")
    assert logged_in["status"] == 200, logged_in
    cookies = {c["name"]: c for c in browser.get_cookies()}
    assert cookies["nullptr_auth"]["httpOnly"] is True
    assert cookies["nullptr_auth"]["sameSite"] == "Lax"
    assert cookies["nullptr_auth_csrf"]["httpOnly"] is False
    assert run(browser, "document.cookie.includes('nullptr_auth=')") is False  # HttpOnly

    seen = run(browser, "whoami()")
    assert seen["status"] == 200 and seen["body"]["remote_user"] == "alice"
    changed = run(browser, "change()")
    assert changed["status"] == 200 and changed["body"]["remote_user"] == "alice"
    forged = run(
        browser, "fetch('/hello', {method: 'POST', credentials: 'include'}).then(r => r.json())"
    )
    assert forged["error"]["code"] == "CSRF_FAILED"  # no X-CSRF-Token

    # another origin of the same site: the browser sends the cookie, the check refuses
    browser.get(f"{other_origin}/app.html")
    assert "CSRF_FAILED" in page_text(browser), page_text(browser)
    browser.get(f"{other_origin}/login.html")
    assert "CSRF_FAILED" in page_text(browser), page_text(browser)

    browser.get(f"{server}/demo.html")
    still = run(browser, "whoami()")
    assert still["body"]["remote_user"] == "alice"  # the forged requests changed nothing
    logged_out = run(browser, "logout()")
    assert logged_out["status"] == 204, logged_out
    assert "nullptr_auth" not in {c["name"] for c in browser.get_cookies()}
    anonymous = run(browser, "whoami()")
    assert anonymous["status"] == 200 and anonymous["body"]["user"] is None
