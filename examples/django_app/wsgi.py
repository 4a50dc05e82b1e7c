"""The WSGI entry point: Django's application behind nullptr_auth, on Django's users.

Serve ``examples.django_app.wsgi:application``; the package docstring has the commands.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.wsgi import get_wsgi_application

from nullptr_auth import AuthMiddleware, Store

from .users import DjangoUserSource

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")
DATABASE = os.environ.get("NULLPTR_AUTH_DATABASE", "sqlite:///nullptr_auth.db")


def create_application(
    database: str | Store = DATABASE, **middleware_options: Any
) -> AuthMiddleware:
    """Django behind the middleware; options go to :class:`AuthMiddleware`."""
    django_app = get_wsgi_application()
    return AuthMiddleware(django_app, database, users=DjangoUserSource(), **middleware_options)


application = create_application()
