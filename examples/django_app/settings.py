"""Settings of the example project: only what authentication through nullptr_auth needs."""

import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-insecure-example-only")
DEBUG = False
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
ROOT_URLCONF = "examples.django_app.urls"
WSGI_APPLICATION = "examples.django_app.wsgi.application"
USE_TZ = True

INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_DATABASE_PATH", "django.db"),
    }
}

# RemoteUserMiddleware, not PersistentRemoteUserMiddleware: nullptr_auth removes
# REMOTE_USER from every request that carries no valid Username/Token pair, and a
# request without it must be anonymous, or a Django session cookie would outlive a
# logged-out or revoked token. For the same reason no CsrfViewMiddleware: a cookie alone
# never authenticates, and browsers do not add the Username and Token headers by
# themselves. AuthenticationMiddleware needs a session; signed cookies keep it out of the
# database, where a client that drops cookies would add a row per request.
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # RemoteUserMiddleware, reading the ASGI scope when served by nullptr_auth.asgi
    "examples.django_app.middleware.NullptrAuthRemoteUserMiddleware",
]
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
AUTHENTICATION_BACKENDS = ["examples.django_app.backends.NullptrAuthBackend"]
