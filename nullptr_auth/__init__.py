"""nullptr_auth: session authentication for any WSGI application.

``POST /session`` logs a user in and returns a token; every other request is
authenticated from its ``Username`` and ``Token`` headers, and the wrapped application
finds the user in ``environ["nullptr_auth.user"]``.
"""

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

from .accounts import Accounts as Accounts
from .accounts import UserSource as UserSource
from .errors import AuthError as AuthError
from .models import Session as Session
from .models import User as User
from .stores import Store as Store
from .stores import open_store as open_store
from .wsgi import AuthMiddleware as AuthMiddleware

try:
    # The installed distribution's version: setup.cfg states it once, nothing copies it.
    __version__ = _version("nullptr_auth")
except _PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "Accounts",
    "AuthError",
    "AuthMiddleware",
    "Session",
    "Store",
    "User",
    "UserSource",
    "open_store",
]
