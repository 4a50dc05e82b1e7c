"""The smallest Django project behind nullptr_auth, with Django's users as its users.

Django keeps the users (``django.contrib.auth``, its password hashers and its admin
tools); nullptr_auth keeps the sessions and answers ``POST /session``. Two pieces join
them:

* ``wsgi.py`` passes :class:`~examples.django_app.users.DjangoUserSource` as
  ``AuthMiddleware(..., users=...)``, so logins are checked against Django's users;
* the middleware sets ``REMOTE_USER`` on authenticated requests, and Django's
  ``RemoteUserMiddleware`` with :class:`~examples.django_app.backends.NullptrAuthBackend`
  turns it into ``request.user``, a real Django user.

Run it from the repository root (Django's users in ``./django.db``, or wherever
``DJANGO_DATABASE_PATH`` points; sessions in ``./nullptr_auth.db``, or wherever
``NULLPTR_AUTH_DATABASE`` points)::

    pip install -e . django waitress
    export DJANGO_SETTINGS_MODULE=examples.django_app.settings
    python -m django migrate
    python -m django createsuperuser --username alice --email alice@example.com
    waitress-serve --listen=127.0.0.1:8000 examples.django_app.wsgi:application

(``python -m django runserver`` serves the same wrapped application, through
``WSGI_APPLICATION``.) ``GET /`` is public; ``GET /me`` and ``POST /echo`` answer
``401`` to anonymous requests.
"""
