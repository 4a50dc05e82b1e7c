"""User accounts: create, look up, check credentials, change passwords, delete.

The Python face of user management; the command line and the ``/user`` endpoints call
it too. Changing a password or deleting a user ends that user's sessions in the same
call, so credentials that changed never keep a device logged in::

    accounts = Accounts(open_store("sqlite:///nullptr_auth.db"), Passwords())
    alice = accounts.create("Alice", "correct horse battery")
    accounts.set_password("alice", "another long password")   # ends alice's sessions
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Protocol, runtime_checkable

from .errors import (
    AccountDisabled,
    CredentialsError,
    IncorrectPassword,
    IncorrectUsername,
    UserNotFound,
)
from .models import User, UserRecord
from .passwords import Passwords
from .stores.base import Store
from .users import is_valid_username, lookup_key, validated_username


@runtime_checkable
class UserSource(Protocol):
    """Users an application already keeps, for logins without a second user table.

    Pass one as ``AuthMiddleware(..., users=source)``: logins then check credentials
    here, while nullptr_auth still owns the sessions. Implementations must:

    * return users whose ``username`` is lowercase (it is compared with the lowercased
      ``Username`` header) and whose ``id`` is stable;
    * spend about as long on an unknown username as on a wrong password (hash the
      presented password anyway), or timing reveals which usernames exist.

    Account management (registration, password changes over HTTP, the ``user`` CLI
    commands) stays with the application's own tools. Because the users live there, a
    login's new session cannot be bound to the credentials it checked in one atomic
    step: after disabling, deleting or re-keying a user, the application must call
    ``middleware.sessions.end_all(user.id)`` once the change is saved; a login that was
    already checking the password then may still finish, so call it once more after the
    longest a login takes (a few seconds; the hashing slots wait at most 5 s).
    """

    def find_user(self, username: str) -> User | None:
        """The user with this lowercase username, or ``None``."""

    def check_password(self, user: User | None, password: str) -> bool:
        """Whether ``password`` is ``user``'s; for ``None``, spend the time and say ``False``."""


class Accounts:
    """User management over a store.

    :param store: where users live.
    :param passwords: hashing and password rules.
    :param clock: returns the current UTC time.
    :param source: check logins against these users instead of the store's.
    """

    def __init__(
        self,
        store: Store,
        passwords: Passwords,
        *,
        clock: Callable[[], datetime],
        source: UserSource | None = None,
    ) -> None:
        self._store = store
        self._passwords = passwords
        self._clock = clock
        self._source = source

    def __repr__(self) -> str:
        return f"<Accounts {self._store!r}>"

    def create(self, username: str, password: str) -> User:
        """:raises InvalidUsername, InvalidPassword, UsernameTaken:"""
        return self.create_record(username, password).user

    def create_record(self, username: str, password: str) -> UserRecord:
        """Like :meth:`create`, with the hash a first session is bound to."""
        name = validated_username(username)
        password_hash = self._passwords.hash(password)
        record = UserRecord(str(uuid.uuid4()), name, password_hash, self._clock())
        self._store.add_user(record)
        return record

    def is_available(self, username: str) -> bool:
        """Whether ``username`` could be registered now; an invalid name is not available."""
        return is_valid_username(username) and self._find(username) is None

    def get(self, username: str) -> User:
        """:raises UserNotFound:"""
        return self._record(username).user

    def list(self) -> list[User]:
        return [record.user for record in self._store.list_users()]

    def disable(self, username: str) -> None:
        """Refuse the user's logins and end every session of theirs. :raises UserNotFound:"""
        if not self._store.set_disabled(self._record(username).id, True):
            raise UserNotFound()

    def enable(self, username: str) -> None:
        """Let a disabled user log in again. :raises UserNotFound:"""
        if not self._store.set_disabled(self._record(username).id, False):
            raise UserNotFound()

    def delete(self, username: str) -> None:
        """Delete the user and every session of theirs. :raises UserNotFound:"""
        if not self._store.delete_user(self._record(username).id):
            raise UserNotFound()

    def set_password(
        self, username: str, password: str, *, keep_session: str | None = None
    ) -> None:
        """Replace the password and end the user's sessions, all but ``keep_session``.

        :raises UserNotFound, InvalidPassword:
        """
        user_id = self._record(username).id
        password_hash = self._passwords.hash(password)
        if not self._store.set_password_hash(
            user_id, password_hash, end_sessions=True, keep=keep_session
        ):
            raise UserNotFound()

    def check_credentials(self, username: str, password: str) -> User:
        """The user these credentials belong to; an outdated hash is replaced on the way.

        An unknown username costs the same argon2 work as a wrong password.

        :raises IncorrectUsername, IncorrectPassword, AccountDisabled:
        """
        return self.verify_credentials(username, password)[0]

    def verify_credentials(self, username: str, password: str) -> tuple[User, str | None]:
        """Like :meth:`check_credentials`, with the hash the password now matches.

        A session opened for these credentials is bound to that hash (the store keeps
        it only if the user still has it); with a ``UserSource`` there is none.
        """
        if self._source is not None:
            return self._check_with_source(self._source, username, password), None
        record = self._find(username)
        if record is None:
            self._passwords.waste_time(password)
            raise IncorrectUsername()
        new_hash = self._passwords.verify(record.password_hash, password)
        if record.disabled:
            raise AccountDisabled()
        if new_hash is not None:
            self._store.set_password_hash(record.id, new_hash, end_sessions=False)
        return record.user, new_hash or record.password_hash

    def why_changed(self, username: str) -> CredentialsError:
        """What a login refused with :class:`~nullptr_auth.errors.CredentialsChanged` is told."""
        record = self._find(username)
        if record is None:
            return IncorrectUsername()
        if record.disabled:
            return AccountDisabled()
        return IncorrectPassword()

    def change_password(
        self, user: User, old_password: str, new_password: str, *, keep_session: str | None
    ) -> None:
        """A user changing their own password; their sessions but ``keep_session`` end.

        :raises InvalidPassword: if the new password breaks the rules (checked first).
        :raises IncorrectPassword: if the old password is not the current one.
        """
        self._passwords.check_rules(new_password)
        try:
            self.check_credentials(user.username, old_password)
        except IncorrectUsername as exc:  # deleted since the request authenticated
            raise IncorrectPassword() from exc
        self.set_password(user.username, new_password, keep_session=keep_session)

    def _check_with_source(self, source: UserSource, username: str, password: str) -> User:
        user = source.find_user(username.lower()) if username.isascii() else None
        matched = source.check_password(user, password)  # asked even for no user: timing
        if user is None:
            raise IncorrectUsername()
        if not matched:
            raise IncorrectPassword()
        return user

    def _find(self, username: str) -> UserRecord | None:
        name = lookup_key(username)
        return None if name is None else self._store.get_user(name)

    def _record(self, username: str) -> UserRecord:
        record = self._find(username)
        if record is None:
            raise UserNotFound()
        return record
