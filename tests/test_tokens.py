"""Tokens: signing, tampering, the whole-token match, key rotation (SPEC §7)."""

from __future__ import annotations

import hashlib
import re
import string
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import webtest
from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import BadSignature, Signer
from werkzeug.test import EnvironBuilder, run_wsgi_app

from nullptr_auth import AuthMiddleware
from nullptr_auth.errors import InvalidSession
from nullptr_auth.stores import MemoryStore, open_store
from nullptr_auth.tokens import SALT, TokenSigner, matches, token_hash

from .conftest import PASSWORD, SECRET_KEY, MakeAuth, login
from .services import SHARED_STORES, scratch_store, with_query

KEY = b"k" * 32
OTHER_KEY = b"o" * 32


def issued() -> str:
    return TokenSigner([KEY]).issue("0123456789abcdef0123456789abcdef").token


def test_a_token_is_url_safe_ascii_with_at_least_128_random_bits() -> None:
    token = issued()
    assert re.fullmatch(r"[A-Za-z0-9_\-.]+", token)
    _, secret, _ = token.split(".")
    assert len(secret) >= 22  # base64 of 16 bytes or more
    assert issued() != token


def test_the_signature_is_hmac_sha256_under_its_own_salt() -> None:
    token = issued()
    value, _, signature = token.rpartition(".")

    def signature_with(salt: bytes) -> bytes:
        return Signer(
            KEY, salt=salt, key_derivation="hmac", digest_method=hashlib.sha256
        ).get_signature(value)

    assert signature.encode() == signature_with(SALT)
    assert signature.encode() != signature_with(b"itsdangerous.Signer")


def test_only_the_hash_is_kept() -> None:
    result = TokenSigner([KEY]).issue("abc")
    assert result.token_hash == hashlib.sha256(result.token.encode()).digest()
    assert result.token not in repr(result)
    assert matches(token_hash(result.token), result.token_hash)
    assert not matches(token_hash(result.token + "="), result.token_hash)


def _alter(position: int) -> Callable[[str], str]:
    def alter(token: str) -> str:
        swapped = "A" if token[position] != "A" else "B"
        return token[:position] + swapped + token[position + 1 :]

    return alter


def _tampering_cases() -> list[object]:
    length = len(issued())
    cases: list[object] = [
        pytest.param(_alter(position), id=f"position-{position}") for position in range(length)
    ]
    cases += [
        pytest.param(lambda t: t + "=", id="one-padding"),
        pytest.param(lambda t: t + "==", id="two-padding"),
        pytest.param(lambda t: t[:-1], id="truncated-by-one"),
        pytest.param(lambda t: t[: len(t) // 2], id="truncated-by-half"),
        pytest.param(lambda t: t.rpartition(".")[0], id="signature-removed"),
        pytest.param(lambda t: t + ".", id="trailing-separator"),
        pytest.param(lambda t: "." + t, id="leading-separator"),
        pytest.param(lambda t: t.replace(".", ":"), id="other-separator"),
        pytest.param(lambda t: t.swapcase(), id="case-swapped"),
        pytest.param(lambda t: "", id="empty"),
        pytest.param(lambda t: t + "\u00e9", id="non-ascii-appended"),
        pytest.param(lambda t: "\u212a" + t[1:], id="kelvin-sign"),
        pytest.param(
            lambda t: TokenSigner([OTHER_KEY]).issue(t.split(".")[0]).token, id="other-key"
        ),
        pytest.param(
            lambda t: (
                Signer(KEY, salt=b"another-purpose", digest_method=hashlib.sha256)
                .sign(t.rpartition(".")[0])
                .decode()
            ),
            id="wrong-salt",
        ),
        pytest.param(
            lambda t: Signer(KEY, salt=SALT).sign(t.rpartition(".")[0]).decode(),
            id="sha1-signature",
        ),
    ]
    return cases


@pytest.mark.parametrize("tamper", _tampering_cases())
def test_tampered_tokens_are_refused(make_auth: MakeAuth, tamper: Callable[[str], str]) -> None:
    auth = make_auth(secret_keys=[KEY])
    auth.accounts.create("alice", PASSWORD)
    client = webtest.TestApp(auth)
    headers = login(client)
    forged = tamper(headers["Token"])
    assert forged != headers["Token"]
    environ = EnvironBuilder("/app").get_environ()
    environ.update({"HTTP_USERNAME": "alice", "HTTP_TOKEN": forged})
    _, status, _ = run_wsgi_app(auth, environ)
    assert status.startswith("401")


def _lenient_spellings(token: str) -> list[str]:
    """Other spellings of ``token``'s signature that itsdangerous' ``unsign`` accepts."""
    last = token[-1]
    candidates = [token + "=", token + "=="]
    candidates += [token[:-1] + c for c in string.ascii_letters + string.digits + "-_" if c != last]
    value = token.rpartition(".")[0]
    accepted = []
    for candidate in candidates:
        try:
            unsigned = _itsdangerous_signer(KEY).unsign(candidate)
        except BadSignature:
            continue
        assert unsigned.decode() == value
        accepted.append(candidate)
    return accepted


def _itsdangerous_signer(key: bytes) -> Signer:
    """itsdangerous verifying tokens as the signer signs them (the key derived with the salt)."""
    return Signer(key, salt=SALT, key_derivation="hmac", digest_method=hashlib.sha256)


def test_only_the_spelling_itsdangerous_writes_verifies_and_no_other_would_log_in() -> None:
    """itsdangerous' ``unsign`` decodes base64 leniently; the signer does not, and the
    whole token's hash would refuse those spellings anyway."""
    signer = TokenSigner([KEY])
    result = signer.issue("abc")
    lenient = _lenient_spellings(result.token)
    assert lenient, "itsdangerous became strict: the docstring of tokens.py says otherwise"
    for variant in lenient:
        with pytest.raises(InvalidSession) as refused:
            signer.verify(variant)
        assert refused.value.reason == "forged"
        assert not matches(token_hash(variant), result.token_hash)
    assert signer.verify(result.token) == ("abc", result.token_hash)


@given(
    session_id=st.text(string.ascii_letters + string.digits, min_size=1, max_size=40),
    keys=st.lists(st.binary(min_size=32, max_size=64), min_size=1, max_size=3, unique=True),
    signed_with=st.integers(min_value=0, max_value=2),
)
def test_the_signer_accepts_what_itsdangerous_signs_under_any_of_its_keys(
    session_id: str, keys: list[bytes], signed_with: int
) -> None:
    """Verification is the signer's own code: held to itsdangerous' signature, under the
    newest key and the older ones, and to nothing a key it does not hold signed."""
    key = keys[signed_with % len(keys)]
    token = _itsdangerous_signer(key).sign(f"{session_id}.secret").decode()
    assert TokenSigner(keys).verify(token) == (session_id, token_hash(token))
    others = [k for k in keys if k != key]
    if others:
        with pytest.raises(InvalidSession):
            TokenSigner(others).verify(token)


@given(
    st.lists(
        st.tuples(st.integers(min_value=0), st.sampled_from(string.ascii_letters + "-_.=")),
        max_size=3,
    ),
    st.sampled_from(["", "=", "==", "."]),
)
def test_no_other_spelling_of_an_issued_token_verifies(
    changes: list[tuple[int, str]], suffix: str
) -> None:
    """An issued token with characters replaced or appended never verifies: not even the
    spellings itsdangerous' lenient base64 would accept."""
    signer = TokenSigner([KEY])
    issued = signer.issue("0123456789abcdef").token
    candidate = list(issued)
    for position, character in changes:
        candidate[position % len(candidate)] = character
    spelled = "".join(candidate) + suffix
    try:
        verified = TokenSigner([KEY]).verify(spelled)  # a new signer: nothing remembered
    except InvalidSession:
        return
    assert spelled == issued
    assert verified == ("0123456789abcdef", token_hash(issued))


def test_a_forged_token_is_refused_before_the_store_is_asked() -> None:
    class CountingStore(MemoryStore):
        lookups = 0

        def find_session(self, session_id: str) -> None:  # type: ignore[override]
            CountingStore.lookups += 1

    auth = AuthMiddleware(lambda e, s: [], CountingStore(), secret_keys=[KEY])
    with pytest.raises(InvalidSession):
        auth.sessions.authenticate("alice", TokenSigner([OTHER_KEY]).issue("abc").token)
    assert CountingStore.lookups == 0


# -- key rotation -----------------------------------------------------------------------
def test_rotation_old_tokens_verify_new_ones_use_the_newest_key(make_auth: MakeAuth) -> None:
    store = MemoryStore()
    old = webtest.TestApp(make_auth(store, secret_keys=[KEY]))
    old.app.accounts.create("alice", PASSWORD)
    old_headers = login(old)
    rotated = webtest.TestApp(make_auth(store, secret_keys=[OTHER_KEY, KEY]))
    assert rotated.get("/app", headers=old_headers).json["remote_user"] == "alice"
    new_headers = login(rotated)
    old.get("/app", headers=new_headers, status=401)  # signed with the newest key
    only_new = webtest.TestApp(make_auth(store, secret_keys=[OTHER_KEY]))
    assert only_new.get("/app", headers=new_headers).json["remote_user"] == "alice"
    only_new.get("/app", headers=old_headers, status=401)  # dropped key ends its sessions


@pytest.mark.parametrize("kind", SHARED_STORES)
def test_a_dropped_key_is_refused_while_the_cache_holds_its_session(
    make_auth: MakeAuth, kind: str, tmp_path: Path
) -> None:
    """Issue 13: the caches need no invalidation for a key: the signature is checked
    before any cache is asked. One store object, so one cache, under both key sets."""
    with scratch_store(kind, tmp_path) as url:
        store = open_store(url if kind == "sqlite" else with_query(url, "cache", "on"))
        old = webtest.TestApp(make_auth(store, secret_keys=[KEY]))
        old.app.accounts.create("alice", PASSWORD)
        headers = login(old)
        session_id = headers["Token"].partition(".")[0]
        deadline = time.monotonic() + 10  # Redis and PostgreSQL: until the channel is up
        while store.cached_session(session_id) is None:  # type: ignore[attr-defined]
            assert old.get("/app", headers=headers).json["remote_user"] == "alice"
            assert time.monotonic() < deadline, "the cache never served"
        only_new = webtest.TestApp(make_auth(store, secret_keys=[OTHER_KEY]))
        assert only_new.get("/app", headers=headers, status=401).json["error"]["code"] == (
            "INVALID_SESSION"
        )


def test_keys_come_from_the_environment(
    make_auth: MakeAuth, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MemoryStore()
    signed_with_other = webtest.TestApp(make_auth(store, secret_keys=[OTHER_KEY]))
    signed_with_other.app.accounts.create("alice", PASSWORD)
    headers = login(signed_with_other)
    monkeypatch.setenv("NULLPTR_AUTH_SECRET_KEYS", f"{'n' * 32}, {OTHER_KEY.decode()}")
    from_env = webtest.TestApp(make_auth(store, secret_keys=None))
    assert from_env.get("/app", headers=headers).json["remote_user"] == "alice"


def test_a_generated_key_is_kept_and_shared_through_the_store(
    make_auth: MakeAuth, tmp_path: object
) -> None:
    database = f"sqlite:///{tmp_path}/auth.db"
    first = webtest.TestApp(make_auth(database, secret_keys=None))
    second = webtest.TestApp(make_auth(database, secret_keys=None))
    first.app.accounts.create("alice", PASSWORD)
    headers = login(first)
    assert second.get("/app", headers=headers).json["remote_user"] == "alice"
    restarted = webtest.TestApp(make_auth(database, secret_keys=None))
    assert restarted.get("/app", headers=headers).json["remote_user"] == "alice"
    elsewhere = webtest.TestApp(make_auth(f"sqlite:///{tmp_path}/other.db", secret_keys=None))
    elsewhere.app.accounts.create("alice", PASSWORD)
    elsewhere.get("/app", headers=headers, status=401)


def test_a_signer_never_shows_its_keys() -> None:
    assert KEY.decode() not in repr(TokenSigner([KEY]))
    assert SECRET_KEY not in repr(TokenSigner([SECRET_KEY.encode()]))


@pytest.mark.parametrize(
    "keys", [pytest.param([], id="none"), pytest.param([b"short"], id="short")]
)
def test_a_signer_needs_strong_keys(keys: list[bytes]) -> None:
    with pytest.raises(ValueError, match="key"):
        TokenSigner(keys)


def test_token_hash_is_sha256() -> None:
    assert token_hash("abc") == hashlib.sha256(b"abc").digest()


def test_a_verified_token_is_remembered_and_a_new_one_is_checked() -> None:
    signer = TokenSigner([KEY])
    issued = signer.issue("abc").token
    assert signer.verify(issued) == ("abc", token_hash(issued))
    signer._keys = (OTHER_KEY,)  # a tripwire: what the signer verifies with
    assert signer.verify(issued)[0] == "abc", "remembered: no second HMAC"
    with pytest.raises(InvalidSession):
        signer.verify(TokenSigner([KEY]).issue("def").token)  # new: checked in full


def test_the_memory_of_verified_tokens_is_bounded() -> None:
    from nullptr_auth.tokens import VERIFIED_TOKENS

    signer = TokenSigner([KEY])
    for n in range(VERIFIED_TOKENS + 10):
        signer.verify(signer.issue(f"s{n}").token)
    assert len(signer._verified) == VERIFIED_TOKENS
