"""Options are keyword-only and validated at construction, every problem at once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import argon2
import pytest

from nullptr_auth import AuthMiddleware

from .conftest import RecordingApp


def build(**options: Any) -> AuthMiddleware:
    options.setdefault("secret_keys", ["k" * 32])
    return AuthMiddleware(RecordingApp(), "memory://", **options)


def test_defaults_are_valid_and_do_no_io(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    AuthMiddleware(RecordingApp())
    assert list(tmp_path.iterdir()) == []


def test_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        AuthMiddleware(RecordingApp(), "memory://", ["k" * 32])  # type: ignore[misc]


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        pytest.param({"secret_keys": ["short"]}, ValueError, "32 bytes", id="short-key"),
        pytest.param({"secret_keys": [123]}, TypeError, "secret key", id="key-not-bytes"),
        pytest.param({"session_path": "session"}, ValueError, "session_path", id="relative-path"),
        pytest.param({"session_path": "/session/"}, ValueError, "session_path", id="slash-end"),
        pytest.param({"session_path": 1}, TypeError, "session_path", id="path-not-str"),
        pytest.param({"require_auth": "/api"}, TypeError, "require_auth", id="prefix-not-list"),
        pytest.param({"require_auth": ["api"]}, ValueError, "require_auth", id="prefix-relative"),
        pytest.param({"registration": "yes"}, TypeError, "registration", id="registration-str"),
        pytest.param({"session_lifetime": 30}, TypeError, "session_lifetime", id="lifetime-int"),
        pytest.param(
            {"idle_timeout": timedelta(0)}, ValueError, "idle_timeout", id="idle-timeout-zero"
        ),
        pytest.param({"activity_interval": None}, TypeError, "activity_interval", id="interval"),
        pytest.param({"max_body_size": 0}, ValueError, "max_body_size", id="body-size-zero"),
        pytest.param({"max_body_size": True}, TypeError, "max_body_size", id="body-size-bool"),
        pytest.param(
            {"max_password_length": 8}, ValueError, "max_password_length", id="max-below-min"
        ),
        pytest.param({"users": object()}, TypeError, "UserSource", id="users-not-a-source"),
    ],
)
def test_invalid_options_are_refused(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        build(**options)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(TypeError) as raised:
        build(secret_keys=["short"], session_path="nope", registration=1, max_body_size=-1)
    message = str(raised.value)
    for name in ("32 bytes", "session_path", "registration", "max_body_size"):
        assert name in message


def test_expiry_can_be_switched_off() -> None:
    build(session_lifetime=None, idle_timeout=None)


def test_a_bad_database_url_is_refused() -> None:
    with pytest.raises(ValueError, match="scheme"):
        AuthMiddleware(RecordingApp(), "mysql://db")


def test_two_middlewares_in_one_process_differ() -> None:
    first = build(session_path="/a")
    second = build(session_path="/b")
    assert first.options.session_path == "/a"
    assert second.options.session_path == "/b"


def test_repr_shows_no_secret() -> None:
    assert "k" * 32 not in repr(build())
    assert "k" * 32 not in repr(build().options)


@pytest.mark.parametrize(
    ("hasher", "refused"),
    [
        pytest.param(
            argon2.PasswordHasher.from_parameters(argon2.profiles.CHEAPEST), True, id="cheapest"
        ),
        pytest.param(
            argon2.PasswordHasher(time_cost=1, memory_cost=19 * 1024), True, id="19-mib-one-pass"
        ),
        pytest.param(argon2.PasswordHasher(type=argon2.Type.I), True, id="argon2i"),
        pytest.param(
            argon2.PasswordHasher(time_cost=2, memory_cost=19 * 1024), False, id="owasp-minimum"
        ),
        pytest.param(
            argon2.PasswordHasher(time_cost=5, memory_cost=7 * 1024),
            False,
            id="owasp-7-mib-5-passes",
        ),
        pytest.param(
            argon2.PasswordHasher.from_parameters(argon2.profiles.RFC_9106_LOW_MEMORY),
            False,
            id="rfc-9106-low-memory",
        ),
    ],
)
def test_weak_password_hashing_is_refused(hasher: argon2.PasswordHasher, refused: bool) -> None:
    if refused:
        with pytest.raises(ValueError, match="password_hasher"):
            build(password_hasher=hasher)
    else:
        build(password_hasher=hasher)
    build(password_hasher=hasher, allow_weak_hashing_for_tests=True)


KEY = "k" * 32


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(" , ", id="only-a-comma"),
        pytest.param(f"{KEY},,{KEY}2", id="empty-between"),
        pytest.param(f"{KEY},", id="trailing-comma"),
        pytest.param("", id="empty-value"),
        pytest.param("   ", id="blank-value"),
    ],
)
def test_empty_entries_in_the_key_variable_are_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """Not a silent fall-back to the key kept in the store."""
    monkeypatch.setenv("NULLPTR_AUTH_SECRET_KEYS", value)
    with pytest.raises(ValueError, match=r"empty.*NULLPTR_AUTH_SECRET_KEYS"):
        AuthMiddleware(RecordingApp(), "memory://")


def test_an_empty_key_from_python_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="1 of 2 secret keys are empty"):
        build(secret_keys=[KEY, ""])


def test_an_unset_key_variable_means_the_key_kept_in_the_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NULLPTR_AUTH_SECRET_KEYS", raising=False)
    assert AuthMiddleware(RecordingApp(), "memory://").options.secret_keys == ()
    monkeypatch.setenv("NULLPTR_AUTH_SECRET_KEYS", f" {KEY} , {KEY}2 ")
    keys = AuthMiddleware(RecordingApp(), "memory://").options.secret_keys
    assert keys == (KEY.encode(), f"{KEY}2".encode())
