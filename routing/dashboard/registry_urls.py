"""Dashboard URLs: the registry (providers, models, agents, rules)."""

from django.urls import path

from routing.dashboard import registry_views as views

urlpatterns = [
    path("registry", views.registry, name="registry"),
    path(
        "registry/condition-check",
        views.registry_condition_check,
        name="registry_condition_check",
    ),
    path("registry/<slug:kind>/new", views.registry_create, name="registry_create"),
    path("registry/<slug:kind>/<int:pk>", views.registry_row, name="registry_row"),
    path("registry/<slug:kind>/<int:pk>/edit", views.registry_edit, name="registry_edit"),
    path("registry/<slug:kind>/<int:pk>/save", views.registry_update, name="registry_update"),
    path("registry/<slug:kind>/<int:pk>/delete", views.registry_delete, name="registry_delete"),
]
