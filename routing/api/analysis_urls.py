"""URLs of the analysis part of the control-plane API (included under /api/)."""

from django.urls import path

from routing.api import analysis_views as views

urlpatterns = [
    path(
        "decisions/<str:public_id>/explain",
        views.DecisionExplainView.as_view(),
        name="api-decision-explain",
    ),
    path(
        "decisions/<str:public_id>/replay",
        views.DecisionReplayView.as_view(),
        name="api-decision-replay",
    ),
    path("simulate", views.SimulateView.as_view(), name="api-simulate"),
]
