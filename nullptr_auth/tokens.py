"""Session tokens: issue, verify, and the hash kept at rest.

A token is ``<session id>.<256 random bits>.<signature>``, URL-safe ASCII. The signature
is itsdangerous' HMAC-SHA256 under a salt used for nothing else, so a forged or garbled
token is refused before the store is asked. Several keys may be configured, newest first:
the newest signs, all verify, and a key dropped from the list ends every session it signed.

itsdangerous signs. A token is verified here, by the same HMAC-SHA256 computed in one
call of the standard library's C code (:func:`hmac.digest`) and compared, in constant
time, with the signature as itsdangerous spells it: itsdangerous' own ``unsign`` costs
5.1 µs to this 2.5 (docs/performance.md, stop 22), on every token not seen before.
So only the one spelling itsdangerous writes verifies. ``unsign`` decodes base64
leniently, so that several spellings of one signature verify; the store keeps the
SHA-256 of the *whole* token as issued, and :func:`matches` compares it in constant
time, so that even they could not log in: only the exact issued string does.

A signer remembers the last 65,536 tokens it has verified, each with its session id and
hash (about 28 MiB when full, the tokens' strings included: the sessions a busy site's
Zipf-shaped traffic keeps coming back to), so a client's every request after its first
costs one dictionary lookup instead of an HMAC and a SHA-256 (the hash alone was 0.4 µs,
a tenth of a cache hit: docs/performance.md, stop 20). The lookup is by the exact string
presented. A token it has not seen, forged ones included, is always verified in full
before the store is asked. The tokens are kept in this process's memory
only, next to the signing key, which mints any of them: whoever can read one can read
the other.

With no key configured, :class:`StoredKeySigner` signs with the key kept in the store,
and keeps agreeing with every other process on it even when the store forgets it (a
Redis restarted without persistence): each issue reads the key as stored now, writing
back the one it holds if the store has none (the first writer wins), and a token that
does not verify makes it read the key again, at most once a second, before it is
refused.

Keys are derived once, here, instead of once per request inside itsdangerous::

    signer = TokenSigner([b"a-key-of-at-least-32-bytes......"])
    issued = signer.issue("0123abcd")
    assert signer.session_id(issued.token) == "0123abcd"
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Final

from itsdangerous import Signer

from .errors import InvalidSession

SALT = b"nullptr_auth.session-token"
MIN_KEY_BYTES = 32
MAX_TOKEN_LENGTH = 256
VERIFIED_TOKENS = 65536
REREAD_SECONDS = 1.0
_SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str = field(repr=False)
    token_hash: bytes = field(repr=False)


def token_hash(token: str) -> bytes:
    """The at-rest form of a token: SHA-256 of its ASCII bytes."""
    return sha256(token.encode("ascii")).digest()


matches: Final = hmac.compare_digest
"""Whether a presented token's hash is the stored one, in constant time
(``matches(presented_hash, stored_hash)``): the C function itself, every request calls it."""


def new_secret_key() -> bytes:
    """A fresh signing key for stores that keep one when none is configured."""
    return secrets.token_bytes(MIN_KEY_BYTES)


class TokenSigner:
    """Signs and verifies session tokens with a list of keys, newest first.

    :param keys: secret keys, newest first; each at least 32 bytes.
    :raises ValueError: if ``keys`` is empty or a key is too short.
    """

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("at least one secret key is needed")
        if any(len(key) < MIN_KEY_BYTES for key in keys):
            raise ValueError(f"secret keys must be at least {MIN_KEY_BYTES} bytes long")
        self._keys = tuple(_derive(key) for key in keys)  # newest first
        self._signer = Signer(  # signs with the newest; verifying is _unsign's
            self._keys[0], salt=SALT, key_derivation="none", digest_method=hashlib.sha256
        )
        # token -> (session id, token hash), oldest first
        self._verified: OrderedDict[str, tuple[str, bytes]] = OrderedDict()

    def __repr__(self) -> str:
        return f"<TokenSigner keys={len(self._keys)}>"

    def issue(self, session_id: str) -> IssuedToken:
        """A new token for a session; this signer knows it as verified from the start."""
        value = f"{session_id}.{secrets.token_urlsafe(_SECRET_BYTES)}"
        token = self._signer.sign(value).decode("ascii")
        issued = IssuedToken(token, token_hash(token))
        self._remember(token, (session_id, issued.token_hash))
        return issued

    def verify(self, token: str) -> tuple[str, bytes]:
        """The session id a well-formed, correctly signed token names, and its hash.

        :raises InvalidSession: if the token is too long, not ASCII, or its signature
            does not verify under any configured key.
        """
        if len(token) > MAX_TOKEN_LENGTH:  # before hashing the string for the lookup
            raise InvalidSession("malformed")
        verified = self._verified.get(token)
        if verified is None:
            if not token.isascii():
                raise InvalidSession("malformed")
            ascii_token = token.encode("ascii")
            verified = (self._unsign(ascii_token), sha256(ascii_token).digest())
            self._remember(token, verified)
        return verified

    def verify_held(self, token: str) -> tuple[str, bytes]:
        """:meth:`verify`: its keys are held, so it never needs I/O."""
        return self.verify(token)

    def session_id(self, token: str) -> str:
        """:meth:`verify`'s session id alone."""
        return self.verify(token)[0]

    def _remember(self, token: str, verified: tuple[str, bytes]) -> None:
        self._verified[token] = verified
        if len(self._verified) > VERIFIED_TOKENS:  # every miss, once a busy site filled it
            try:  # noqa: SIM105 - suppress() costs 0.6 µs, stores/_cache.py
                self._verified.popitem(last=False)
            except KeyError:  # another thread evicted it first
                pass

    def _unsign(self, token: bytes) -> str:
        """The session id of a token signed under one of the keys, newest tried first.

        :raises InvalidSession: ``forged`` unless the signature is the one itsdangerous
            writes for the rest of the token under a key; ``malformed`` for a signed value
            that is not ``<session id>.<secret>``.
        """
        value, _, signature = token.rpartition(b".")
        for key in self._keys:  # a loop, not any(): that adds a generator's frame
            if hmac.compare_digest(signature, _signature(key, value)):
                break
        else:
            raise InvalidSession("forged")
        session_id, _, secret = value.partition(b".")
        if not session_id or not secret:
            raise InvalidSession("malformed")
        return session_id.decode("ascii")


def _signature(key: bytes, value: bytes) -> bytes:
    """itsdangerous' signature of ``value`` with ``key_derivation="none"``: its HMAC-SHA256
    in unpadded URL-safe base64."""
    encoded = binascii.b2a_base64(hmac.digest(key, value, "sha256"), newline=False)
    return encoded.translate(_URL_SAFE).rstrip(b"=")


_URL_SAFE = bytes.maketrans(b"+/", b"-_")
"""What ``base64.urlsafe_b64encode`` does after ``b2a_base64``, without its two frames."""


def _derive(key: bytes) -> bytes:
    """itsdangerous' own "hmac" derivation, done once per key instead of per request."""
    return Signer(key, salt=SALT, key_derivation="hmac", digest_method=hashlib.sha256).derive_key()


class StoredKeySigner:
    """A :class:`TokenSigner` on the one key kept in the store, re-read when it may differ.

    :param keep_key: the store's ``get_or_create_secret_key``: stores its argument if the
        store has no key, and answers the key the store has.
    """

    def __init__(self, keep_key: Callable[[bytes], bytes]) -> None:
        self._keep_key = keep_key
        self._lock = threading.Lock()
        self._key: bytes | None = None
        self._signer: TokenSigner | None = None
        self._next_reread = 0.0

    def __repr__(self) -> str:
        return "<StoredKeySigner>"

    def issue(self, session_id: str) -> IssuedToken:
        """A token signed with the key as the store holds it now (one read per issue)."""
        return self._read().issue(session_id)

    def verify(self, token: str) -> tuple[str, bytes]:
        """:meth:`TokenSigner.verify`, after reading the key again if the signature fails
        and it was not read within the last second."""
        signer = self._signer or self._read()
        try:
            return signer.verify(token)
        except InvalidSession as exc:
            if exc.reason != "forged" or time.monotonic() < self._next_reread:
                raise
        return self._read().verify(token)

    def verify_held(self, token: str) -> tuple[str, bytes] | None:
        """:meth:`verify` with the key held, without I/O (for an event loop); ``None``
        when only reading the key from the store could decide."""
        signer = self._signer
        if signer is None:
            return None
        try:
            return signer.verify(token)
        except InvalidSession as exc:
            if exc.reason != "forged" or time.monotonic() < self._next_reread:
                raise
        return None

    def session_id(self, token: str) -> str:
        return self.verify(token)[0]

    def read_key(self) -> None:
        """Read the store's key now, creating and keeping one if it has none (it is
        otherwise read at the first login or request): a server checks it can."""
        self._read()

    def _read(self) -> TokenSigner:
        """The key in the store; the one held is written back if the store lost it."""
        key = self._keep_key(self._key or new_secret_key())
        with self._lock:
            self._next_reread = time.monotonic() + REREAD_SECONDS
            if self._signer is None or key != self._key:
                self._key, self._signer = key, TokenSigner([key])
            return self._signer
