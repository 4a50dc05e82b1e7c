"""Run the WSGI-shaped HTTP tests through :class:`nullptr_auth.asgi.AuthMiddleware`.

The contract tests speak webtest, and their wrapped application is a WSGI
``RecordingApp``. So the ASGI middleware is put between two bridges, and the tests stay
as they are::

    webtest -> AsgiUnderWsgi -> asgi.AuthMiddleware -> WsgiUnderAsgi -> RecordingApp

:class:`AsgiUnderWsgi` turns each environ into an ASGI ``http`` scope (the body handed
over lazily, in ``http.request`` messages, as a server does) and runs the middleware
either on an event loop in a thread of this process, or behind a real ASGI server
(uvicorn, hypercorn, granian) that it talks to over a socket. :class:`WsgiUnderAsgi`
builds the environ the application sees from the scope the middleware passed on. Both
are test plumbing, as small as they can be; they never decide anything.
"""

from __future__ import annotations

import asyncio
import http.client
import io
import select
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

import anyio
import anyio.from_thread
from werkzeug.http import HTTP_STATUS_CODES

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from nullptr_auth.asgi import ASGIApp, Message, Scope

SERVERS = ("uvicorn", "hypercorn", "granian")
_CHUNK = 16 * 1024


class AsgiUnderWsgi:
    """A WSGI application that answers by running an ASGI one; the middleware's
    attributes (``accounts``, ``sessions``, ``store``…) are read through it."""

    def __init__(self, app: ASGIApp, middleware: Any, run: Callable[..., Any]) -> None:
        self.asgi_app = app
        self.middleware = middleware
        self._run = run

    def __getattr__(self, name: str) -> Any:
        return getattr(self.middleware, name)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        status, headers, body = self._run(self.asgi_app, environ)
        start_response(
            f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN').upper()}",
            [(bytes(n).decode("latin-1"), bytes(v).decode("latin-1")) for n, v in headers],
        )
        return [body] if body else []


# -- in this process, on an event loop in a thread -------------------------------------
@contextmanager
def in_process() -> Iterator[Callable[..., Any]]:
    """A runner calling the ASGI app on one event loop thread, kept for the test."""
    with anyio.from_thread.start_blocking_portal() as portal:
        yield lambda app, environ: portal.call(_call, app, environ)


async def _call(app: ASGIApp, environ: WSGIEnvironment) -> tuple[int, list[Any], bytes]:
    finished = anyio.Event()
    read_body = _body_reader(environ)
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def receive() -> Message:
        message = read_body()
        if message is not None:
            return message
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                finished.set()

    try:
        await app(scope_of(environ), receive, send)
    finally:
        finished.set()
    if not start:
        raise AssertionError("the ASGI app answered nothing")
    return int(start["status"]), list(start.get("headers", ())), b"".join(chunks)


def scope_of(environ: WSGIEnvironment) -> Scope:
    """The ``http`` scope a server would build for this environ."""
    headers = [
        (key[5:].lower().replace("_", "-").encode("latin-1"), _octets(value))
        for key, value in environ.items()
        if key.startswith("HTTP_")
    ]
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers.append((key.lower().replace("_", "-").encode(), environ[key].encode("latin-1")))
    raw_path = environ.get("PATH_INFO", "").encode("latin-1")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": environ["REQUEST_METHOD"],
        "scheme": environ.get("wsgi.url_scheme", "http"),
        "path": raw_path.decode("utf-8", "replace"),
        "raw_path": raw_path,
        "query_string": environ.get("QUERY_STRING", "").encode("latin-1"),
        "root_path": "",
        "headers": headers,
        "client": (environ.get("REMOTE_ADDR", "127.0.0.1"), int(environ.get("REMOTE_PORT") or 0)),
        "server": (environ.get("SERVER_NAME", "localhost"), int(environ.get("SERVER_PORT") or 80)),
        "extensions": {},
    }


def _octets(value: object) -> bytes:
    """A header value as bytes; text no server could have decoded (webtest lets a test
    put any ``str`` in the environ) as the UTF-8 a client would have sent."""
    text = str(value)
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _body_reader(environ: WSGIEnvironment) -> Callable[[], Message | None]:
    """``http.request`` messages read from ``wsgi.input`` on demand, then ``None``."""
    stream = environ.get("wsgi.input") or io.BytesIO()
    length = environ.get("CONTENT_LENGTH")
    left = int(length) if length and length.isdigit() else None
    streamed = left is None and environ.get("wsgi.input_terminated")
    done = False

    def read() -> Message | None:
        nonlocal left, done
        if done:
            return None
        if left is None and not streamed:
            done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        chunk = bytes(stream.read(_CHUNK if left is None else min(_CHUNK, left)))
        if left is not None:
            left -= len(chunk)
        more = bool(chunk) and (left is None or left > 0)
        done = not more
        return {"type": "http.request", "body": chunk, "more_body": more}

    return read


# -- behind a real server ---------------------------------------------------------------
def served(server: str) -> AbstractContextManager[Callable[..., Any]]:
    """A runner sending each request to ``server`` serving the app on a socket."""
    return _served(server)


@contextmanager
def _served(server: str) -> Iterator[Callable[..., Any]]:
    apps: dict[int, tuple[str, int]] = {}
    stops: list[Callable[[], None]] = []

    def run(app: ASGIApp, environ: WSGIEnvironment) -> tuple[int, list[Any], bytes]:
        if id(app) not in apps:
            address, stop = _start(server, app)
            apps[id(app)] = address
            stops.append(stop)
        return _forward(apps[id(app)], environ)

    try:
        yield run
    finally:
        for stop in stops:
            stop()


def _forward(address: tuple[str, int], environ: WSGIEnvironment) -> tuple[int, list[Any], bytes]:
    """The environ as an HTTP/1.1 request to the server, the raw path as it was sent.

    A body is announced with ``Expect: 100-continue`` and sent only once the server
    asks for it (when the application first reads it), and a streamed one stops as
    soon as the answer arrives: so "refused unread" means what it says here too.
    """
    scope = scope_of(environ)
    target = urllib.parse.quote(scope["raw_path"], safe="/:@!$&'()*+,;=-._~") or "/"
    if scope["query_string"]:
        target += "?" + scope["query_string"].decode("latin-1")
    length = environ.get("CONTENT_LENGTH")
    chunked = not length and bool(environ.get("wsgi.input_terminated"))
    lines = [f"{scope['method']} {target} HTTP/1.1".encode("latin-1")]
    lines += [name + b": " + value for name, value in scope["headers"]]
    if length or chunked:
        lines.append(b"Expect: 100-continue")
    lines.append(b"Connection: close")
    with socket.create_connection(address, timeout=60) as connection:
        connection.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
        if (length or chunked) and _continue(connection):
            _send_body(connection, environ["wsgi.input"], int(length) if length else None)
        response = http.client.HTTPResponse(connection)
        response.begin()
        data = response.read()
    headers = [
        (n.lower().encode("latin-1"), v.encode("latin-1"))
        for n, v in response.getheaders()
        if n.lower() not in ("date", "server", "transfer-encoding", "connection")
    ]
    return response.status, headers, data


def _continue(connection: socket.socket) -> bool:
    """Whether to send the body: the server said ``100 Continue`` (consumed here), or
    said nothing for a while (a server that does not do ``Expect``)."""
    if not select.select([connection], [], [], 10)[0]:
        return True
    if not connection.recv(12, socket.MSG_PEEK).startswith(b"HTTP/1.1 100"):
        return False  # the final answer came first: the body was not wanted
    interim = b""
    while not interim.endswith(b"\r\n\r\n"):
        interim += connection.recv(1)
    return True


def _send_body(connection: socket.socket, stream: Any, length: int | None) -> None:
    if length is not None:
        connection.sendall(stream.read(length))
        return
    while not select.select([connection], [], [], 0)[0]:  # until the server answers
        chunk = stream.read(_CHUNK)
        try:
            connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunk else b"0\r\n\r\n")
        except OSError:
            return  # the server answered and closed
        if not chunk:
            return


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(server: str, app: ASGIApp) -> tuple[tuple[str, int], Callable[[], None]]:
    """Serve ``app`` from a thread of this process (so the test shares its store and
    clock); returns the address and a function that stops the server."""
    port = _free_port()
    loop = asyncio.new_event_loop()
    stop_event: list[Any] = []

    async def serve() -> None:
        if server == "uvicorn":
            import uvicorn

            config = uvicorn.Config(
                app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
            )
            instance = uvicorn.Server(config)
            stop_event.append(lambda: setattr(instance, "should_exit", True))
            await instance.serve()
        elif server == "hypercorn":
            from hypercorn.asyncio import serve as hypercorn_serve
            from hypercorn.config import Config

            config = Config()
            config.bind = [f"127.0.0.1:{port}"]
            config.loglevel = "WARNING"
            shutdown = asyncio.Event()
            stop_event.append(shutdown.set)
            await hypercorn_serve(app, config, shutdown_trigger=shutdown.wait)  # type: ignore[arg-type]
        else:
            from granian.constants import Interfaces
            from granian.server.embed import Server

            instance = Server(
                app, address="127.0.0.1", port=port, interface=Interfaces.ASGINL, log_enabled=False
            )
            stop_event.append(instance.stop)
            await instance.serve()

    def main() -> None:
        try:
            loop.run_until_complete(serve())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError(f"{server} did not start") from None
            time.sleep(0.05)

    def stop() -> None:
        loop.call_soon_threadsafe(stop_event[0])
        thread.join(30)

    return ("127.0.0.1", port), stop


class WsgiUnderAsgi:
    """An ASGI application that answers by running a WSGI one, as the tests' app.

    The environ it builds carries what the ASGI middleware put into the scope
    (``nullptr_auth.user``/``session``/``path``), and ``REMOTE_USER`` and ``AUTH_TYPE``
    (from ``scope["nullptr_auth.auth_type"]``) for an authenticated user, so the tests'
    ``RecordingApp`` reads the same keys on both.
    """

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __repr__(self) -> str:
        return f"<WsgiUnderAsgi {self.app!r}>"

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        environ = _environ_of(scope, body)
        started: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            started[:] = [status, headers]
            return lambda data: None

        result = self.app(environ, start_response)
        try:
            chunks = iter(result)
            first = next(chunks, b"")
            status, headers = started
            await send(
                {
                    "type": "http.response.start",
                    "status": int(status.split()[0]),
                    "headers": [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers],
                }
            )
            await send({"type": "http.response.body", "body": first, "more_body": True})
            for chunk in chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()


def _environ_of(scope: Scope, body: bytes) -> WSGIEnvironment:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": (scope.get("client") or ("",))[0],
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in scope["headers"]:
        key = name.decode("latin-1").upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        environ[key] = (
            f"{environ[key]},{value.decode('latin-1')}"
            if key in environ
            else value.decode("latin-1")
        )
    for key in ("nullptr_auth.user", "nullptr_auth.session", "nullptr_auth.path"):
        if key in scope:
            environ[key] = scope[key]
    user = scope.get("nullptr_auth.user")
    if user is not None:
        environ["REMOTE_USER"] = user.username
        environ["AUTH_TYPE"] = scope["nullptr_auth.auth_type"]
    return environ
