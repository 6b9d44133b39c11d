"""URLs of the control part of the control-plane API (included under /api/)."""

from django.urls import path

from routing.api import control_views as views

urlpatterns = [
    path("routing/strategy", views.StrategyView.as_view(), name="api-routing-strategy"),
    path(
        "routing/strategy/override",
        views.StrategyOverrideView.as_view(),
        name="api-routing-strategy-override",
    ),
    path("agents/<str:agent>/model", views.AgentModelView.as_view(), name="api-agent-model"),
    path("tasks/<str:task_id>/routing", views.TaskRoutingView.as_view(), name="api-task-routing"),
    path("control/force-local", views.ForceLocalView.as_view(), name="api-force-local"),
    path("status", views.StatusView.as_view(), name="api-status"),
]
