"""The WSGI middleware under its first name: :mod:`nullptr_auth.wsgi` is where it lives.

Kept so that ``from nullptr_auth.middleware import AuthMiddleware`` (and the environ
key constants) keep working now that the module names say which protocol they serve.
"""

from .wsgi import PATH_KEY, SESSION_KEY, USER_KEY, AuthMiddleware, private_start_response

__all__ = ["PATH_KEY", "SESSION_KEY", "USER_KEY", "AuthMiddleware", "private_start_response"]
