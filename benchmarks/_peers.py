"""The peers: repoze.who with an auth_tkt cookie, and Flask-Login over bare Flask.

Both are installed in the ``bench`` tox env only. Each builder returns the app and a
request environ that it authenticates, or raises ``ImportError`` when the peer is not
installed (the runner then skips the row and says so).

repoze.who's auth_tkt is stateless (an HMAC'd cookie; a stolen one cannot be revoked
before it times out), so it does less than a session store; Flask-Login loads the user
from Flask's signed session cookie through a ``user_loader`` reading a dict, and is
measured over a bare Flask app answering the same route.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from _common import HELLO, USERNAME, environ, hello

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

PEER_SECRET = "peer-benchmark-secret-0123456789abcdef"


def repoze_who(app: WSGIApplication = hello) -> tuple[WSGIApplication, dict[str, Any]]:
    """PluggableAuthenticationMiddleware, auth_tkt (SHA-256) identifying and authenticating."""
    from repoze.who.classifiers import default_challenge_decider, default_request_classifier
    from repoze.who.middleware import PluggableAuthenticationMiddleware
    from repoze.who.plugins.auth_tkt import AuthTktCookiePlugin
    from repoze.who.plugins.auth_tkt import auth_tkt as tickets

    plugin = AuthTktCookiePlugin(PEER_SECRET, "auth_tkt", digest_algo="sha256")
    who = PluggableAuthenticationMiddleware(
        app,
        identifiers=[("auth_tkt", plugin)],
        authenticators=[("auth_tkt", plugin)],
        challengers=[],
        mdproviders=[],
        request_classifier=default_request_classifier,
        challenge_decider=default_challenge_decider,
    )
    ticket = tickets.AuthTicket(PEER_SECRET, USERNAME, "0.0.0.0", digest_algo="sha256")  # noqa: S104
    return who, environ({"Cookie": f"auth_tkt={ticket.cookie_value()}"})


def repoze_cookie() -> str:
    """The Cookie header value repoze.who accepts, for the HTTP benchmark."""
    return str(repoze_who()[1]["HTTP_COOKIE"])


def flask_apps() -> tuple[WSGIApplication, WSGIApplication, dict[str, Any]]:
    """Bare Flask, Flask with Flask-Login, and a request carrying a logged-in session."""
    import flask
    import flask_login

    bare = flask.Flask("bare")
    bare.add_url_rule("/hello", "hello", lambda: HELLO)

    app = flask.Flask("login")
    app.secret_key = PEER_SECRET
    manager = flask_login.LoginManager(app)
    users = {USERNAME: _FlaskUser(USERNAME)}
    manager.user_loader(users.get)

    @flask_login.login_required
    def hello_user() -> bytes:
        return HELLO if flask_login.current_user.is_authenticated else b""

    def login() -> bytes:
        flask_login.login_user(users[USERNAME])
        return b"ok"

    app.add_url_rule("/hello", "hello", hello_user)
    app.add_url_rule("/login", "login", login, methods=["POST"])
    client = app.test_client()
    client.post("/login")
    cookie = client.get_cookie("session")
    if cookie is None:
        raise RuntimeError("Flask-Login did not set a session cookie")
    return bare, app, environ({"Cookie": f"session={cookie.value}"})


class _FlaskUser:
    """A user as Flask-Login wants one (``UserMixin``'s four members, spelled out)."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, user_id: str) -> None:
        self.id = user_id

    def get_id(self) -> str:
        return self.id
