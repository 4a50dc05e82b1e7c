"""What only the ASGI middleware has: scope types, the scope's keys, WebSockets, the loop.

The HTTP contract itself runs against both middlewares (see ``conftest.py``); these
tests drive :class:`nullptr_auth.asgi.AuthMiddleware` with hand-made scopes and
messages, as a server would, and look at every message it passes on.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import webtest

anyio = pytest.importorskip("anyio", reason="the asgi extra (anyio) is not installed")

from nullptr_auth import AuthMiddleware as WSGIAuthMiddleware  # noqa: E402
from nullptr_auth import asgi  # noqa: E402
from nullptr_auth.models import Session, User  # noqa: E402
from nullptr_auth.stores import MemoryStore, SQLiteStore, open_store  # noqa: E402

from .conftest import CHEAP_HASHER, PASSWORD, SECRET_KEY, FrozenClock, RecordingApp  # noqa: E402
from .services import scratch_store, with_query  # noqa: E402

Message = dict[str, Any]


class App:
    """An ASGI app that keeps the scopes it got and answers with a streamed body."""

    def __init__(self, chunks: int = 1) -> None:
        self.scopes: list[dict[str, Any]] = []
        self.chunks = chunks

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        if scope["type"] == "websocket":
            assert (await receive())["type"] == "websocket.connect"
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": 1000})
            return
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-app", b"1")]})
        for index in range(self.chunks):
            more = index < self.chunks - 1
            await send({"type": "http.response.body", "body": b"chunk", "more_body": more})


def build(app: Any, store: Any = "memory://", **options: Any) -> asgi.AuthMiddleware:
    options.setdefault("secret_keys", [SECRET_KEY])
    options.setdefault("password_hasher", CHEAP_HASHER)
    options.setdefault("allow_weak_hashing_for_tests", True)
    return asgi.AuthMiddleware(app, store, **options)


def http_scope(path: str = "/app", headers: dict[str, str] | None = None, **extra: Any) -> Any:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": extra.pop("method", "GET"),
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("203.0.113.9", 5000),
        "server": ("localhost", 80),
        **extra,
    }


def run(middleware: Any, scope: Any, incoming: list[Message] | None = None) -> list[Message]:
    """Call the middleware once; return every message it sent."""
    sent: list[Message] = []
    queue = [{"type": "http.request", "body": b""}] if incoming is None else incoming

    async def receive() -> Message:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    anyio.run(middleware, scope, receive, send)
    return sent


@pytest.fixture
def app() -> App:
    return App()


@pytest.fixture
def middleware(app: App) -> asgi.AuthMiddleware:
    made = build(app)
    made.accounts.create("alice", PASSWORD)
    return made


@pytest.fixture
def pair(middleware: asgi.AuthMiddleware) -> dict[str, str]:
    _, token = middleware.sessions.login("alice", PASSWORD)
    return {"Username": "alice", "Token": token}


# -- scope types ----------------------------------------------------------------------
def test_lifespan_and_unknown_scope_types_pass_through_untouched(
    middleware: asgi.AuthMiddleware, app: App
) -> None:
    for kind in ("lifespan", "something-new"):
        scope = {"type": kind, "asgi": {"version": "3.0"}}
        run(middleware, scope, [{"type": f"{kind}.startup"}])
        assert app.scopes[-1] is scope
        assert scope == {"type": kind, "asgi": {"version": "3.0"}}


# -- http: what the application finds in the scope ------------------------------------
def test_an_authenticated_scope_carries_the_user_in_both_conventions(
    middleware: asgi.AuthMiddleware, app: App, pair: dict[str, str]
) -> None:
    run(middleware, http_scope("//app/./x", pair))
    scope = app.scopes[-1]
    user: User = scope["nullptr_auth.user"]
    session: Session = scope["nullptr_auth.session"]
    assert user.username == "alice"
    assert session.user_id == user.id
    assert scope["nullptr_auth.path"] == "/app/x"
    assert scope["user"].is_authenticated
    assert (scope["user"].display_name, scope["user"].identity) == ("alice", user.id)
    assert list(scope["auth"].scopes) == ["authenticated"]
    assert scope["auth"].session == session


def test_an_anonymous_scope_has_an_anonymous_user(
    middleware: asgi.AuthMiddleware, app: App
) -> None:
    run(middleware, http_scope())
    scope = app.scopes[-1]
    assert scope["nullptr_auth.user"] is None
    assert scope["nullptr_auth.session"] is None
    assert not scope["user"].is_authenticated
    assert list(scope["auth"].scopes) == []


def test_the_token_never_reaches_the_app(
    middleware: asgi.AuthMiddleware, app: App, pair: dict[str, str]
) -> None:
    scope = http_scope(headers={"Username": "alice", "X-Other": "kept"})
    scope["headers"].append((b"ToKeN", pair["Token"].encode()))  # any spelling of the name
    run(middleware, scope)
    assert app.scopes, "the pair was refused"
    names = [name.lower() for name, _ in app.scopes[-1]["headers"]]
    assert b"token" not in names
    assert b"x-other" in names and b"username" in names


def test_an_authenticated_answer_is_private_and_streamed_through(pair: dict[str, str]) -> None:
    app = App(chunks=3)
    middleware = build(app)
    middleware.accounts.create("alice", PASSWORD)
    _, token = middleware.sessions.login("alice", PASSWORD)
    sent = run(middleware, http_scope(headers={"Username": "alice", "Token": token}))
    start, *bodies = sent
    assert (b"cache-control", b"private") in [(n.lower(), v) for n, v in start["headers"]]
    assert (b"vary", b"Username, Token") in [(n.lower(), v) for n, v in start["headers"]]
    assert [m["more_body"] for m in bodies] == [True, True, False], "the body was buffered"


def test_an_anonymous_answer_is_left_alone(middleware: asgi.AuthMiddleware) -> None:
    start = run(middleware, http_scope())[0]
    assert start["headers"] == [(b"x-app", b"1")]


def test_a_require_auth_callable_gets_the_scope(app: App) -> None:
    seen: list[Any] = []

    def rule(scope: Any) -> bool:
        seen.append(scope)
        return bool(scope["nullptr_auth.path"].startswith("/api"))

    middleware = build(app, require_auth=rule)
    assert run(middleware, http_scope("//api/x"))[0]["status"] == 401
    assert seen[-1]["type"] == "http"
    assert run(middleware, http_scope("/public"))[0]["status"] == 200
    assert middleware.require_auth(http_scope("/api/y"))


# -- http: the owned paths' bodies ----------------------------------------------------
def login_scope(body_length: int | None) -> Any:
    headers = {"Content-Type": "application/json"}
    if body_length is not None:
        headers["Content-Length"] = str(body_length)
    return http_scope("/session", headers, method="POST")


def test_a_body_is_read_from_many_messages(middleware: asgi.AuthMiddleware) -> None:
    body = json.dumps({"username": "alice", "password": PASSWORD}).encode()
    pieces = [body[i : i + 5] for i in range(0, len(body), 5)]
    incoming = [{"type": "http.request", "body": p, "more_body": True} for p in pieces]
    incoming.append({"type": "http.request", "body": b"", "more_body": False})
    sent = run(middleware, login_scope(None), incoming)
    assert sent[0]["status"] == 200
    assert json.loads(sent[1]["body"])["session_token"]


def test_a_declared_oversize_body_is_refused_unread(middleware: asgi.AuthMiddleware) -> None:
    received: list[Message] = []

    async def receive() -> Message:
        raise AssertionError("the body was read")

    async def send(message: Message) -> None:
        received.append(message)

    anyio.run(middleware, login_scope(64 * 1024 + 1), receive, send)
    assert received[0]["status"] == 413
    assert json.loads(received[1]["body"])["error"]["code"] == "REQUEST_TOO_LARGE"


def test_a_streamed_oversize_body_is_refused_as_soon_as_it_passes_the_limit(app: App) -> None:
    middleware = build(app, max_body_size=1024)
    messages = [{"type": "http.request", "body": b"x" * 512, "more_body": True}] * 100
    left = list(messages)
    sent = run(middleware, login_scope(None), left)
    assert sent[0]["status"] == 413
    assert len(left) == 100 - 3, "read past the message that passed the limit"


@pytest.mark.parametrize("path", ["/api/session", "/session"])
def test_the_session_path_is_below_the_mount_point(
    middleware: asgi.AuthMiddleware, path: str
) -> None:
    """``path`` with the ``root_path`` in it (the spec today) or without (older servers)."""
    body = json.dumps({"username": "alice", "password": PASSWORD}).encode()
    scope = login_scope(len(body))
    scope.update(path=path, root_path="/api")
    sent = run(middleware, scope, [{"type": "http.request", "body": body}])
    assert sent[0]["status"] == 200


def test_a_client_gone_before_its_body_is_answered_nothing(
    middleware: asgi.AuthMiddleware,
) -> None:
    assert run(middleware, login_scope(None), [{"type": "http.disconnect"}]) == []


# -- websockets -----------------------------------------------------------------------
def websocket_scope(headers: dict[str, str] | None = None, **extra: Any) -> Any:
    scope = http_scope("/ws", headers, **extra)
    scope["type"] = "websocket"
    del scope["method"]
    return scope


def connect() -> list[Message]:
    return [{"type": "websocket.connect"}]


def test_a_websocket_with_a_live_pair_is_accepted_with_the_user(
    middleware: asgi.AuthMiddleware, app: App, pair: dict[str, str]
) -> None:
    sent = run(middleware, websocket_scope(pair), connect())
    assert sent[0]["type"] == "websocket.accept"
    assert app.scopes[-1]["nullptr_auth.user"].username == "alice"
    assert b"token" not in [name for name, _ in app.scopes[-1]["headers"]]


def test_a_websocket_with_a_bad_pair_is_closed_before_accept(
    middleware: asgi.AuthMiddleware, app: App
) -> None:
    sent = run(middleware, websocket_scope({"Username": "alice", "Token": "x"}), connect())
    assert sent == [{"type": "websocket.close", "code": asgi.WEBSOCKET_CLOSE_CODE}]
    assert app.scopes == []


@pytest.mark.parametrize(
    ("origin", "accepted"),
    [
        pytest.param("http://localhost", True, id="own-origin"),
        pytest.param("https://app.example", True, id="trusted-origin"),
        pytest.param("https://evil.example", False, id="another-site"),
        pytest.param("null", False, id="null-origin"),
    ],
)
def test_a_websocket_on_the_cookie_alone_must_come_from_the_site(
    app: App, origin: str, accepted: bool
) -> None:
    """Cross-site WebSocket hijacking: a handshake is a GET, which a page on any site may
    make the browser send with the cookie (and no X-CSRF-Token): its origin decides."""
    middleware = build(
        app,
        transports=["cookie"],
        cookie_insecure_localhost=True,
        trusted_origins=["https://app.example"],
    )
    middleware.accounts.create("alice", PASSWORD)
    _, token = middleware.sessions.login("alice", PASSWORD)
    cookie = f"{middleware.transports.cookie_name}={token}"
    headers = {"Cookie": cookie, "Origin": origin, "Upgrade": "websocket"}
    sent = run(middleware, websocket_scope(headers, scheme="ws"), connect())
    if accepted:
        assert sent[0]["type"] == "websocket.accept"
        assert app.scopes[-1]["nullptr_auth.auth_type"] == "Cookie"
    else:
        assert sent == [{"type": "websocket.close", "code": asgi.WEBSOCKET_CLOSE_CODE}]
        assert app.scopes == []


def test_a_websocket_refusal_is_the_http_error_when_the_server_can_send_one(
    app: App,
) -> None:
    middleware = build(app, require_auth=["/ws"])
    scope = websocket_scope(extensions={"websocket.http.response": {}})
    start, body = run(middleware, scope, connect())
    assert start["type"] == "websocket.http.response.start"
    assert start["status"] == 401
    assert (b"www-authenticate", b"Token") in [(n.lower(), v) for n, v in start["headers"]]
    assert json.loads(body["body"])["error"]["code"] == "AUTHORIZATION_REQUIRED"
    assert app.scopes == []


# -- the event loop -------------------------------------------------------------------
class ThreadNotingStore(MemoryStore):
    """A memory store that notes which thread each lookup and write ran in, and that
    keeps nothing it could answer without I/O (as Redis and PostgreSQL today)."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: dict[str, set[int]] = {}

    def _note(self, name: str) -> None:
        self.threads.setdefault(name, set()).add(threading.get_ident())

    def cached_session(self, session_id: str) -> None:  # type: ignore[override]
        self._note("cached_session")

    def find_session(self, session_id: str) -> Any:
        self._note("find_session")
        return super().find_session(session_id)

    def touch_session(self, *args: Any) -> None:
        self._note("touch_session")
        super().touch_session(*args)

    def add_session(self, *args: Any, **kwargs: Any) -> None:
        self._note("add_session")
        super().add_session(*args, **kwargs)


def on_the_loop(middleware: asgi.AuthMiddleware, scope: Any, incoming: list[Message]) -> int:
    """Run one request; return the event loop's thread."""
    loop_thread: list[int] = []

    async def main() -> None:
        loop_thread.append(threading.get_ident())
        queue = list(incoming)

        async def receive() -> Message:
            return queue.pop(0) if queue else {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            pass

        await middleware(scope, receive, send)

    anyio.run(main)
    return loop_thread[0]


def test_store_misses_writes_and_hashing_run_off_the_loop(clock: FrozenClock) -> None:
    store = ThreadNotingStore()
    middleware = build(App(), store, clock=clock)
    middleware.accounts.create("alice", PASSWORD)
    body = json.dumps({"username": "alice", "password": PASSWORD}).encode()
    login = [{"type": "http.request", "body": body, "more_body": False}]
    loop = on_the_loop(middleware, login_scope(len(body)), login)
    assert loop not in store.threads["add_session"]
    _, token = middleware.sessions.login("alice", PASSWORD)
    clock.advance(minutes=5)  # an activity write is due
    loop = on_the_loop(middleware, http_scope(headers={"Username": "alice", "Token": token}), [])
    assert loop in store.threads["cached_session"]  # asked first, on the loop
    assert loop not in store.threads["find_session"]
    assert loop not in store.threads["touch_session"]


def cache_up(middleware: asgi.AuthMiddleware, token: str, *, expected: bool) -> None:
    """Authenticate until the store's cache holds the session: Redis's and PostgreSQL's
    keep nothing read before their invalidation channel is up (a moment after the
    first read)."""
    session_id = middleware.sessions.signer.session_id(token)
    deadline = time.monotonic() + (10 if expected else 0)
    while True:
        middleware.sessions.authenticate("alice", token)
        if middleware.store.cached_session(session_id) is not None:  # type: ignore[attr-defined]
            return
        if time.monotonic() >= deadline:
            assert not expected, "the store's cache never held the session"
            return
        time.sleep(0.01)


def test_event_hooks_never_run_on_the_loop() -> None:
    """A refusal decided on the loop is decided again in a thread when the application
    has on_event hooks: a hook (an email, a webhook) may block."""
    threads: list[int] = []
    middleware = build(App(), on_event=lambda event: threads.append(threading.get_ident()))
    middleware.accounts.create("alice", PASSWORD)
    middleware.sessions.login("alice", PASSWORD)  # the signer is built: inline can decide
    threads.clear()
    forged = http_scope(headers={"Username": "alice", "Token": "x.y"})
    loop = on_the_loop(middleware, forged, [])
    assert len(threads) == 1 and loop not in threads


@pytest.mark.parametrize(
    ("kind", "cache", "inline"),
    [
        pytest.param("memory", None, True, id="memory"),
        pytest.param("sqlite", None, True, id="sqlite"),
        pytest.param("redis", "on", True, id="redis-cache-on"),
        pytest.param("postgres", "on", True, id="postgres-cache-on"),
        pytest.param("sqlite", "off", False, id="sqlite-cache-off"),
        pytest.param("redis", None, False, id="redis-default"),
        pytest.param("postgres", None, False, id="postgres-default"),
    ],
)
def test_a_cached_session_is_answered_on_the_loop(
    kind: str, cache: str | None, inline: bool, tmp_path: Any
) -> None:
    """A store whose cache holds the session answers on the loop without a read (memory:
    it is all memory); a store without one (Redis and PostgreSQL by default, any store
    with ``?cache=off``) is read once, in a worker thread."""
    with scratch_store(kind, tmp_path) as url:
        if cache is not None:
            url = f"{url}?cache={cache}" if kind == "sqlite" else with_query(url, "cache", cache)
        store = open_store(url)
        middleware = build(App(), store)
        middleware.accounts.create("alice", PASSWORD)
        _, token = middleware.sessions.login("alice", PASSWORD)
        cache_up(middleware, token, expected=inline)
        reads: list[int] = []
        original: Callable[..., Any] = store.find_session

        def noting(session_id: str) -> Any:
            reads.append(threading.get_ident())
            return original(session_id)

        store.find_session = noting  # type: ignore[method-assign]
        scope = http_scope(headers={"Username": "alice", "Token": token})
        loop = on_the_loop(middleware, scope, [])
        assert scope.get("nullptr_auth.user") is not None
        if kind == "memory":
            assert reads == [loop]  # cached_session is find_session: all memory
        elif inline:
            assert reads == [], "the hit left the loop or queried"
        else:
            assert len(reads) == 1 and loop not in reads, "the miss ran on the loop"
        store.close()


def test_an_ended_session_is_refused_on_the_loop_too(tmp_path: Any) -> None:
    """The inline path obeys the cache's rule: a session ended anywhere is refused."""
    store = SQLiteStore(tmp_path / "auth.db")
    middleware = build(App(), store)
    middleware.accounts.create("alice", PASSWORD)
    _, token = middleware.sessions.login("alice", PASSWORD)
    pair = {"Username": "alice", "Token": token}
    assert run(middleware, http_scope(headers=pair))[0]["status"] == 200
    other = SQLiteStore(tmp_path / "auth.db")  # another process's store, on the same file
    other.delete_sessions(middleware.accounts.get("alice").id)  # type: ignore[union-attr]
    assert run(middleware, http_scope(headers=pair))[0]["status"] == 401
    other.close()
    store.close()


# -- one store, two protocols ---------------------------------------------------------
def test_wsgi_and_asgi_on_one_store_accept_each_others_tokens(tmp_path: Any) -> None:
    store = SQLiteStore(tmp_path / "auth.db")
    wsgi_app = WSGIAuthMiddleware(
        RecordingApp(),
        store,
        secret_keys=[SECRET_KEY],
        password_hasher=CHEAP_HASHER,
        allow_weak_hashing_for_tests=True,
    )
    asgi_app = build(App(), store)
    wsgi_app.accounts.create("alice", PASSWORD)
    client = webtest.TestApp(wsgi_app)
    token = client.post_json("/session", {"username": "alice", "password": PASSWORD}).json
    pair = {"Username": "alice", "Token": token["session_token"]}
    assert run(asgi_app, http_scope(headers=pair))[0]["status"] == 200
    body = json.dumps({"username": "alice", "password": PASSWORD}).encode()
    sent = run(asgi_app, login_scope(len(body)), [{"type": "http.request", "body": body}])
    other = {"Username": "alice", "Token": json.loads(sent[1]["body"])["session_token"]}
    assert client.get("/app", headers=other).json["remote_user"] == "alice"
    store.close()


def test_the_asgi_demo_shows_the_user(monkeypatch: pytest.MonkeyPatch) -> None:
    from nullptr_auth.demo import asgi_demo

    monkeypatch.setenv("NULLPTR_AUTH_DATABASE", "memory://")
    monkeypatch.setenv("NULLPTR_AUTH_SECRET_KEYS", SECRET_KEY)
    demo = asgi_demo()
    demo.accounts.create("alice", PASSWORD)
    _, token = demo.sessions.login("alice", PASSWORD)
    sent = run(demo, http_scope("/hello", {"Username": "alice", "Token": token}))
    assert json.loads(sent[1]["body"])["remote_user"] == "alice"
