"""``RemoteUserMiddleware`` for both of nullptr_auth's middlewares.

Under WSGI, :class:`nullptr_auth.AuthMiddleware` sets ``REMOTE_USER`` in the environ,
which is ``request.META``. Under ASGI there is no ``REMOTE_USER``: the user is in
``scope["nullptr_auth.user"]``, so this subclass copies its username into
``request.META["REMOTE_USER"]`` (and removes anything there otherwise) before Django's
own logic runs.

It is synchronous on purpose: Django 5.2 runs ``RemoteUserMiddleware`` asynchronously
under ASGI, and its async path reads ``request.META["HTTP_REMOTE_USER"]``, a header any
client can send (``Remote-User: alice``). A sync-only subclass keeps Django on
``process_request``, which reads the key set here and nowhere else.
"""

from __future__ import annotations

from django.contrib.auth.middleware import RemoteUserMiddleware
from django.http import HttpRequest


class NullptrAuthRemoteUserMiddleware(RemoteUserMiddleware):
    sync_capable = True
    async_capable = False

    def process_request(self, request: HttpRequest) -> None:
        scope = getattr(request, "scope", None)
        if scope is not None:  # an ASGIRequest: the scope is the only source
            request.META.pop(self.header, None)
            user = scope.get("nullptr_auth.user")
            if user is not None:
                request.META[self.header] = user.username
        super().process_request(request)

    async def aprocess_request(self, request: HttpRequest) -> None:  # never used: sync only
        raise NotImplementedError
