"""Calls each public entry point once, the way a user would; checked by ``mypy --strict``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

from nullptr_auth import Accounts, AuthError, AuthMiddleware, Session, Store, User, open_store
from nullptr_auth.cli import main

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    user: User | None = environ["nullptr_auth.user"]
    session: Session | None = environ["nullptr_auth.session"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{user and user.username} {session and session.expires_at}".encode()]


store: Store = open_store("memory://")
auth = AuthMiddleware(
    app,
    store,
    secret_keys=["a-key-of-at-least-32-bytes-long!!"],
    session_path="/session",
    require_auth=["/api"],
    registration=True,
    session_lifetime=timedelta(days=7),
    idle_timeout=None,
)
accounts: Accounts = auth.accounts
created: User = accounts.create("alice", "correct horse battery")
try:
    user, token = auth.sessions.login("alice", "correct horse battery", user_agent="cli")
except AuthError as error:
    message: str = error.message
sessions: list[Session] = auth.sessions.list(created.id)
ended: int = auth.sessions.end_all(created.id)
exit_code: int = main(["user", "list"])


# The ASGI middleware takes the same options, checked the same way (AuthOptions).
from nullptr_auth import asgi  # noqa: E402


async def asgi_app(scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
    user: User | None = scope["nullptr_auth.user"]
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(user).encode()})


asgi_auth = asgi.AuthMiddleware(
    asgi_app,
    store,
    secret_keys=["a-key-of-at-least-32-bytes-long!!"],
    require_auth=["/api"],
    idle_timeout=timedelta(hours=1),
    transports=["headers", "bearer", "cookie"],
    trusted_origins=["https://app.example"],
    on_event=lambda event: None,
)
asgi_accounts: Accounts = asgi_auth.accounts
auth_type_key: str = asgi.AUTH_TYPE_KEY
