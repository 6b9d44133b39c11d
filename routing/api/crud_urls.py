"""URLs of the crud part of the control-plane API (included under /api/)."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
