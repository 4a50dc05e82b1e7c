"""The backend that makes nullptr_auth's ``REMOTE_USER`` Django's ``request.user``."""

from __future__ import annotations

from django.contrib.auth.backends import RemoteUserBackend

from .users import find_django_user


class NullptrAuthBackend(RemoteUserBackend):
    """``RemoteUserBackend`` for the lowercased usernames nullptr_auth hands on.

    It must be a ``RemoteUserBackend``: ``RemoteUserMiddleware`` logs out a request
    without ``REMOTE_USER`` only if its session's user came from one. Unknown users are
    not created: everyone logs in through :class:`~.users.DjangoUserSource`, so a
    ``REMOTE_USER`` without a Django user names one deleted or deactivated since, who
    stays anonymous.
    """

    create_unknown_user = False

    def clean_username(self, username: str) -> str:
        """The spelling Django stored (``Alice``) for nullptr_auth's ``alice``."""
        user = find_django_user(username)
        return username if user is None else user.get_username()
