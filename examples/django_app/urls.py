"""The example's three routes."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.hello),
    path("me", views.me),
    path("echo", views.echo),
]
