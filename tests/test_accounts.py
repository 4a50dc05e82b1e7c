"""Accounts from Python: username and password rules, changes that end sessions."""

from __future__ import annotations

import pytest
import webtest

from nullptr_auth import AuthMiddleware
from nullptr_auth.errors import (
    IncorrectPassword,
    IncorrectUsername,
    InvalidPassword,
    InvalidUsername,
    UsernameTaken,
    UserNotFound,
)
from nullptr_auth.passwords import Passwords
from nullptr_auth.users import is_valid_username, lookup_key

from .conftest import CHEAP_HASHER, PASSWORD, MakeAuth, login

USERNAMES = [
    pytest.param("ab", False, id="2-chars"),
    pytest.param("abc", True, id="3-chars"),
    pytest.param("a" * 32, True, id="32-chars"),
    pytest.param("a" * 33, False, id="33-chars"),
    pytest.param("_alice", False, id="leading-underscore"),
    pytest.param("-alice", True, id="leading-hyphen"),
    pytest.param("al_ice-99", True, id="underscore-hyphen-digits"),
    pytest.param("12345", True, id="digits-only"),
    pytest.param("ALICE", True, id="uppercase"),
    pytest.param("\u212aate", False, id="kelvin-sign"),
    pytest.param("\u0430lice", False, id="cyrillic-a"),
    pytest.param("al ice", False, id="inner-space"),
    pytest.param(" alice", False, id="leading-space"),
    pytest.param("alice\n", False, id="trailing-newline"),
    pytest.param("ali\x00ce", False, id="nul"),
    pytest.param("ali\tce", False, id="tab"),
    pytest.param("al.ice", False, id="dot"),
    pytest.param("", False, id="empty"),
    pytest.param("\uff41lice", False, id="fullwidth-a"),
]


@pytest.mark.parametrize(("username", "valid"), USERNAMES)
def test_username_rules(username: str, valid: bool) -> None:
    assert is_valid_username(username) is valid
    assert lookup_key(username) == (username.lower() if valid else None)


def test_the_kelvin_sign_cannot_collide_with_k(auth: AuthMiddleware) -> None:
    auth.accounts.create("kate", PASSWORD)
    with pytest.raises(InvalidUsername):
        auth.accounts.create("\u212aate", PASSWORD)
    with pytest.raises(IncorrectUsername):
        auth.accounts.check_credentials("\u212aate", PASSWORD)


def test_usernames_are_stored_lowercase_and_unique(auth: AuthMiddleware) -> None:
    user = auth.accounts.create("Alice", PASSWORD)
    assert user.username == "alice"
    with pytest.raises(UsernameTaken):
        auth.accounts.create("ALICE", PASSWORD)


def test_user_ids_are_lowercase_hyphenated_uuids(auth: AuthMiddleware) -> None:
    import uuid

    user_id = auth.accounts.create("alice", PASSWORD).id
    assert str(uuid.UUID(user_id)) == user_id


PASSWORDS = [
    pytest.param("a" * 8, False, id="8-chars"),
    pytest.param("a" * 9, True, id="9-chars"),
    pytest.param("a" * 1024, True, id="the-maximum"),
    pytest.param("a" * 1025, False, id="one-over"),
    pytest.param("pass\x00word1", True, id="nul-byte"),
    pytest.param("\u00e9" * 9, True, id="9-non-ascii-chars"),
    pytest.param("\U0001f511" * 500, True, id="long-unicode"),
    pytest.param("         ", True, id="spaces-only"),
]


@pytest.mark.parametrize(("password", "valid"), PASSWORDS)
def test_password_rules(auth: AuthMiddleware, password: str, valid: bool) -> None:
    if not valid:
        with pytest.raises(InvalidPassword):
            auth.accounts.create("alice", password)
        assert auth.accounts.list() == []
        return
    auth.accounts.create("alice", password)
    assert auth.accounts.check_credentials("alice", password).username == "alice"


def test_a_nul_byte_is_part_of_the_password(auth: AuthMiddleware) -> None:
    auth.accounts.create("alice", "pass\x00word1")
    with pytest.raises(IncorrectPassword):
        auth.accounts.check_credentials("alice", "pass")


def test_passwords_are_argon2id_hashes(auth: AuthMiddleware) -> None:
    auth.accounts.create("alice", PASSWORD)
    stored = auth.store.get_user("alice")
    assert stored is not None
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash
    assert stored.password_hash not in repr(stored)


def test_the_default_hasher_meets_owasps_minimum() -> None:
    from nullptr_auth.passwords import default_hasher

    hasher = default_hasher()
    assert hasher.type.name == "ID"
    assert hasher.memory_cost >= 19 * 1024
    assert hasher.time_cost >= 2
    assert hasher.parallelism >= 1


def test_an_unknown_user_costs_a_verification() -> None:
    passwords = Passwords(CHEAP_HASHER)
    assert passwords._dummy_hash is None
    passwords.waste_time("anything at all")
    assert passwords._dummy_hash is not None


def test_changing_a_password_ends_every_session(make_auth: MakeAuth) -> None:
    auth = make_auth()
    auth.accounts.create("alice", PASSWORD)
    client = webtest.TestApp(auth)
    sessions = [login(client) for _ in range(2)]
    auth.accounts.set_password("alice", "a brand new password")
    for headers in sessions:
        client.get("/app", headers=headers, status=401)
    login(client, password="a brand new password")
    client.post_json("/session", {"username": "alice", "password": PASSWORD}, status=401)


def test_deleting_a_user_ends_their_sessions(auth: AuthMiddleware) -> None:
    auth.accounts.create("alice", PASSWORD)
    client = webtest.TestApp(auth)
    headers = login(client)
    auth.accounts.delete("ALICE")
    client.get("/app", headers=headers, status=401)
    assert auth.accounts.list() == []
    with pytest.raises(UserNotFound):
        auth.accounts.delete("alice")


@pytest.mark.parametrize("action", ["get", "delete", "set_password"])
def test_unknown_users_are_not_found(auth: AuthMiddleware, action: str) -> None:
    arguments = ("nobody", PASSWORD) if action == "set_password" else ("nobody",)
    with pytest.raises(UserNotFound):
        getattr(auth.accounts, action)(*arguments)
