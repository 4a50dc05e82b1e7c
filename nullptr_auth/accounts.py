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

from .errors import IncorrectPassword, IncorrectUsername, UserNotFound
from .models import User, UserRecord
from .passwords import Passwords
from .stores.base import Store
from .users import lookup_key, validated_username


class Accounts:
    """User management over a store.

    :param store: where users live.
    :param passwords: hashing and password rules.
    :param clock: returns the current UTC time.
    """

    def __init__(
        self, store: Store, passwords: Passwords, *, clock: Callable[[], datetime]
    ) -> None:
        self._store = store
        self._passwords = passwords
        self._clock = clock

    def __repr__(self) -> str:
        return f"<Accounts {self._store!r}>"

    def create(self, username: str, password: str) -> User:
        """:raises InvalidUsername, InvalidPassword, UsernameTaken:"""
        name = validated_username(username)
        password_hash = self._passwords.hash(password)
        record = UserRecord(str(uuid.uuid4()), name, password_hash, self._clock())
        self._store.add_user(record)
        return record.user

    def is_available(self, username: str) -> bool:
        """Whether ``username`` could be registered now; an invalid name is not available."""
        name = lookup_key(username)
        return name is not None and self._store.get_user(name) is None

    def get(self, username: str) -> User:
        """:raises UserNotFound:"""
        return self._record(username).user

    def list(self) -> list[User]:
        return [record.user for record in self._store.list_users()]

    def delete(self, username: str) -> None:
        """Delete the user and every session of theirs. :raises UserNotFound:"""
        if not self._store.delete_user(self._record(username).id):
            raise UserNotFound()

    def set_password(self, username: str, password: str, *, keep_session: str | None = None) -> None:
        """Replace the password and end the user's sessions, all but ``keep_session``.

        :raises UserNotFound, InvalidPassword:
        """
        user_id = self._record(username).id
        if not self._store.set_password_hash(user_id, self._passwords.hash(password)):
            raise UserNotFound()
        self._store.delete_sessions(user_id, keep=keep_session)

    def check_credentials(self, username: str, password: str) -> User:
        """The user these credentials belong to; an outdated hash is replaced on the way.

        An unknown username costs the same argon2 work as a wrong password.

        :raises IncorrectUsername, IncorrectPassword:
        """
        record = self._find(username)
        if record is None:
            self._passwords.waste_time(password)
            raise IncorrectUsername()
        new_hash = self._passwords.verify(record.password_hash, password)
        if new_hash is not None:
            self._store.set_password_hash(record.id, new_hash)
        return record.user

    def check_password(self, user: User, password: str) -> None:
        """:raises IncorrectPassword: if ``password`` is not ``user``'s current one."""
        try:
            self.check_credentials(user.username, password)
        except IncorrectUsername as exc:
            raise IncorrectPassword() from exc

    def _find(self, username: str) -> UserRecord | None:
        name = lookup_key(username)
        return None if name is None else self._store.get_user(name)

    def _record(self, username: str) -> UserRecord:
        record = self._find(username)
        if record is None:
            raise UserNotFound()
        return record
