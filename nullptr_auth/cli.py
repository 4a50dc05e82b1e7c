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
import socket
import sys
from collections.abc import Sequence
from importlib import resources
from typing import Any, NoReturn

from werkzeug.serving import LISTEN_QUEUE, make_server, select_address_family

from . import __version__
from ._store_errors import PoolLog, describe
from .audit import utc_iso
from .auth import Adapter
from .demo import demo_app, demo_asgi_app
from .errors import AuthError, StoreUnavailable
from .metrics import Metrics, metrics_app, metrics_asgi_app
from .middleware import AuthMiddleware
from .models import Session
from .stores import DEFAULT_DATABASE, SQLiteStore
from .tokens import StoredKeySigner

DATABASE_VARIABLE = "NULLPTR_AUTH_DATABASE"
SESSIONS_VARIABLE = "NULLPTR_AUTH_SESSIONS"
BY = "the command line"
DEMO_TRANSPORTS: dict[str, Any] = {
    "transports": ("headers", "bearer", "cookie"),
    "cookie_insecure_localhost": True,
}
DESCRIPTION = """\
Run the demo server, and manage the users and sessions of a nullptr_auth store.

The store is --database URL, else $NULLPTR_AUTH_DATABASE, else sqlite:///nullptr_auth.db.
Errors are one line on standard error and exit status 1 (2 for a usage error).
"""


class CommandError(Exception):
    """A failure the command line reports as one line, with its message as given."""


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        auth = _middleware(args)
    except (ValueError, TypeError, ImportError) as error:
        return _fail(str(error))
    with PoolLog() as pool_log:
        args.pool_log = pool_log
        try:
            return int(args.command(auth, args) or 0)
        except StoreUnavailable as error:
            return _fail(describe(error, auth.store, pool_log.reason))
        except TypeError as error:  # redis-py's answer to an unknown URL parameter
            return _fail(describe(error, auth.store))
        except (AuthError, CommandError, ValueError) as error:
            return _fail(str(error))
        except KeyboardInterrupt:
            if sys.stdin.isatty():
                print(file=sys.stderr)  # end the line the prompt and ^C left open
            _fail("interrupted")
            return 130
        finally:
            auth.store.close()


def _middleware(args: argparse.Namespace) -> Adapter:
    """The demo app behind the middleware of the protocol ``serve`` is asked for (WSGI
    unless ``--asgi``); the other commands use only its parts (accounts, store...)."""
    options: dict[str, Any] = {
        "sessions": args.sessions,
        "registration": True,
        **DEMO_TRANSPORTS,  # issue 15: every transport, the cookie over http on localhost
        "metrics": Metrics() if getattr(args, "metrics", False) else None,
    }
    if getattr(args, "asgi", False):
        from .asgi import AuthMiddleware as ASGIMiddleware

        return ASGIMiddleware(demo_asgi_app, args.database, **options)
    return AuthMiddleware(demo_app, args.database, **options)


def _serve(auth: Adapter, args: argparse.Namespace) -> int:
    _check_store(auth)
    args.pool_log.restore()  # from now on the pool's reconnection warnings are news
    wrap = metrics_asgi_app if args.asgi else metrics_app
    try:
        app: Any = auth if auth.metrics is None else wrap(auth, auth.metrics)
    except ImportError as error:  # serve --metrics without the extra
        raise CommandError(str(error)) from None
    if args.asgi:
        return _serve_asgi(app, auth, args)
    listener = _listen(args.host, args.port)
    with listener:
        server = make_server(args.host, args.port, app, threaded=True, fd=listener.fileno())
    print(
        f"nullptr-auth: serving the demo app on http://{args.host}:{server.port}/"
        f" with {auth.store!r} (werkzeug's development server: not for production)",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nnullptr-auth: stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0


def _serve_asgi(app: Any, auth: Adapter, args: argparse.Namespace) -> int:
    """uvicorn, on a socket opened as the WSGI server's is (so that errors read alike)."""
    try:
        import uvicorn
    except ImportError:
        raise CommandError("serve --asgi needs an ASGI server: pip install uvicorn") from None
    listener = _listen(args.host, args.port)
    with listener:
        server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
        print(
            f"nullptr-auth: serving the demo app on http://{args.host}:"
            f"{listener.getsockname()[1]}/ with {auth.store!r} (uvicorn, ASGI)",
            file=sys.stderr,
            flush=True,
        )
        server.run(sockets=[listener])  # stops on SIGINT or SIGTERM, after the requests in flight
    print("nullptr-auth: stopped", file=sys.stderr)
    return 0


def _check_store(auth: Adapter) -> None:
    """Ask the store for a user, a session and the signing key before listening.

    A server whose store cannot be used would start and answer every login ``503``.
    :raises StoreUnavailable:
    """
    auth.store.get_user("-")  # no username is "-"
    auth.store.list_sessions("00000000-0000-0000-0000-000000000000")
    if isinstance(auth.sessions.signer, StoredKeySigner):  # configured keys need no I/O
        auth.sessions.signer.read_key()


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port``. :raises CommandError: naming both."""
    family = select_address_family(host, port)
    where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
    try:
        address = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)[0][4]
    except (socket.gaierror, UnicodeError) as error:
        raise CommandError(f"cannot listen on {where}: unknown host {host!r} ({error})") from None
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(LISTEN_QUEUE)
    except OSError as error:
        listener.close()
        raise CommandError(f"cannot listen on {where}: {error.strerror or error}") from None
    return listener


def _openapi(auth: Adapter, args: argparse.Namespace) -> None:
    print(resources.files("nullptr_auth").joinpath("openapi.json").read_text(encoding="utf-8"))


def _backup(auth: Adapter, args: argparse.Namespace) -> int:
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


def _user_create(auth: Adapter, args: argparse.Namespace) -> None:
    user = auth.accounts.create(args.username, _read_password())
    auth.audit.record("user.created", username=user.username, by=BY)
    print(f"created {user.username} ({user.id})")


def _user_list(auth: Adapter, args: argparse.Namespace) -> None:
    for user in auth.store.list_users():  # the records: they say who is disabled
        print(f"{user.id}  {user.username}{'  disabled' if user.disabled else ''}")


def _user_delete(auth: Adapter, args: argparse.Namespace) -> None:
    auth.accounts.delete(args.username)
    auth.audit.record("user.deleted", username=args.username.lower(), by=BY)
    print(f"deleted {args.username.lower()} and all their sessions")


def _user_disable(auth: Adapter, args: argparse.Namespace) -> None:
    auth.accounts.disable(args.username)
    auth.audit.record("user.disabled", username=args.username.lower(), by=BY)
    print(f"disabled {args.username.lower()} and ended all their sessions")


def _user_enable(auth: Adapter, args: argparse.Namespace) -> None:
    auth.accounts.enable(args.username)
    auth.audit.record("user.enabled", username=args.username.lower(), by=BY)
    print(f"enabled {args.username.lower()}")


def _user_set_password(auth: Adapter, args: argparse.Namespace) -> None:
    auth.accounts.set_password(args.username, _read_password())
    auth.audit.record("password.changed", username=args.username.lower(), by=BY)
    print(f"changed the password of {args.username.lower()} and ended all their sessions")


def _session_list(auth: Adapter, args: argparse.Namespace) -> None:
    user_id = None if args.username is None else auth.accounts.get(args.username).id
    names = {user.id: user.username for user in auth.accounts.list()}
    for session in auth.sessions.list(user_id):
        print(_session_line(session, names.get(session.user_id, "?")))


def _session_revoke(auth: Adapter, args: argparse.Namespace) -> int:
    if not auth.sessions.end(args.session_id):
        return _fail(f"no session has the id {args.session_id!r}")
    auth.audit.record("session.ended", session_id=args.session_id, by=BY)
    print(f"ended session {args.session_id}")
    return 0


def _session_purge(auth: Adapter, args: argparse.Namespace) -> None:
    print(f"deleted {auth.sessions.purge()} expired sessions")


def _session_line(session: Session, username: str) -> str:
    ends_at = "never" if session.ends_at is None else utc_iso(session.ends_at)
    return "  ".join(
        [
            session.id,
            username,
            f"created {utc_iso(session.created_at)}",
            f"last seen {utc_iso(session.last_seen_at)}",
            f"expires {ends_at}",
            f"ip {session.ip or '-'}",
            f"device {session.device or '-'!r}",
            f"agent {session.user_agent or '-'!r}",
        ]
    )


def _read_password() -> str:
    """From a prompt (asked twice) on a terminal, else one line of standard input (UTF-8).

    :raises CommandError: at the end of input (Ctrl-D), or on a line that is not UTF-8.
    """
    if sys.stdin.isatty():
        try:
            password = getpass.getpass("Password: ")
            again = getpass.getpass("Password (again): ")
        except EOFError:
            print(file=sys.stderr)  # end the prompt's line, as Enter would have
            raise CommandError("no password given (end of input)") from None
        if again != password:
            raise CommandError("the two passwords differ")
        return password
    stream = getattr(sys.stdin, "buffer", None)  # bytes, so the decoding is ours to check
    try:
        line = sys.stdin.readline() if stream is None else stream.readline().decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError("the password on standard input is not UTF-8 text") from None
    if not line:
        raise CommandError("no password given (standard input is empty)")
    line = line[:-1] if line.endswith("\n") else line
    return line[:-1] if line.endswith("\r") else line


def _fail(message: str) -> int:
    print(f"nullptr-auth: error: {message}", file=sys.stderr)
    return 1


def _port(text: str) -> int:
    """``--port``: an integer from 0 (any free port) to 65535."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: use 0 to 65535")
    return port


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one ``nullptr-auth: error:`` line (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"nullptr-auth: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="nullptr-auth",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
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

    serve = commands.add_parser(
        "serve",
        help="run the demo app behind the middleware (werkzeug's development server)",
        description="Run the demo app behind the middleware on werkzeug's threaded "
        "development server, after checking that the store can be used. Not for "
        "production: see the README's 'Running in production'.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    serve.add_argument("--port", type=_port, default=8000, help="default: 8000; 0 picks a free one")
    serve.add_argument(
        "--asgi",
        action="store_true",
        help="serve the ASGI demo through nullptr_auth.asgi on uvicorn (pip install uvicorn)",
    )
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
