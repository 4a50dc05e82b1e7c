"""The answers of the paths the middleware owns: log in, list and end sessions, accounts.

The core (``auth.py``) hands every request for an owned path to :meth:`Endpoints.answer`,
which picks a method by the routing map at the bottom of this module. Requests and
answers are the plain values of ``_http.py``: nothing here knows which protocol carried
them. Every answer is JSON (or an empty ``204``), never cached, and every failure is an
exception of :mod:`nullptr_auth.errors` turned into the contract's error envelope in one
place.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from werkzeug.exceptions import MethodNotAllowed as _WerkzeugMethodNotAllowed
from werkzeug.exceptions import NotFound
from werkzeug.routing import BaseConverter, Map, Rule

from . import _http, errors
from ._http import Request, Response
from .accounts import Accounts
from .audit import Audit, utc_iso
from .config import Options
from .models import Session, User
from .sessions import Sessions
from .throttle import Throttle
from .transports import Transports

Identity = tuple[User, Session]
_ISSUED_SESSION_ID = re.compile("[0-9a-f]{32}")  # sessions.py: secrets.token_hex(16)
MAX_USER_AGENT = 256
MAX_DEVICE_LABEL = 64
_TAKES_A_BODY = frozenset({"login", "register", "change_password"})
_LOGIN_FAILURES = {
    errors.IncorrectUsername: "unknown-user",
    errors.IncorrectPassword: "wrong-password",
    errors.AccountDisabled: "disabled",
    errors.CredentialsError: "incorrect-credentials",
    errors.TooManyAttempts: "throttled",
}


class Endpoints:
    """The session and account endpoints of one middleware.

    :param identify: authenticates a request from its headers (``None``: anonymous).
    :param transports: what carries sessions: the login answer and its cookies.
    """

    def __init__(
        self,
        options: Options,
        sessions: Sessions,
        accounts: Accounts,
        audit: Audit,
        *,
        identify: Callable[[Request], Identity | None],
        transports: Transports,
        login_throttle: Throttle | None,
        lookup_throttle: Throttle | None,
        registration_throttle: Throttle | None,
    ) -> None:
        self._options = options
        self._sessions = sessions
        self._accounts = accounts
        self._audit = audit
        self._identify = identify
        self._transports = transports
        self._login_throttle = login_throttle
        self._lookup_throttle = lookup_throttle
        self._registration_throttle = registration_throttle
        self._routes = _routes(options.session_path, options.registration).bind("nullptr_auth")

    def __repr__(self) -> str:
        return f"<Endpoints under {self._options.session_path}>"

    def takes_body(self, method: str, path: str) -> bool:
        """Whether the endpoint at ``path`` reads a body: the adapter reads it first."""
        try:
            endpoint, _ = self._routes.match(path, method)
        except (NotFound, _WerkzeugMethodNotAllowed):
            return False
        return endpoint in _TAKES_A_BODY

    def answer(self, request: Request) -> Response | None:
        """The answer for an owned path, or ``None`` if the path is the application's."""
        try:
            endpoint, arguments = self._routes.match(request.path, request.method)
        except NotFound:
            return None
        except _WerkzeugMethodNotAllowed as exc:
            return _http.error_response(errors.MethodNotAllowed(exc.valid_methods or ()))
        try:
            return getattr(self, f"_{endpoint}")(request, **arguments)  # type: ignore[no-any-return]
        except errors.AuthError as error:
            return _http.error_response(error)
        except Exception:
            return _http.internal_error_response()

    def _caller(self, request: Request) -> Identity:
        identity = self._identify(request)
        if identity is None:
            raise errors.AuthorizationRequired()
        return identity

    def _login(self, request: Request) -> Response:
        self._check_login_origin(request)
        fields = _http.read_fields(request, self._options.max_body_size)
        username = _http.string_field(fields, "username")
        password = _http.string_field(fields, "password")
        client = self._client(request, fields)
        origin = {"username": username, **self._origin(request)}
        try:
            with _counted(self._login_throttle, username, client["ip"]):
                user, token = self._sessions.login(username, password, **client)
        except (errors.CredentialsError, errors.TooManyAttempts) as error:
            self._audit.record("login.failed", reason=_LOGIN_FAILURES[type(error)], **origin)
            if self._options.reveal_unknown_users or isinstance(error, errors.TooManyAttempts):
                raise
            raise errors.CredentialsError() from error
        session_id = self._sessions.signer.session_id(token)
        self._audit.record("login.succeeded", user_id=user.id, session_id=session_id, **origin)
        return self._logged_in(request, user, token)

    def _list_sessions(self, request: Request) -> Response:
        user, current = self._caller(request)
        sessions = self._sessions.list(user.id)
        return _http.json_response(
            {
                "user_id": user.id,
                "username": user.username,
                "session_id": current.id,
                "sessions": [_session_json(s, current=s.id == current.id) for s in sessions],
            }
        )

    def _logout(self, request: Request) -> Response:
        user, current = self._caller(request)
        self._sessions.end(current.id)
        self._record("logout", request, user, current.id)
        response = _http.no_content()
        for value in self._transports.logout_cookies(_http.own_origin(request)):
            response = response.with_header("Set-Cookie", value)
        return response

    def _end_session(self, request: Request, session_id: str) -> Response:
        user, current = self._caller(request)
        if not _ISSUED_SESSION_ID.fullmatch(session_id):  # no such session: never ask
            raise errors.SessionNotFound()
        if not self._sessions.end(session_id, user_id=user.id):
            raise errors.SessionNotFound()
        self._record("session.ended", request, user, session_id, by=f"session {current.id}")
        return _http.no_content()

    def _end_other_sessions(self, request: Request) -> Response:
        user, current = self._caller(request)
        ended = self._sessions.end_all(user.id, keep=current.id)
        self._record("session.ended", request, user, None, by=f"session {current.id}", count=ended)
        return _http.no_content()

    def _check_username(self, request: Request) -> Response:
        username = request.arg("username")
        self._count_lookup(request, username)
        return _http.json_response({"available": self._accounts.is_available(username)})

    def _register(self, request: Request) -> Response:
        self._check_login_origin(request)
        fields = _http.read_fields(request, self._options.max_body_size)
        username = _http.string_field(fields, "username")
        password = _http.string_field(fields, "password")
        client = self._client(request, fields)
        if self._registration_throttle is not None:
            self._registration_throttle.reserve(username, client["ip"])
        self._count_lookup(request, username)
        user, token = self._sessions.register(username, password, **client)
        self._record("user.registered", request, user, self._sessions.signer.session_id(token))
        return self._logged_in(request, user, token)

    # -- transports (nullptr_auth/transports.py): plain values in and out ---------------
    def _logged_in(self, request: Request, user: User, token: str) -> Response:
        """A new session's answer: its token, its end, and the cookies if they are on."""
        ends_at = self._sessions.new_session_ends_at()
        body: dict[str, object] = {
            "user_id": user.id,
            "session_token": token,
            "expires_at": None if ends_at is None else utc_iso(ends_at),
        }
        response = _http.json_response(self._transports.login_body(body, token))
        for value in self._transports.login_cookies(token, _http.own_origin(request)):
            response = response.with_header("Set-Cookie", value)
        return response

    def _check_login_origin(self, request: Request) -> None:
        """With cookies on, a login must not come from another site's page."""
        self._transports.check_login_origin(
            origin=request.headers.get("origin"),
            fetch_site=request.headers.get("sec-fetch-site"),
            own_origin=_http.own_origin(request),
        )

    def _client(self, request: Request, fields: dict[str, object]) -> dict[str, str]:
        """What a new session records about the device that opened it.

        :raises InvalidRequest: for a control character in any of it; nothing is stored.
        """
        address = _http.client_address(request, self._options.trusted_proxies)
        user_agent = request.headers.get("user-agent", "")
        return {
            "user_agent": _http.header_text(user_agent, max_length=MAX_USER_AGENT),
            "ip": _http.header_text(address, max_length=64),
            "device": _http.label_field(fields, "device", max_length=MAX_DEVICE_LABEL),
        }

    def _count_lookup(self, request: Request, username: str) -> None:
        """When usernames are secret, asking about them is throttled like logging in."""
        if self._lookup_throttle is not None:
            address = _http.client_address(request, self._options.trusted_proxies)
            self._lookup_throttle.reserve(username, address)

    def _change_password(self, request: Request) -> Response:
        user, current = self._caller(request)
        fields = _http.read_fields(request, self._options.max_body_size)
        old_password = _http.string_field(fields, "old_password")
        new_password = _http.string_field(fields, "new_password")
        address = _http.client_address(request, self._options.trusted_proxies)
        # A stolen token must not guess the password either.
        with _counted(self._login_throttle, user.username, address):
            self._accounts.change_password(
                user, old_password, new_password, keep_session=current.id
            )
        self._record("password.changed", request, user, current.id, by="the user")
        return _http.no_content()

    def _record(
        self,
        event: str,
        request: Request,
        user: User,
        session_id: str | None,
        **details: str | int | None,
    ) -> None:
        self._audit.record(
            event,
            username=user.username,
            user_id=user.id,
            session_id=session_id,
            **self._origin(request),
            **details,
        )

    def _origin(self, request: Request) -> dict[str, str]:
        return _http.origin(request, self._options.trusted_proxies)


def _counted(
    throttle: Throttle | None, username: str, address: str
) -> AbstractContextManager[None]:
    """A login-like attempt counted by ``throttle`` before it is checked (if throttling)."""
    return nullcontext() if throttle is None else throttle.attempt(username, address)


def _routes(prefix: str, registration: bool) -> Map:
    rules = [
        Rule(prefix, methods=["POST"], endpoint="login"),
        Rule(prefix, methods=["GET"], endpoint="list_sessions"),
        Rule(prefix, methods=["DELETE"], endpoint="logout"),
        Rule(f"{prefix}/others", methods=["DELETE"], endpoint="end_other_sessions"),
        Rule(f"{prefix}/<any_text:session_id>", methods=["DELETE"], endpoint="end_session"),
    ]
    if registration:
        rules += [
            Rule("/user/checkUsername", methods=["GET"], endpoint="check_username"),
            Rule("/user/register", methods=["POST"], endpoint="register"),
            Rule("/user/password", methods=["POST"], endpoint="change_password"),
        ]
    return Map(
        rules,
        strict_slashes=False,
        merge_slashes=False,
        converters={"any_text": _AnyText},
    )


class _AnyText(BaseConverter):
    """Any non-empty text, slashes and newlines included: werkzeug's ``path`` stops at a
    newline, which would hand ``DELETE /session/a%0Ab`` to the application."""

    regex = r"[\s\S]+"
    part_isolating = False


def _session_json(session: Session, *, current: bool) -> dict[str, object]:
    return {
        "session_id": session.id,
        "created_at": utc_iso(session.created_at),
        "last_seen_at": utc_iso(session.last_seen_at),
        "expires_at": None if session.ends_at is None else utc_iso(session.ends_at),
        "user_agent": session.user_agent,
        "ip": session.ip,
        "device": session.device,
        "current": current,
    }
