"""One canonical path for every decision: the same path spelled another way is the same path.

A server hands ``PATH_INFO`` over as sent; werkzeug merges repeated slashes, Falcon
drops leading ones, a proxy may resolve dot segments. Each spelling below names a
covered path to one of them, so each must be covered; the real servers and frameworks
are in ``tests/examples/test_paths_under_gunicorn.py``.
"""

from __future__ import annotations

import json as json_module
from typing import Any

import pytest
import webtest

from nullptr_auth._paths import canonical

from .conftest import PASSWORD, MakeAuth, RecordingApp, login


def get(client: webtest.TestApp, raw_path: str, **kwargs: Any) -> webtest.TestResponse:
    """A request whose ``PATH_INFO`` is exactly ``raw_path`` (webtest would parse
    ``//api`` as a host), through webtest's WSGI lint."""
    return request(client, "GET", raw_path, **kwargs)


def request(
    client: webtest.TestApp,
    method: str,
    raw_path: str,
    *,
    script_name: str = "",
    headers: dict[str, str] | None = None,
    json: Any = None,
    status: int | str = "*",
) -> webtest.TestResponse:
    req = webtest.TestRequest.blank("/", method=method, headers=headers or {})
    if json is not None:
        req.body = json_module.dumps(json).encode()
        req.content_type = "application/json"
    req.environ["PATH_INFO"] = raw_path
    req.environ["SCRIPT_NAME"] = script_name
    return client.do_request(req, status=status)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("/api/x", "/api/x", id="already-canonical"),
        pytest.param("/", "/", id="root"),
        pytest.param("", "/", id="empty-mount-root"),
        pytest.param("//api/x", "/api/x", id="leading-double-slash"),
        pytest.param("///api", "/api", id="leading-triple-slash"),
        pytest.param("/api//x", "/api/x", id="inner-double-slash"),
        pytest.param("/api/", "/api/", id="trailing-slash-kept"),
        pytest.param("/api//", "/api/", id="trailing-double-slash"),
        pytest.param("/./api/x", "/api/x", id="dot"),
        pytest.param("/x/../api/x", "/api/x", id="dot-dot"),
        pytest.param("/../../api", "/api", id="dot-dot-above-root"),
        pytest.param("/a//../api", "/api", id="slashes-merged-before-dots"),
        pytest.param("/api/.", "/api/", id="final-dot-is-a-slash"),
        pytest.param("/api/x/..", "/api/", id="final-dot-dot-is-a-slash"),
        pytest.param("/..", "/", id="only-dot-dot"),
        pytest.param("//", "/", id="only-slashes"),
        pytest.param("/.hidden/..x/x..", "/.hidden/..x/x..", id="dots-in-names-are-names"),
        pytest.param("api", "/api", id="relative"),
    ],
)
def test_the_canonical_path(raw: str, expected: str) -> None:
    assert canonical(raw) == expected
    assert canonical(expected) == expected


COVERED_SPELLINGS = {
    "double-slash": "//api/x",
    "triple-slash": "///api",
    "dot": "/./api/x",
    "dot-dot": "/x/../api/x",
    "inner-double-slash": "/api//x",
    "slashes-around": "//api//",
    "final-dot": "/api/.",
    "dot-dot-then-double-slash": "/x/..//api",
    "raw-path-under-the-prefix": "/api/../public",
    "merged-path-under-the-prefix": "//api/../public",
}


@pytest.mark.parametrize(
    ("prefix", "raw_path"),
    [
        pytest.param(prefix, path, id=f"{prefix}-{name}")
        for prefix in ("/api", "/api/")
        for name, path in COVERED_SPELLINGS.items()
        if prefix == "/api" or canonical(path) != "/api"  # "/api/" covers /api/…, not /api
    ],
)
def test_every_spelling_of_a_covered_path_is_covered(
    make_auth: MakeAuth, downstream: RecordingApp, raw_path: str, prefix: str
) -> None:
    client = webtest.TestApp(make_auth(require_auth=[prefix]))
    answer = get(client, raw_path, status=401)
    assert answer.json["error"]["code"] == "AUTHORIZATION_REQUIRED"
    assert downstream.calls == []


@pytest.mark.parametrize(
    "raw_path",
    [
        pytest.param("//apiary", id="not-a-segment"),
        pytest.param("/x/../public", id="elsewhere-once-resolved"),
        pytest.param("//public//api", id="api-further-down"),
    ],
)
def test_other_paths_stay_public(
    make_auth: MakeAuth, downstream: RecordingApp, raw_path: str
) -> None:
    client = webtest.TestApp(make_auth(require_auth=["/api"]))
    assert get(client, raw_path, status=200).json["path"] == raw_path
    assert downstream.environ["nullptr_auth.path"] == canonical(raw_path)


def test_a_session_reaches_the_app_by_any_spelling_and_the_app_sees_it_raw(
    make_auth: MakeAuth, downstream: RecordingApp
) -> None:
    auth = make_auth(require_auth=["/api"])
    auth.accounts.create("alice", PASSWORD)
    client = webtest.TestApp(auth)
    answer = get(client, "//api/./x", headers=login(client), status=200)
    assert answer.json == {
        "path": "//api/./x",
        "remote_user": "alice",
        "user": {"id": auth.accounts.get("alice").id, "username": "alice"},
    }
    assert downstream.environ["nullptr_auth.path"] == "/api/x"


@pytest.mark.parametrize("raw_path", ["//api/x", "/./api/x", "/x/../api/x", "/api"])
def test_a_callable_decides_on_the_canonical_path(
    make_auth: MakeAuth, downstream: RecordingApp, raw_path: str
) -> None:
    def api_only(environ: dict[str, Any]) -> bool:
        path: str = environ["nullptr_auth.path"]
        return path == "/api" or path.startswith("/api/")

    client = webtest.TestApp(make_auth(require_auth=api_only))
    get(client, raw_path, status=401)
    assert downstream.calls == []


@pytest.mark.parametrize("raw_path", ["//api/x", "/./api/x", "/x/../api/x", "/api"])
def test_under_a_script_name_mount(
    make_auth: MakeAuth, downstream: RecordingApp, raw_path: str
) -> None:
    """``PATH_INFO`` is what follows the mount; its spellings are covered the same way."""
    client = webtest.TestApp(make_auth(require_auth=["/api"]))
    request(client, "GET", raw_path, script_name="/mount", status=401)
    assert downstream.calls == []


def test_the_root_of_a_mount_is_the_root(make_auth: MakeAuth, downstream: RecordingApp) -> None:
    client = webtest.TestApp(make_auth(require_auth=["/"]))
    request(client, "GET", "", script_name="/mount", status=401)
    assert downstream.calls == []


@pytest.mark.parametrize(
    "spelling",
    [
        pytest.param("//session", id="double-slash"),
        pytest.param("/./session", id="dot"),
        pytest.param("/x/../session", id="dot-dot"),
        pytest.param("/session//", id="trailing-double-slash"),
    ],
)
def test_the_owned_paths_are_matched_on_the_canonical_path(
    make_auth: MakeAuth, downstream: RecordingApp, spelling: str
) -> None:
    auth = make_auth()
    auth.accounts.create("alice", PASSWORD)
    client = webtest.TestApp(auth)
    credentials = {"username": "alice", "password": PASSWORD}
    token = request(client, "POST", spelling, json=credentials, status=200).json["session_token"]
    headers = {"Username": "alice", "Token": token}
    assert request(client, "GET", spelling, headers=headers, status=200).json["username"] == "alice"
    others = spelling.replace("session", "session//others")
    request(client, "DELETE", others, headers=headers, status=204)
    request(client, "DELETE", spelling, headers=headers, status=204)
    get(client, "/app", headers=headers, status=401)
    assert downstream.calls == []


def test_a_path_that_leaves_the_session_path_is_the_apps(
    make_auth: MakeAuth, downstream: RecordingApp
) -> None:
    client = webtest.TestApp(make_auth())
    assert get(client, "/session/../app", status=200).json["path"] == "/session/../app"


@pytest.mark.parametrize("prefix", ["//api", "/api/./x", "/x/../api", "/api//"])
def test_a_prefix_that_is_not_canonical_is_refused(make_auth: MakeAuth, prefix: str) -> None:
    with pytest.raises(ValueError, match="canonical"):
        make_auth(require_auth=[prefix])
