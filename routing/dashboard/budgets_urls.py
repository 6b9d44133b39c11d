"""Dashboard URLs: the Budgets page (admins)."""

from django.urls import path

from routing.dashboard import budgets_views as views

urlpatterns = [
    path("budgets", views.budgets, name="budgets"),
    path("budgets/new", views.budget_create, name="budgets_create"),
    path("budgets/<int:pk>", views.budget_row, name="budgets_row"),
    path("budgets/<int:pk>/edit", views.budget_edit, name="budgets_edit"),
    path("budgets/<int:pk>/save", views.budget_update, name="budgets_update"),
    path("budgets/<int:pk>/delete", views.budget_delete, name="budgets_delete"),
]
