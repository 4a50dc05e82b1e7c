"""Views that read the user Django's way: ``request.user``, set by RemoteUserMiddleware."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from .users import user_uuid

View = Callable[[HttpRequest], HttpResponse]
NOT_LOGGED_IN = {"error": {"code": "AUTHORIZATION_REQUIRED", "message": "Log in first."}}


def token_required(view: View) -> View:
    """``login_required`` for an API: answer 401 rather than redirect to a login page."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        if not request.user.is_authenticated:
            return JsonResponse(NOT_LOGGED_IN, status=401, headers={"WWW-Authenticate": "Token"})
        return view(request)

    return wrapper


@require_GET
def hello(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"hello": "world"})


@require_GET
@token_required
def me(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"id": user_uuid(request.user), "username": request.user.get_username()})


@require_POST
@token_required
def echo(request: HttpRequest) -> HttpResponse:
    return HttpResponse(request.body, content_type="application/json")
