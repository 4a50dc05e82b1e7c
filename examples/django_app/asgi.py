"""The ASGI entry point: Django's ASGI application behind nullptr_auth.asgi.

The counterpart of ``wsgi.py``: logins are checked against Django's users
(:class:`~examples.django_app.users.DjangoUserSource`), and ``request.user`` is a real
Django user, set by Django's own auth through
:class:`~examples.django_app.middleware.NullptrAuthRemoteUserMiddleware`, which reads
the user the middleware put into the ASGI scope. Serve it with any ASGI server::

    uvicorn examples.django_app.asgi:application
"""

from __future__ import annotations

import os
from typing import Any

from django.core.asgi import get_asgi_application

from nullptr_auth import Store
from nullptr_auth.asgi import AuthMiddleware

from .users import DjangoUserSource

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")
DATABASE = os.environ.get("NULLPTR_AUTH_DATABASE", "sqlite:///nullptr_auth.db")


def create_application(
    database: str | Store = DATABASE, **middleware_options: Any
) -> AuthMiddleware:
    """Django behind the middleware; options go to :class:`AuthMiddleware`.

    Logins ask Django's ORM in the middleware's worker threads (never on the event
    loop), where Django allows synchronous queries.
    """
    django_app = get_asgi_application()
    return AuthMiddleware(django_app, database, users=DjangoUserSource(), **middleware_options)


application = create_application()
