"""The one exception hierarchy of nullptr_auth.

Every failure the middleware can answer is one of these classes. They know nothing of
HTTP: ``middleware.py`` maps each to a status and a contract error code in one table.
Catch :class:`AuthError` to handle them all from Python::

    AuthError
    ├── RequestError                 the request itself is malformed
    │   ├── InvalidRequest           INVALID_REQUEST
    │   ├── RequestTooLarge          REQUEST_TOO_LARGE
    │   ├── UnsupportedMediaType     UNSUPPORTED_MEDIA_TYPE
    │   └── MethodNotAllowed         METHOD_NOT_ALLOWED (carries ``allowed``)
    ├── CredentialsError             INCORRECT_CREDENTIALS: a login was refused
    │   ├── IncorrectUsername        INCORRECT_USERNAME
    │   ├── IncorrectPassword        INCORRECT_PASSWORD
    │   ├── AccountDisabled          ACCOUNT_DISABLED
    │   └── CredentialsChanged       (a store's answer; never reaches a client)
    ├── SessionError                 a request could not be tied to a session
    │   ├── AuthorizationRequired    AUTHORIZATION_REQUIRED
    │   ├── InvalidSession           INVALID_SESSION
    │   ├── SessionNotFound          SESSION_NOT_FOUND
    │   └── TooManySessions          TOO_MANY_SESSIONS
    ├── AccountError                 an account could not be created or changed
    │   ├── InvalidUsername          INVALID_USERNAME
    │   ├── InvalidPassword          INVALID_PASSWORD
    │   ├── UsernameTaken            USERNAME_TAKEN
    │   └── UserNotFound             (Python and command line only)
    ├── CsrfFailed                   CSRF_FAILED: a cookie's request from another site
    ├── TooManyAttempts              TOO_MANY_ATTEMPTS (carries ``retry_after``)
    └── ServiceUnavailable           SERVICE_UNAVAILABLE
        ├── StoreUnavailable         the store cannot be reached
        └── Overloaded               too many password hashes are being computed

Each class carries a default message; pass a more precise one when raising.
"""

from __future__ import annotations

from collections.abc import Iterable


class AuthError(Exception):
    """Base class of every error nullptr_auth raises on purpose."""

    default_message = "Authentication failed."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)

    @property
    def message(self) -> str:
        return str(self.args[0])


class RequestError(AuthError):
    """The request cannot be understood; nothing was changed."""


class InvalidRequest(RequestError):
    default_message = "The request body must be a JSON object or a form with string fields."


class RequestTooLarge(RequestError):
    default_message = "The request body is too large."


class UnsupportedMediaType(RequestError):
    default_message = (
        "The request body must be application/json or application/x-www-form-urlencoded."
    )


class MethodNotAllowed(RequestError):
    """Carries the methods the path does allow, for the ``Allow`` header."""

    default_message = "This method is not allowed on this path."

    def __init__(self, allowed: Iterable[str], message: str | None = None) -> None:
        super().__init__(message)
        self.allowed = tuple(sorted(allowed))


class CredentialsError(AuthError):
    """A login was refused because of the username or password presented.

    Raised as itself (INCORRECT_CREDENTIALS) when the middleware must not reveal which
    usernames exist.
    """

    default_message = "The username or the password is incorrect."


class IncorrectUsername(CredentialsError):
    default_message = "User with this username doesn't exist."


class IncorrectPassword(CredentialsError):
    default_message = "Password doesn't match correct one."


class AccountDisabled(CredentialsError):
    default_message = "This account is disabled."


class CredentialsChanged(CredentialsError):
    """A store refused a new session: the user changed while the login checked them.

    :class:`~nullptr_auth.accounts.Accounts` turns it into what the new state says:
    ``IncorrectUsername``, ``AccountDisabled`` or ``IncorrectPassword``.
    """

    default_message = "The account changed during the login."


class SessionError(AuthError):
    """A request needed a live session and did not present one."""


class AuthorizationRequired(SessionError):
    default_message = "This request needs the Username and Token headers of a session."


class InvalidSession(SessionError):
    """Carries why, for the audit log only: the client is never told which check failed.

    ``reason`` is one of ``"half-pair"``, ``"malformed"``, ``"forged"``, ``"unknown"``
    (never issued, ended or revoked), ``"not-as-issued"``, ``"username-mismatch"`` or
    ``"expired"``.
    """

    default_message = "The Username and Token headers do not name a live session."

    def __init__(self, reason: str = "unknown", message: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class SessionNotFound(SessionError):
    default_message = "You have no session with this id."


class TooManySessions(SessionError):
    default_message = "You have too many sessions; end one before logging in again."


class AccountError(AuthError):
    """An account could not be created or changed."""


class InvalidUsername(AccountError):
    default_message = (
        "The username is not valid: it must have 3 to 32 ASCII letters, digits, "
        "underscores or hyphens, and not start with an underscore."
    )


class InvalidPassword(AccountError):
    default_message = "The password is too short: it must have more than 8 characters."


class UsernameTaken(AccountError):
    default_message = "This username is taken."


class UserNotFound(AccountError):
    default_message = "No user has this username."


class CsrfFailed(AuthError):
    """A state-changing request authenticated by the session cookie did not show that
    the site's own page sent it (see :mod:`nullptr_auth.csrf`).

    Carries why, for the audit log only: ``"cross-site"``, ``"cross-origin"``,
    ``"no-token"`` or ``"wrong-token"``.
    """

    default_message = (
        "This request changes state with the session cookie, and did not come from this"
        " site's pages with its X-CSRF-Token."
    )

    def __init__(self, reason: str = "no-token", message: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class TooManyAttempts(AuthError):
    """Failed logins are being throttled; carries the whole seconds to wait."""

    default_message = "Too many failed attempts; try again later."

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(AuthError):
    """The request could not be answered now; trying again later may work."""

    default_message = "The service is unavailable; try again later."


class StoreUnavailable(ServiceUnavailable):
    """The store cannot be reached; raised ``from`` the driver's own exception."""

    default_message = "The session store is unavailable; try again later."


class Overloaded(ServiceUnavailable):
    """Every slot for password hashing stayed busy for too long."""

    default_message = "The server is busy; try again later."
