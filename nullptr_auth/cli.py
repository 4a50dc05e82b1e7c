"""The ``nullptr-auth`` command line: the demo server, users and sessions.

::

    nullptr-auth serve --port 8000
    nullptr-auth user create alice          # password from a prompt or one line of stdin
    nullptr-auth session list alice
    nullptr-auth openapi                    # the OpenAPI 3.1 document of the HTTP API
    nullptr-auth backup backup.db           # a consistent copy of a SQLite database

The store is ``--database URL``, else ``NULLPTR_AUTH_DATABASE``, else
``sqlite:///nullptr_auth.db``. Errors are one line on standard error and exit status 1
(2 for a usage error).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence
from importlib import resources
from typing import Any

from werkzeug.serving import make_server

from .demo import demo_app
from .errors import AuthError, StoreUnavailable
from .metrics import Metrics, metrics_app
from .middleware import AuthMiddleware
from .models import Session
from .stores import DEFAULT_DATABASE, SQLiteStore

DATABASE_VARIABLE = "NULLPTR_AUTH_DATABASE"
SESSIONS_VARIABLE = "NULLPTR_AUTH_SESSIONS"
BY = "the command line"
DEMO_TRANSPORTS: dict[str, Any] = {
    "transports": ("headers", "bearer", "cookie"),
    "cookie_insecure_localhost": True,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        auth = AuthMiddleware(
            demo_app,
            args.database,
            sessions=args.sessions,
            registration=True,
            **DEMO_TRANSPORTS,  # issue 15: every transport, the cookie over http on localhost
            metrics=Metrics() if getattr(args, "metrics", False) else None,
        )
    except (ValueError, TypeError, ImportError) as error:
        return _fail(str(error))
    try:
        return int(args.command(auth, args) or 0)
    except StoreUnavailable as error:
        return _fail(f"{error.message} ({error.__cause__})")
    except (AuthError, ValueError, TypeError) as error:
        return _fail(str(error))
    except KeyboardInterrupt:
        return 130
    finally:
        auth.store.close()


def _serve(auth: AuthMiddleware, args: argparse.Namespace) -> int | None:
    try:
        app = auth if auth.metrics is None else metrics_app(auth, auth.metrics)
    except ImportError as error:  # serve --metrics without the extra
        return _fail(str(error))
    server = make_server(args.host, args.port, app, threaded=True)
    print(
        f"nullptr-auth: serving the demo app on http://{args.host}:{server.port}/"
        f" with {auth.store!r}",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return None


def _openapi(auth: AuthMiddleware, args: argparse.Namespace) -> None:
    print(resources.files("nullptr_auth").joinpath("openapi.json").read_text(encoding="utf-8"))


def _backup(auth: AuthMiddleware, args: argparse.Namespace) -> int:
    """SQLite's online backup: running processes go on serving while it copies."""
    if not isinstance(auth.store, SQLiteStore):
        return _fail(
            "backup copies a SQLite database; back up Redis and PostgreSQL with their own"
            " tools (see docs/deploying.md)"
        )
    try:
        auth.store.backup(args.path)
    except OSError as error:
        return _fail(f"cannot write {args.path}: {error.strerror or error}")
    print(f"backed up {auth.store.path} to {args.path}")
    return 0


def _user_create(auth: AuthMiddleware, args: argparse.Namespace) -> None:
    user = auth.accounts.create(args.username, _read_password())
    auth.audit.record("user.created", username=user.username, by=BY)
    print(f"created {user.username} ({user.id})")


def _user_list(auth: AuthMiddleware, args: argparse.Namespace) -> None:
    for user in auth.accounts.list():
        print(f"{user.id}  {user.username}")


def _user_delete(auth: AuthMiddleware, args: argparse.Namespace) -> None:
    auth.accounts.delete(args.username)
    auth.audit.record("user.deleted", username=args.username.lower(), by=BY)
    print(f"deleted {args.username.lower()} and all their sessions")


def _user_disable(auth: AuthMiddleware, args: argparse.Namespace) -> None:
    auth.accounts.disable(args.username)
    auth.audit.record("user.disabled", username=args.username.lower(), by=BY)
    print(f"disabled {args.username.lower()} and ended all their sessions")


def _user_enable(auth: AuthMiddleware, args: argparse.Namespace) -> None:
    auth.accounts.enable(args.username)
    auth.audit.record("user.enabled", username=args.username.lower(), by=BY)
    print(f"enabled {args.username.lower()}")


def _user_set_password(auth: AuthMiddleware, args: argparse.Namespace) -> None:
    auth.accounts.set_password(args.username, _read_password())
    auth.audit.record("password.changed", username=args.username.lower(), by=BY)
    print(f"changed the password of {args.username.lower()} and ended all their sessions")


def _session_list(auth: AuthMiddleware, args: argparse.Namespace) -> None:
    user_id = None if args.username is None else auth.accounts.get(args.username).id
    names = {user.id: user.username for user in auth.accounts.list()}
    for session in auth.sessions.list(user_id):
        print(_session_line(session, names.get(session.user_id, "?")))


def _session_revoke(auth: AuthMiddleware, args: argparse.Namespace) -> int:
    if not auth.sessions.end(args.session_id):
        return _fail(f"no session has the id {args.session_id!r}")
    auth.audit.record("session.ended", session_id=args.session_id, by=BY)
    print(f"ended session {args.session_id}")
    return 0


def _session_purge(auth: AuthMiddleware, args: argparse.Namespace) -> None:
    print(f"deleted {auth.sessions.purge()} expired sessions")


def _session_line(session: Session, username: str) -> str:
    ends_at = "never" if session.ends_at is None else session.ends_at.isoformat(timespec="seconds")
    return "  ".join(
        [
            session.id,
            username,
            f"created {session.created_at.isoformat(timespec='seconds')}",
            f"last seen {session.last_seen_at.isoformat(timespec='seconds')}",
            f"expires {ends_at}",
            f"ip {session.ip or '-'}",
            f"device {session.device or '-'!r}",
            f"agent {session.user_agent or '-'!r}",
        ]
    )


def _read_password() -> str:
    """From a prompt (asked twice) on a terminal, else one line of standard input."""
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password (again): ") != password:
            raise ValueError("the two passwords differ")
        return password
    line = sys.stdin.readline()
    return line[:-1] if line.endswith("\n") else line


def _fail(message: str) -> int:
    print(f"nullptr-auth: error: {message}", file=sys.stderr)
    return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nullptr-auth", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database",
        default=os.environ.get(DATABASE_VARIABLE, DEFAULT_DATABASE),
        help=f"store URL (default: ${DATABASE_VARIABLE} or {DEFAULT_DATABASE})",
    )
    parser.add_argument(
        "--sessions",
        default=os.environ.get(SESSIONS_VARIABLE) or None,
        help=f"keep sessions in this store, users in --database (default: ${SESSIONS_VARIABLE})",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the demo app behind the middleware")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    serve.add_argument(
        "--metrics",
        action="store_true",
        help="count into Prometheus metrics, shown on /metrics (needs nullptr_auth[prometheus])",
    )
    serve.set_defaults(command=_serve)

    openapi = commands.add_parser("openapi", help="print the OpenAPI 3.1 document of the API")
    openapi.set_defaults(command=_openapi)

    backup = commands.add_parser("backup", help="copy a SQLite database, while it serves")
    backup.add_argument("path", help="the new file (it must not exist)")
    backup.set_defaults(command=_backup)

    user = commands.add_parser("user", help="manage users").add_subparsers(
        required=True, metavar="ACTION"
    )
    for name, action, help_text in [
        ("create", _user_create, "create a user"),
        ("delete", _user_delete, "delete a user and their sessions"),
        ("set-password", _user_set_password, "change a password; ends all sessions"),
        ("disable", _user_disable, "refuse a user's logins; ends all sessions"),
        ("enable", _user_enable, "let a disabled user log in again"),
    ]:
        sub = user.add_parser(name, help=help_text)
        sub.add_argument("username")
        sub.set_defaults(command=action)
    user.add_parser("list", help="list users").set_defaults(command=_user_list)

    session = commands.add_parser("session", help="manage sessions").add_subparsers(
        required=True, metavar="ACTION"
    )
    listing = session.add_parser("list", help="list live sessions")
    listing.add_argument("username", nargs="?")
    listing.set_defaults(command=_session_list)
    revoke = session.add_parser("revoke", help="end one session")
    revoke.add_argument("session_id")
    revoke.set_defaults(command=_session_revoke)
    session.add_parser("purge", help="delete expired sessions").set_defaults(command=_session_purge)
    return parser
