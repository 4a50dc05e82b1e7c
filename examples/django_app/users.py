"""Django's users as nullptr_auth's: a ``UserSource`` over ``django.contrib.auth``.

Pass it as ``AuthMiddleware(app, users=DjangoUserSource())``: logins are then checked
against Django's users with Django's own password hashers (and an outdated hash is
upgraded on the way, as Django does), while nullptr_auth keeps the sessions.

nullptr_auth identifies users by a UUID; Django's keys are usually integers. The id is
therefore ``uuid5(NAMESPACE, str(pk))``: the same user has the same id in every process
and for ever, as long as ``NAMESPACE`` is never changed.

Usernames are matched case-insensitively (nullptr_auth lowercases the ``Username``
header), and a name two Django users share up to case matches neither. Non-ASCII
usernames cannot log in: the middleware refuses non-ASCII ``Username`` headers.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password

from nullptr_auth import User

if TYPE_CHECKING:  # a model: importable only once Django is set up
    from django.contrib.auth.base_user import AbstractBaseUser

NAMESPACE = uuid.UUID("d8b1077d-994f-43ab-81e4-f49342180b03")


def user_uuid(user: AbstractBaseUser) -> str:
    """nullptr_auth's id of a Django user: lowercase, hyphenated, derived from the key."""
    return str(uuid.uuid5(NAMESPACE, str(user.pk)))


def find_django_user(username: str) -> AbstractBaseUser | None:
    """The active Django user with this username in any case; ``None`` if none or two."""
    model = get_user_model()
    lookup = {f"{model.USERNAME_FIELD}__iexact": username}
    found = list(model._default_manager.filter(**lookup)[:2])
    return found[0] if len(found) == 1 and found[0].is_active else None


class DjangoUserSource:
    """A :class:`nullptr_auth.UserSource` over the project's Django user model."""

    def __repr__(self) -> str:
        return f"<DjangoUserSource {get_user_model().__name__}>"

    def find_user(self, username: str) -> User | None:
        user = find_django_user(username)
        if user is None:
            return None
        return User(id=user_uuid(user), username=user.get_username().lower())

    def check_password(self, user: User | None, password: str) -> bool:
        django_user = None if user is None else find_django_user(user.username)
        if django_user is None:
            make_password(password)  # one hash, as a real check costs: timing hides names
            return False
        return django_user.check_password(password)
