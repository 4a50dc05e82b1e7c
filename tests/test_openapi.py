"""The OpenAPI 3.1 document (``nullptr_auth/openapi.json``) against the real middleware.

The document is checked three ways: it is valid OpenAPI 3.1; ``nullptr-auth openapi``
prints it; and every answer the middleware gives on its own paths is documented for its
operation and status, with a body and headers that match. One table drives a request
for each documented response (every status of every operation, every error code of
every status), and a test checks that the table leaves none out.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import urlencode

import pytest
import webtest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from nullptr_auth import AuthMiddleware, _http, cli, errors
from nullptr_auth.testing import cookie_headers

from .conftest import PASSWORD, MakeAuth, login

DOCUMENT: dict[str, Any] = json.loads(
    resources.files("nullptr_auth").joinpath("openapi.json").read_text(encoding="utf-8")
)
_URI = "urn:nullptr-auth:openapi"
_REGISTRY: Registry[Any] = Registry().with_resource(
    _URI, Resource.from_contents(DOCUMENT, default_specification=DRAFT202012)
)
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
NEW_PASSWORD = "another long password"


# -- reading the document -------------------------------------------------------------
def _pointer(*parts: str) -> str:
    return "".join("/" + _escape(part) for part in parts)


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def validate_at(instance: object, pointer: str) -> None:
    """Validate against the schema at ``pointer`` in the document, ``$ref``s and all."""
    Draft202012Validator(
        {"$ref": f"{_URI}#{pointer}"},
        registry=_REGISTRY,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    ).validate(instance)


def _resolve(node: dict[str, Any], pointer: str) -> tuple[dict[str, Any], str]:
    """Follow a local ``$ref``; return the node and its JSON pointer in the document."""
    while "$ref" in node:
        pointer = node["$ref"].removeprefix("#")
        node = DOCUMENT
        for part in pointer.lstrip("/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node, pointer


def _operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if method in {"get", "head", "post", "put", "patch", "delete", "options"}:
                yield method.upper(), path, operation


def _documented_codes(response: dict[str, Any]) -> list[str]:
    """The error codes a documented error response allows (none for a success)."""
    schema = response.get("content", {}).get(JSON, {}).get("schema", {})
    return list(
        schema.get("properties", {})
        .get("error", {})
        .get("properties", {})
        .get("code", {})
        .get("enum", [])
    )


def _all_codes_in(node: object) -> set[str]:
    if isinstance(node, dict):
        found = set(node.get("enum", [])) if isinstance(node.get("enum"), list) else set()
        return found.union(*(_all_codes_in(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_all_codes_in(value) for value in node))
    return set()


def assert_documented(answer: webtest.TestResponse, method: str, path: str) -> dict[str, Any]:
    """The answer's status is documented for the operation, and its body and headers
    match what the document says of that status. Returns the documented response."""
    operation = DOCUMENT["paths"][path][method.lower()]
    status = str(answer.status_int)
    assert status in operation["responses"], f"{method} {path} answered {answer.status}"
    response, pointer = _resolve(
        operation["responses"][status], _pointer("paths", path, method.lower(), "responses", status)
    )
    for name, header in response.get("headers", {}).items():
        header, _ = _resolve(header, "")
        if header.get("required"):
            assert name in answer.headers, f"{name} is missing from {answer.headers}"
            value: object = answer.headers[name]
            if header["schema"].get("type") == "integer":
                value = int(str(value))
            Draft202012Validator(header["schema"]).validate(value)
    content = response.get("content")
    if content is None:
        assert answer.body == b""
    else:
        assert answer.content_type in content
        validate_at(answer.json, f"{pointer}/content/{_escape(answer.content_type)}/schema")
    return response


# -- the document itself --------------------------------------------------------------
def test_the_document_is_valid_openapi_3_1() -> None:
    assert DOCUMENT["openapi"].startswith("3.1.")
    validate_openapi(DOCUMENT)


def test_the_validator_would_notice_a_broken_document() -> None:
    broken = copy.deepcopy(DOCUMENT)
    del broken["paths"]["/session"]["post"]["responses"]["200"]["$ref"]  # no description left
    with pytest.raises(OpenAPIValidationError):
        validate_openapi(broken)


def test_the_command_line_prints_the_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--database", "memory://", "openapi"]) == 0
    assert json.loads(capsys.readouterr().out) == DOCUMENT


def test_every_error_code_of_the_error_table_is_documented() -> None:
    table = {code for _, code in _http.ERRORS.values()} | {_http.INTERNAL_ERROR[1]}
    assert set(DOCUMENT["components"]["schemas"]["ErrorCode"]["enum"]) == table
    answered = set().union(
        *(_all_codes_in(response) for response in DOCUMENT["components"]["responses"].values())
    )
    assert table <= answered


def test_every_status_is_documented_with_its_statuses_codes() -> None:
    """Each error status documents only codes that the error table gives that status."""
    status_of = {code: status for status, code in _http.ERRORS.values()}
    status_of[_http.INTERNAL_ERROR[1]] = _http.INTERNAL_ERROR[0]
    for method, path, operation in _operations():
        for status, response in operation["responses"].items():
            for code in _documented_codes(_resolve(response, "")[0]):
                assert status_of[code] == int(status), f"{method} {path} {status} {code}"


def test_the_documented_paths_are_the_routed_ones() -> None:
    """Every path the middleware routes (with registration) is documented, no more."""
    from nullptr_auth._endpoints import _routes

    routed = {
        (method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule))
        for rule in _routes("/session", registration=True).iter_rules()
        for method in rule.methods or ()
    }
    documented = {(method, path) for method, path, _ in _operations()}
    assert documented == routed


# -- the real answers, one request per documented response ----------------------------
@dataclass
class World:
    """A middleware with registration on, a user alice and a session of hers."""

    auth: AuthMiddleware
    client: webtest.TestApp
    headers: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, **kw: Any) -> webtest.TestResponse:
        return self.client.request(path, method=method, expect_errors=True, **kw)

    def json(self, method: str, path: str, body: object, **kw: Any) -> webtest.TestResponse:
        return self.request(method, path, body=json.dumps(body).encode(), content_type=JSON, **kw)

    def form(
        self, method: str, path: str, fields: dict[str, str], **kw: Any
    ) -> webtest.TestResponse:
        return self.request(method, path, body=urlencode(fields).encode(), content_type=FORM, **kw)

    def break_store(self, error: Exception) -> None:
        """From now on every store operation raises ``error``."""

        def fail(*args: object, **kwargs: object) -> object:
            raise error

        for name in dir(self.auth.store):
            if not name.startswith("_") and name != "close":
                setattr(self.auth.store, name, fail)


@pytest.fixture
def make_world(make_auth: MakeAuth) -> Callable[..., World]:
    def make(**options: Any) -> World:
        options.setdefault("registration", True)
        auth = make_auth(**options)
        auth.accounts.create("alice", PASSWORD)
        client = webtest.TestApp(auth)
        return World(auth, client, login(client))

    return make


Step = Callable[[World], webtest.TestResponse]


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # as documented
    status: int
    code: str | None
    step: Step
    options: dict[str, Any] = field(default_factory=dict)


def _throttled_login(w: World) -> webtest.TestResponse:
    for _ in range(5):
        w.json("POST", "/session", {"username": "alice", "password": "wrong password"})
    return w.json("POST", "/session", {"username": "alice", "password": "wrong password"})


def _throttled_change(w: World) -> webtest.TestResponse:
    wrong = {"old_password": "wrong password", "new_password": "a brand new password"}
    for _ in range(5):
        w.json("POST", "/user/password", wrong, headers=w.headers)
    return w.json("POST", "/user/password", wrong, headers=w.headers)


def _disabled_login(w: World) -> webtest.TestResponse:
    w.auth.accounts.disable("alice")
    return w.json("POST", "/session", {"username": "alice", "password": PASSWORD})


def _broken(error: Exception, method: str, path: str, fields: dict[str, str] | None) -> Step:
    def step(w: World) -> webtest.TestResponse:
        w.break_store(error)
        if fields is None:
            return w.request(method, path, headers=w.headers)
        return w.form(method, path, fields, headers=w.headers)

    return step


def _lookups_throttled(method: str) -> Step:
    def step(w: World) -> webtest.TestResponse:
        for _ in range(30):
            w.request("GET", "/user/checkUsername?username=bob")
        return w.request(method, "/user/checkUsername?username=bob")

    return step


def _other_session(w: World) -> webtest.TestResponse:
    other = login(w.client)
    session_id = w.client.get("/session", headers=other).json["session_id"]
    return w.request("DELETE", f"/session/{session_id}", headers=w.headers)


def _register_throttled(w: World) -> webtest.TestResponse:
    for _ in range(30):
        w.request("GET", "/user/checkUsername?username=bob")
    return w.json("POST", "/user/register", BOB)


ALICE = {"username": "alice", "password": PASSWORD}
BOB = {"username": "bob", "password": PASSWORD}
BIG = b"x" * (64 * 1024 + 1)
BAD_PAIR = {"Username": "alice", "Token": "not-a-token"}
FAILURES: list[tuple[int, str, Exception]] = [
    (500, "INTERNAL_SERVER_ERROR", RuntimeError("a bug")),
    (503, "SERVICE_UNAVAILABLE", errors.StoreUnavailable()),
]
CHANGE = {"old_password": PASSWORD, "new_password": NEW_PASSWORD}


def case(
    name: str, operation: str, status: int, code: str | None, step: Step, **options: Any
) -> Any:
    """One row: ``operation`` is ``"METHOD /documented/path"``; ``code`` the expected one."""
    method, path = operation.split(" ")
    return pytest.param(Case(method, path, status, code, step, options), id=name)


def _as(method: str, path: str, headers: dict[str, str] | None = None) -> Step:
    """A request without a body, as alice's session unless ``headers`` are given."""
    return lambda w: w.request(method, path, headers=w.headers if headers is None else headers)


def _json(method: str, path: str, body: object, headers: dict[str, str] | None = None) -> Step:
    return lambda w: w.json(method, path, body, headers=w.headers if headers is None else headers)


def _raw(method: str, path: str, body: bytes, content_type: str) -> Step:
    return lambda w: w.request(
        method, path, body=body, content_type=content_type, headers=w.headers
    )


ANONYMOUS: dict[str, str] = {}
LOGIN, REGISTER, CHANGE_PASSWORD = "POST /session", "POST /user/register", "POST /user/password"
CASES = [
    case("login-json", LOGIN, 200, None, _json("POST", "/session", ALICE)),
    case(
        "login-form",
        LOGIN,
        200,
        None,
        lambda w: w.form("POST", "/session", {**ALICE, "device": "phone"}),
    ),
    case(
        "login-not-an-object", LOGIN, 400, "INVALID_REQUEST", _json("POST", "/session", ["alice"])
    ),
    case("login-unknown-user", LOGIN, 401, "INCORRECT_USERNAME", _json("POST", "/session", BOB)),
    case(
        "login-wrong-password",
        LOGIN,
        401,
        "INCORRECT_PASSWORD",
        _json("POST", "/session", {**ALICE, "password": "wrong password"}),
    ),
    case(
        "login-hiding-users",
        LOGIN,
        401,
        "INCORRECT_CREDENTIALS",
        _json("POST", "/session", BOB),
        reveal_unknown_users=False,
    ),
    case("login-disabled", LOGIN, 403, "ACCOUNT_DISABLED", _disabled_login),
    case(
        "login-session-limit",
        LOGIN,
        403,
        "TOO_MANY_SESSIONS",
        _json("POST", "/session", ALICE),
        max_sessions_per_user=1,
        session_limit_policy="reject",
    ),
    case("login-too-large", LOGIN, 413, "REQUEST_TOO_LARGE", _raw("POST", "/session", BIG, JSON)),
    case(
        "login-text-plain",
        LOGIN,
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        _raw("POST", "/session", b"alice", "text/plain"),
    ),
    case("login-throttled", LOGIN, 429, "TOO_MANY_ATTEMPTS", _throttled_login),
    case("list", "GET /session", 200, None, _as("GET", "/session")),
    case(
        "list-never-expiring",
        "GET /session",
        200,
        None,
        _as("GET", "/session"),
        session_lifetime=None,
        idle_timeout=None,
    ),
    case(
        "list-anonymous",
        "GET /session",
        401,
        "AUTHORIZATION_REQUIRED",
        _as("GET", "/session", ANONYMOUS),
    ),
    case("list-bad-pair", "GET /session", 401, "INVALID_SESSION", _as("GET", "/session", BAD_PAIR)),
    case("head-list", "HEAD /session", 200, None, _as("HEAD", "/session")),
    case("head-list-anonymous", "HEAD /session", 401, None, _as("HEAD", "/session", ANONYMOUS)),
    case("logout", "DELETE /session", 204, None, _as("DELETE", "/session")),
    case(
        "logout-anonymous",
        "DELETE /session",
        401,
        "AUTHORIZATION_REQUIRED",
        _as("DELETE", "/session", ANONYMOUS),
    ),
    case(
        "logout-half-pair",
        "DELETE /session",
        401,
        "INVALID_SESSION",
        _as("DELETE", "/session", {"Username": "alice"}),
    ),
    case("end-others", "DELETE /session/others", 204, None, _as("DELETE", "/session/others")),
    case(
        "end-others-anonymous",
        "DELETE /session/others",
        401,
        "AUTHORIZATION_REQUIRED",
        _as("DELETE", "/session/others", ANONYMOUS),
    ),
    case(
        "end-others-half-pair",
        "DELETE /session/others",
        401,
        "INVALID_SESSION",
        _as("DELETE", "/session/others", {"Token": "x"}),
    ),
    case("end-one", "DELETE /session/{session_id}", 204, None, _other_session),
    case(
        "end-one-anonymous",
        "DELETE /session/{session_id}",
        401,
        "AUTHORIZATION_REQUIRED",
        _as("DELETE", "/session/x", ANONYMOUS),
    ),
    case(
        "end-one-bad-pair",
        "DELETE /session/{session_id}",
        401,
        "INVALID_SESSION",
        _as("DELETE", "/session/x", BAD_PAIR),
    ),
    case(
        "end-one-unknown",
        "DELETE /session/{session_id}",
        404,
        "SESSION_NOT_FOUND",
        _as("DELETE", "/session/no-such/id"),
    ),
    case(
        "check-free",
        "GET /user/checkUsername",
        200,
        None,
        _as("GET", "/user/checkUsername?username=bob"),
    ),
    case("check-no-name", "GET /user/checkUsername", 200, None, _as("GET", "/user/checkUsername")),
    case(
        "check-throttled",
        "GET /user/checkUsername",
        429,
        "TOO_MANY_ATTEMPTS",
        _lookups_throttled("GET"),
        reveal_unknown_users=False,
    ),
    case(
        "head-check",
        "HEAD /user/checkUsername",
        200,
        None,
        _as("HEAD", "/user/checkUsername?username=alice"),
    ),
    case(
        "head-check-throttled",
        "HEAD /user/checkUsername",
        429,
        None,
        _lookups_throttled("HEAD"),
        reveal_unknown_users=False,
    ),
    case(
        "register",
        REGISTER,
        200,
        None,
        _json("POST", "/user/register", {**BOB, "username": "Bob", "device": "laptop"}),
    ),
    case(
        "register-no-password",
        REGISTER,
        400,
        "INVALID_REQUEST",
        _json("POST", "/user/register", {"username": "bob"}),
    ),
    case(
        "register-bad-name",
        REGISTER,
        400,
        "INVALID_USERNAME",
        _json("POST", "/user/register", {**BOB, "username": "_bob"}),
    ),
    case(
        "register-short-password",
        REGISTER,
        400,
        "INVALID_PASSWORD",
        _json("POST", "/user/register", {**BOB, "password": "short"}),
    ),
    case(
        "register-taken",
        REGISTER,
        409,
        "USERNAME_TAKEN",
        _json("POST", "/user/register", {**ALICE, "username": "ALICE"}),
    ),
    case(
        "register-too-large",
        REGISTER,
        413,
        "REQUEST_TOO_LARGE",
        _raw("POST", "/user/register", BIG, FORM),
    ),
    case(
        "register-latin-1",
        REGISTER,
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        _raw("POST", "/user/register", b"{}", JSON + "; charset=latin-1"),
    ),
    case(
        "register-throttled",
        REGISTER,
        429,
        "TOO_MANY_ATTEMPTS",
        _register_throttled,
        reveal_unknown_users=False,
    ),
    case("change", CHANGE_PASSWORD, 204, None, _json("POST", "/user/password", CHANGE)),
    case("change-throttled", CHANGE_PASSWORD, 429, "TOO_MANY_ATTEMPTS", _throttled_change),
    case(
        "change-no-new",
        CHANGE_PASSWORD,
        400,
        "INVALID_REQUEST",
        _json("POST", "/user/password", {"old_password": PASSWORD}),
    ),
    case(
        "change-short",
        CHANGE_PASSWORD,
        400,
        "INVALID_PASSWORD",
        _json("POST", "/user/password", {**CHANGE, "new_password": "short"}),
    ),
    case(
        "change-anonymous",
        CHANGE_PASSWORD,
        401,
        "AUTHORIZATION_REQUIRED",
        _json("POST", "/user/password", CHANGE, ANONYMOUS),
    ),
    case(
        "change-bad-pair",
        CHANGE_PASSWORD,
        401,
        "INVALID_SESSION",
        _json("POST", "/user/password", CHANGE, BAD_PAIR),
    ),
    case(
        "change-wrong-old",
        CHANGE_PASSWORD,
        401,
        "INCORRECT_PASSWORD",
        _json("POST", "/user/password", {**CHANGE, "old_password": "wrong password"}),
    ),
    case(
        "change-too-large",
        CHANGE_PASSWORD,
        413,
        "REQUEST_TOO_LARGE",
        _raw("POST", "/user/password", BIG, JSON),
    ),
    case(
        "change-multipart",
        CHANGE_PASSWORD,
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        _raw("POST", "/user/password", b"x", "multipart/form-data"),
    ),
]


def _by_cookie(method: str, path: str, body: object = None) -> Step:
    """A request the session cookie alone authenticates, without the CSRF token."""

    def step(w: World) -> webtest.TestResponse:
        cookie = {"Cookie": cookie_headers(w.auth, "alice")["Cookie"]}
        if body is None:
            return w.request(method, path, headers=cookie)
        return w.json(method, path, body, headers=cookie)

    return step


def _other_sessions_by_cookie(w: World) -> webtest.TestResponse:
    other = login(w.client)
    session_id = w.client.get("/session", headers=other).json["session_id"]
    return _by_cookie("DELETE", f"/session/{session_id}")(w)


CROSS_SITE = {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
COOKIES: dict[str, Any] = {"transports": ["headers", "cookie"]}
CASES += [
    case(
        "logout-csrf",
        "DELETE /session",
        403,
        "CSRF_FAILED",
        _by_cookie("DELETE", "/session"),
        **COOKIES,
    ),
    case(
        "end-others-csrf",
        "DELETE /session/others",
        403,
        "CSRF_FAILED",
        _by_cookie("DELETE", "/session/others"),
        **COOKIES,
    ),
    case(
        "end-one-csrf",
        "DELETE /session/{session_id}",
        403,
        "CSRF_FAILED",
        _other_sessions_by_cookie,
        **COOKIES,
    ),
    case(
        "change-csrf",
        CHANGE_PASSWORD,
        403,
        "CSRF_FAILED",
        _by_cookie("POST", "/user/password", CHANGE),
        **COOKIES,
    ),
    case(
        "login-cross-site",
        LOGIN,
        403,
        "CSRF_FAILED",
        _json("POST", "/session", ALICE, CROSS_SITE),
        **COOKIES,
    ),
    case(
        "register-cross-site",
        REGISTER,
        403,
        "CSRF_FAILED",
        _json("POST", "/user/register", BOB, CROSS_SITE),
        **COOKIES,
    ),
]

# every operation fails alike when the store breaks (a bug: 500) or is down (503)
_BROKEN_REQUESTS: list[tuple[str, str, str, str, dict[str, str] | None]] = [
    ("login", "POST", "/session", "/session", {"username": "alice", "password": PASSWORD}),
    ("list", "GET", "/session", "/session", None),
    ("head-list", "HEAD", "/session", "/session", None),
    ("logout", "DELETE", "/session", "/session", None),
    ("end-others", "DELETE", "/session/others", "/session/others", None),
    ("end-one", "DELETE", "/session/{session_id}", "/session/x", None),
    ("check", "GET", "/user/checkUsername", "/user/checkUsername?username=bob", None),
    ("head-check", "HEAD", "/user/checkUsername", "/user/checkUsername?username=bob", None),
    (
        "register",
        "POST",
        "/user/register",
        "/user/register",
        {"username": "bob", "password": PASSWORD},
    ),
    ("change", "POST", "/user/password", "/user/password", CHANGE),
]
CASES += [
    pytest.param(
        Case(
            method,
            path,
            status,
            None if method == "HEAD" else code,
            _broken(error, method, url, fields),
        ),
        id=f"{name}-{status}",
    )
    for name, method, path, url, fields in _BROKEN_REQUESTS
    for status, code, error in FAILURES
]


@pytest.mark.parametrize("case", CASES)
def test_the_answer_is_as_documented(case: Case, make_world: Callable[..., World]) -> None:
    answer = case.step(make_world(**case.options))
    assert answer.status_int == case.status, answer.text
    assert_documented(answer, case.method, case.path)
    if case.code is not None:
        assert answer.json["error"]["code"] == case.code


def test_the_table_produces_every_documented_response_and_code() -> None:
    produced = {(c.method, c.path, str(c.status), c.code) for c in (p.values[0] for p in CASES)}
    missing = []
    for method, path, operation in _operations():
        for status, response in operation["responses"].items():
            codes = _documented_codes(_resolve(response, "")[0]) or [None]
            missing += [
                (method, path, status, code)
                for code in codes
                if (method, path, status, code) not in produced
            ]
    assert not missing, "no case produces: " + ", ".join(" ".join(map(str, m)) for m in missing)


WRONG_METHODS = [
    pytest.param("PUT", "/session", "DELETE, GET, HEAD, POST", id="put-session"),
    pytest.param("PATCH", "/session", "DELETE, GET, HEAD, POST", id="patch-session"),
    pytest.param("GET", "/session/others", "DELETE", id="get-others"),
    pytest.param("POST", "/session/abc", "DELETE", id="post-one-session"),
    pytest.param("POST", "/user/checkUsername", "GET, HEAD", id="post-check"),
    pytest.param("GET", "/user/register", "POST", id="get-register"),
    pytest.param("DELETE", "/user/password", "POST", id="delete-password"),
]


@pytest.mark.parametrize(("method", "path", "allow"), WRONG_METHODS)
def test_a_wrong_method_answers_the_documented_405(
    method: str, path: str, allow: str, make_world: Callable[..., World]
) -> None:
    answer = make_world().request(method, path)
    assert answer.status_int == 405
    assert answer.headers["Allow"] == allow
    response = DOCUMENT["components"]["responses"]["MethodNotAllowed"]
    assert set(response["headers"]) <= set(answer.headers)
    validate_at(
        answer.json, f"/components/responses/MethodNotAllowed/content/{_escape(JSON)}/schema"
    )
    assert answer.json["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_a_session_id_with_a_newline_is_still_the_middlewares(
    make_world: Callable[..., World],
) -> None:
    """README: ``DELETE /session/<anything>`` names a session id; an unknown one is 404."""
    world = make_world()
    answer = world.request("DELETE", "/session/a%0Ab", headers=world.headers)
    assert answer.status_int == 404
