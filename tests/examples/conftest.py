"""The example applications as the shared tests see them: one :class:`Example` each.

Every example is a pytest param, and its tests are marked with its framework's name, so
``pytest -m flask tests/examples`` runs one framework (each tox framework env does
that); an example whose framework is not installed is skipped, naming the env to run.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import webtest

from nullptr_auth import AuthMiddleware

from ..conftest import CHEAP_HASHER, SECRET_KEY

ROOT = Path(__file__).parents[2]
FRAMEWORKS = (
    "flask",
    "django",
    "pyramid",
    "falcon",
    "bottle",
    "wsgi",
    "fastapi",
    "starlette",
    "django_asgi",
    "litestar",
)


@dataclass(frozen=True)
class Example:
    """How to build, serve and read one example.

    :param name: the framework, also the pytest mark and (but Django's) the tox env.
    :param module: the module with the app factory.
    :param factory: the factory's name.
    :param requires: the framework's import name; ``None`` for plain WSGI.
    :param anonymous_status: what the protected routes answer to anonymous requests.
    :param protocol: ``"asgi"`` for the examples of :mod:`nullptr_auth.asgi`: the tests
        reach them through the bridge of ``tests/asgi_bridge.py``, and the server test
        serves them with uvicorn instead of waitress.
    """

    name: str
    module: str
    factory: str = "create_app"
    requires: str | None = None
    anonymous_status: int = 401
    protocol: str = "wsgi"

    @property
    def is_django(self) -> bool:
        return self.name.startswith("django")

    @property
    def server_target(self) -> str:
        """What the server is given: the module-level app the docstring runs."""
        return f"{self.module}:{'application' if self.is_django else 'app'}"

    def build(self, **options: Any) -> tuple[Any, AuthMiddleware]:
        """A new app on its own ``memory://`` store, and the middleware inside it."""
        app = getattr(importlib.import_module(self.module), self.factory)("memory://", **options)
        return app, app.wsgi_app if self.name == "flask" else app


DJANGO = Example("django", "examples.django_app.wsgi", "create_application", requires="django")
EXAMPLES = [
    Example("flask", "examples.flask_app", requires="flask"),
    DJANGO,
    Example("pyramid", "examples.pyramid_app", requires="pyramid"),
    Example("falcon", "examples.falcon_app", requires="falcon"),
    Example("bottle", "examples.bottle_app", requires="bottle"),
    Example("wsgi", "examples.wsgi_app"),
    Example("fastapi", "examples.fastapi_app", requires="fastapi", protocol="asgi"),
    Example("starlette", "examples.starlette_app", requires="starlette", protocol="asgi"),
    Example(
        "django_asgi",
        "examples.django_app.asgi",
        "create_application",
        requires="django",
        protocol="asgi",
    ),
    Example("litestar", "examples.litestar_app", requires="litestar", protocol="asgi"),
]


def pytest_configure(config: pytest.Config) -> None:
    for name in FRAMEWORKS:
        config.addinivalue_line("markers", f"{name}: tests of the {name} example")
    # Pyramid 2.1 and PasteDeploy still use pkg_resources, which setuptools warns about.
    for warning in (
        "ignore:pkg_resources is deprecated as an API:UserWarning",
        "ignore:Deprecated call to `pkg_resources.declare_namespace:DeprecationWarning",
    ):
        config.addinivalue_line("filterwarnings", warning)


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by mark
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test of an example with its framework's name.

    Done here rather than in the params: marks made at import, before
    ``pytest_configure`` has registered them, fail ``--strict-markers``.
    """
    for item in items:
        callspec = getattr(item, "callspec", None)
        example = callspec.params.get("example") if callspec else None
        if isinstance(example, Example):
            item.add_marker(example.name)


@pytest.fixture(params=[pytest.param(e, id=e.name) for e in EXAMPLES])
def example(request: pytest.FixtureRequest) -> Example:
    """Each example in turn; skipped when its framework is not installed."""
    example: Example = request.param
    if example.requires is not None:
        env = "django52, django60 or django61" if example.name == "django" else example.name
        pytest.importorskip(
            example.requires, reason=f"{example.requires} is not installed; tox -e {env} runs it"
        )
    if example.protocol == "asgi":
        pytest.importorskip("anyio", reason="the asgi extra is not installed")
    if example.is_django:
        request.getfixturevalue("django_users")
    return example


@dataclass
class Site:
    """An example app under test: a webtest client, its middleware, a way to add users."""

    client: webtest.TestApp
    auth: AuthMiddleware
    add_user: Callable[[str, str], str]  # (username, password) -> the user's id


@pytest.fixture
def site(example: Example) -> Iterator[Site]:
    app, auth = example.build(
        secret_keys=[SECRET_KEY], password_hasher=CHEAP_HASHER, allow_weak_hashing_for_tests=True
    )
    add_user = _add_django_user if example.is_django else _store_adder(auth)
    with contextlib.ExitStack() as stack:
        if example.protocol == "asgi":
            from ..asgi_bridge import AsgiUnderWsgi, in_process

            app = AsgiUnderWsgi(app, auth, stack.enter_context(in_process()))
        yield Site(webtest.TestApp(app, lint=True), auth, add_user)
    auth.store.close()


def _store_adder(auth: AuthMiddleware) -> Callable[[str, str], str]:
    return lambda username, password: auth.accounts.create(username, password).id


def _add_django_user(username: str, password: str) -> str:
    from django.contrib.auth import get_user_model

    from examples.django_app.users import user_uuid

    return user_uuid(get_user_model().objects.create_user(username, password=password))


@pytest.fixture(scope="session")
def django_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Django set up once per run on a migrated SQLite file, with a fast password hasher.

    Settings are read once per process, so this is session-wide; tests take
    :func:`django_users`, which deletes the users each one made.
    """
    import django
    from django.core.management import call_command
    from django.test.utils import override_settings

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")
        patch.setenv("DJANGO_DATABASE_PATH", str(tmp_path_factory.mktemp("django") / "db"))
        django.setup()
    call_command("migrate", verbosity=0)
    fast = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # Django's advice for tests
    with override_settings(PASSWORD_HASHERS=fast):
        yield


@pytest.fixture
def django_users(django_project: None) -> Iterator[None]:
    """Django set up, and no Django user left behind by the test."""
    yield
    from django.contrib.auth import get_user_model

    get_user_model().objects.all().delete()


@pytest.fixture
def server_env(tmp_path: Path) -> dict[str, str]:
    """The environment an example server and the CLI share: one SQLite file each."""
    return {
        **os.environ,
        "NULLPTR_AUTH_DATABASE": f"sqlite:///{tmp_path}/auth.db",
        "DJANGO_SETTINGS_MODULE": "examples.django_app.settings",
        "DJANGO_DATABASE_PATH": str(tmp_path / "django.db"),
    }
