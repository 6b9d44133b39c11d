"""Dashboard URLs: audit pages."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
