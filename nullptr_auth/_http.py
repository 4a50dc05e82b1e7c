"""The HTTP vocabulary of the core: plain request and response values, bodies, errors.

No protocol lives here: the adapters (:mod:`nullptr_auth.wsgi`, :mod:`nullptr_auth.asgi`)
turn what their server hands over into a :class:`Request` and a :class:`Response` back
into what their server expects, and everything between works on these two values only
(the sans-IO pattern of h11: the rules in one place, testable without a server). The
module holds the one table that maps every exception of :mod:`nullptr_auth.errors` to a
status and a contract error code, and the one parser of login-shaped bodies, which
refuses anything it does not fully understand.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import werkzeug.urls  # noqa: F401 - registers the "werkzeug.url_quote" codec error handler
from werkzeug.http import parse_options_header

from . import csrf, errors

logger = logging.getLogger("nullptr_auth")
ERRORS: dict[type[errors.AuthError], tuple[int, str]] = {
    errors.InvalidRequest: (400, "INVALID_REQUEST"),
    errors.RequestTooLarge: (413, "REQUEST_TOO_LARGE"),
    errors.UnsupportedMediaType: (415, "UNSUPPORTED_MEDIA_TYPE"),
    errors.MethodNotAllowed: (405, "METHOD_NOT_ALLOWED"),
    errors.IncorrectUsername: (401, "INCORRECT_USERNAME"),
    errors.IncorrectPassword: (401, "INCORRECT_PASSWORD"),
    errors.AccountDisabled: (403, "ACCOUNT_DISABLED"),
    errors.CredentialsError: (401, "INCORRECT_CREDENTIALS"),
    errors.AuthorizationRequired: (401, "AUTHORIZATION_REQUIRED"),
    errors.InvalidSession: (401, "INVALID_SESSION"),
    errors.SessionNotFound: (404, "SESSION_NOT_FOUND"),
    errors.TooManySessions: (403, "TOO_MANY_SESSIONS"),
    errors.InvalidUsername: (400, "INVALID_USERNAME"),
    errors.InvalidPassword: (400, "INVALID_PASSWORD"),
    errors.UsernameTaken: (409, "USERNAME_TAKEN"),
    errors.CsrfFailed: (403, "CSRF_FAILED"),
    errors.TooManyAttempts: (429, "TOO_MANY_ATTEMPTS"),
    errors.ServiceUnavailable: (503, "SERVICE_UNAVAILABLE"),
}
INTERNAL_ERROR = (500, "INTERNAL_SERVER_ERROR", "Something went wrong on our side.")
MAX_FORM_FIELDS = 32
_NOT_PLAIN_TEXT = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}
_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode's category Cc
_NOT_IN_A_FIELD_VALUE = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
_JSON = "application/json"
_PRIVATE = ("Cache-Control", "private")
_MARKED_BY_US = frozenset({"cache-control", "vary"})
_FORM = "application/x-www-form-urlencoded"


Headers = Mapping[str, str]
"""A request's headers by lowercase name; a repeated header is one value joined by
``", "`` (what a WSGI server hands over, RFC 9110 §5.3)."""


def headers_from_pairs(pairs: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Raw header pairs (name and value bytes, as a server's parser hands them over) as
    :data:`Headers`.

    Names are lowercased, values decoded as ISO-8859-1 (as PEP 3333 has servers do, so
    both protocols see the same text), and repeats joined as a WSGI server joins them,
    but for ``Cookie``, which HTTP/2 splits into one field per cookie and which is
    joined with ``"; "`` again (RFC 9113 §8.2.3).
    """
    headers: dict[str, str] = {}
    for raw_name, raw_value in pairs:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        if name in headers:
            value = headers[name] + ("; " if name == "cookie" else ", ") + value
        headers[name] = value
    return headers


@dataclass(slots=True)
class Request:
    """What the core needs of one request, whatever protocol carried it (a value: the
    core never changes one; not frozen, which would cost a microsecond per request).

    :param method: the request method, as sent (methods are case-sensitive).
    :param path: the canonical path (:func:`nullptr_auth._paths.canonical`).
    :param raw_path: the path as the server decoded it, for ``require_auth`` prefixes.
    :param query: the raw query string.
    :param headers: by lowercase name, see :data:`Headers`.
    :param body: the body read by the adapter (only for an owned path that takes one),
        or ``None`` when it was larger than ``max_body_size`` and left unread.
    :param client: the address of the peer, before any ``X-Forwarded-For``.
    :param scheme: ``http`` or ``https``, as the server received the request.
    :param server: ``host:port`` the server listens on, the origin's host when the
        request has no ``Host`` header (the adapters may leave it empty when it has).
    """

    method: str
    path: str
    raw_path: str = ""
    query: bytes = b""
    headers: Headers = field(default_factory=dict)
    body: bytes | None = b""
    client: str = ""
    scheme: str = "http"
    server: str = ""

    def arg(self, name: str) -> str:
        """The first value of a query parameter, ``""`` if absent or not UTF-8."""
        try:
            text = self.query.decode()
        except UnicodeDecodeError:  # such bytes name nothing
            return ""
        for key, value in parse_qsl(text, keep_blank_values=True, errors="werkzeug.url_quote"):
            if key == name:
                return value
        return ""


@dataclass(frozen=True)
class Response:
    """An answer of the core: a status, header pairs and the whole (small) body."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def with_header(self, name: str, value: str) -> Response:
        return Response(self.status, (*self.headers, (name, value)), self.body)

    def without_header(self, name: str) -> Response:
        lowered = name.lower()
        kept = tuple(pair for pair in self.headers if pair[0].lower() != lowered)
        return Response(self.status, kept, self.body)

    def body_for(self, method: str) -> bytes:
        """The body to send: none to ``HEAD``, whose answer keeps its headers
        (``Content-Length`` included), RFC 9110 §9.3.2."""
        return b"" if method == "HEAD" else self.body


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON answer; never cached, since these answers carry tokens or private data."""
    # The newline ends the line at a shell prompt (curl); JSON parsers ignore it.
    data = json.dumps(body).encode() + b"\n"
    return Response(
        status,
        (
            ("Content-Type", _JSON),
            ("Content-Length", str(len(data))),
            ("Cache-Control", "no-store"),
        ),
        data,
    )


def error_response(error: errors.AuthError) -> Response:
    """The contract's ``{"error": {"code", "message"}}`` answer for an exception."""
    status, code = _status_and_code(error)
    response = _error_body(status, code, error.message)
    if isinstance(error, errors.MethodNotAllowed):
        response = response.with_header("Allow", ", ".join(error.allowed))
    if isinstance(error, errors.TooManyAttempts):
        response = response.with_header("Retry-After", str(error.retry_after))
    return response


def internal_error_response() -> Response:
    """The answer to a bug: the traceback goes to the log, never to the client."""
    logger.exception("unexpected error while answering a request")
    return _error_body(*INTERNAL_ERROR)


def no_content() -> Response:
    return Response(204, (("Cache-Control", "no-store"),))


def for_one_user(headers: list[tuple[str, str]], vary: Sequence[str]) -> list[tuple[str, str]]:
    """The headers of an answer to an authenticated request: it is one user's.

    RFC 9111 keeps shared caches from reusing answers to requests with
    ``Authorization`` only; these carry ``Username`` and ``Token`` instead, so a CDN
    would serve one user's page to the next. Adds ``Cache-Control: private`` when the
    application set no ``Cache-Control`` (one it set is its decision, left as it is),
    and the headers that carry sessions (``vary``: ``Username, Token`` by default, see
    :mod:`nullptr_auth.transports`) to ``Vary``. Returns a copy: the application may
    reuse its list. Both adapters apply it to the headers alone, never touching the body.

    Every authenticated answer passes here, so the usual case (neither header set) costs
    one look at each name and one copy; only an answer that sets either takes the
    longer way.
    """
    for name, _ in headers:
        if name.lower() in _MARKED_BY_US:
            return _marked_again(headers, vary)
    return [*headers, _PRIVATE, ("Vary", ", ".join(vary))]


def _marked_again(headers: list[tuple[str, str]], vary: Sequence[str]) -> list[tuple[str, str]]:
    """:func:`for_one_user` for headers that set ``Cache-Control`` or ``Vary``."""
    result = list(headers)
    cache_control = False
    vary_at: int | None = None
    for index, (name, _) in enumerate(result):
        lowered = name.lower()
        if lowered == "cache-control":
            cache_control = True
        elif lowered == "vary" and vary_at is None:
            vary_at = index
    if not cache_control:
        result.append(_PRIVATE)
    if vary_at is None:
        result.append(("Vary", ", ".join(vary)))
    else:
        _add_to_vary(result, vary_at, vary)
    return result


def _add_to_vary(headers: list[tuple[str, str]], vary_at: int, vary: Sequence[str]) -> None:
    """Add what is missing of ``vary`` to the ``Vary`` header at ``vary_at`` (the
    first), in place, reading every ``Vary``; nothing to ``Vary: *``."""
    varies = {
        part.strip().lower()
        for name, value in headers
        if name.lower() == "vary"
        for part in value.split(",")
    }
    missing = [header for header in vary if header.lower() not in varies]
    if "*" in varies or not missing:
        return
    name, value = headers[vary_at]
    headers[vary_at] = (name, ", ".join([value, *missing] if value.strip() else missing))


def read_fields(request: Request, max_body_size: int) -> dict[str, Any]:
    """The fields of a JSON-object or form body, refusing what does not parse cleanly.

    The adapters read at most ``max_body_size`` bytes (refusing a larger declared
    Content-Length unread, and stopping a streamed body as soon as it passes the limit);
    ``request.body`` is ``None`` then, refused here after the media type.

    :raises UnsupportedMediaType, RequestTooLarge, InvalidRequest:
    """
    media_type, parameters = parse_options_header(request.headers.get("content-type"))
    media_type = media_type.lower()  # case-insensitive, RFC 9110 §8.3.1
    charset = parameters.get("charset", "utf-8").lower()
    if media_type not in (_JSON, _FORM) or charset not in ("utf-8", "utf8"):
        raise errors.UnsupportedMediaType()
    body = request.body
    if body is None or len(body) > max_body_size:
        raise errors.RequestTooLarge()
    try:
        text = body.decode("utf-8")
        return _parse_json(text) if media_type == _JSON else _parse_form(text)
    except (ValueError, RecursionError) as exc:  # bad UTF-8 and bad JSON are ValueErrors
        raise errors.InvalidRequest() from exc


def string_field(fields: Mapping[str, Any], name: str) -> str:
    """A required field: a string of valid Unicode (no lone surrogates), no control
    characters.

    Every such field is typed by a person (a username, a password, a label), where a
    control character (C0, DEL, C1) is never meant; NUL is refused by PostgreSQL's text
    type, so passing it on would make the same request a 503 on one store and a 401 on
    another. Refused here, before anything is looked up or stored, it is a 400 on all.

    :raises InvalidRequest: if it is missing or not such a string.
    """
    value = fields.get(name)
    if not isinstance(value, str):
        raise errors.InvalidRequest(f"The field {name!r} must be a string.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise errors.InvalidRequest(f"The field {name!r} is not valid Unicode.") from exc
    if _CONTROL_CHARACTER.search(value):
        raise errors.InvalidRequest(f"The field {name!r} must not hold control characters.")
    return value


def header_text(value: str, *, max_length: int) -> str:
    """A header's value to be stored (the user agent, the client's address), at most
    ``max_length`` characters.

    RFC 9110 §5.5 allows no control character in a field value but HTAB (bytes from
    0x80 are ``obs-text``, kept as the server decoded them); a server that passes one
    on anyway must not get it into the store.

    :raises InvalidRequest: if it holds such a character.
    """
    if _NOT_IN_A_FIELD_VALUE.search(value):
        raise errors.InvalidRequest("A header holds a control character.")
    return value[:max_length]


def client_address(request: Request, trusted_proxies: int) -> str:
    """The client's address: the peer's, or what the outermost trusted proxy saw.

    Each proxy appends the address it received from to ``X-Forwarded-For``, so only the
    last ``trusted_proxies`` entries were written by someone trusted; the ones before
    them are the client's to forge and are never used.
    """
    address = request.client
    if trusted_proxies:
        header = request.headers.get("x-forwarded-for", "")
        forwarded = [a.strip() for a in header.split(",")]
        if len(forwarded) >= trusted_proxies and forwarded[-trusted_proxies]:
            address = forwarded[-trusted_proxies]
    return address[:64]


def own_origin(request: Request) -> str:
    """The request's own origin, as a browser would write ``Origin`` for it."""
    return csrf.origin_of(request.scheme, request.headers.get("host") or request.server)


def origin(request: Request, trusted_proxies: int) -> dict[str, str]:
    """Where a request came from, as the audit log records it."""
    return {
        "ip": client_address(request, trusted_proxies),
        "user_agent": request.headers.get("user-agent", ""),
    }


def label_field(fields: Mapping[str, Any], name: str, *, max_length: int) -> str:
    """An optional short label: absent is ``""``; no control or format characters.

    :raises InvalidRequest: if it is not a string, is too long, or is not plain text.
    """
    if fields.get(name) is None:
        return ""
    value = string_field(fields, name)
    if len(value) > max_length:
        raise errors.InvalidRequest(f"The field {name!r} has at most {max_length} characters.")
    if any(unicodedata.category(character) in _NOT_PLAIN_TEXT for character in value):
        raise errors.InvalidRequest(f"The field {name!r} must not hold control characters.")
    return value


def _parse_json(body: str) -> dict[str, Any]:
    fields = json.loads(body, object_pairs_hook=_object_without_repeats)
    if not isinstance(fields, dict):
        raise ValueError("not a JSON object")
    return fields


def _object_without_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused if it repeats a key.

    Parsers disagree on which of two values wins (Python's the last, others the first,
    some keep both), so a proxy or an application that reads the same body could see
    another username than the one that logged in: a known smuggling route.
    """
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise ValueError("a JSON object repeats a key")
    return fields


def _parse_form(body: str) -> dict[str, Any]:
    pairs = parse_qsl(
        body,
        keep_blank_values=True,
        strict_parsing=bool(body),
        errors="strict",
        max_num_fields=MAX_FORM_FIELDS,
    )
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise ValueError("a form field is repeated")
    return fields


def _status_and_code(error: errors.AuthError) -> tuple[int, str]:
    for cls in type(error).__mro__:
        if cls in ERRORS:
            return ERRORS[cls]
    return INTERNAL_ERROR[:2]


def _error_body(status: int, code: str, message: str) -> Response:
    response = json_response({"error": {"code": code, "message": message}}, status)
    if status == 401:
        response = response.with_header("WWW-Authenticate", "Token")
    return response
