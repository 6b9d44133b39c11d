"""Dashboard URLs: audit pages."""

from django.urls import path

from routing.dashboard import audit_views

urlpatterns = [
    path("audit", audit_views.audit_list, name="audit"),
    path("audit.csv", audit_views.audit_csv, name="audit_csv"),
    path("audit/<uuid:public_id>", audit_views.decision_detail, name="decision"),
    path(
        "audit/<uuid:public_id>/replay",
        audit_views.decision_replay_run,
        name="decision_replay",
    ),
]
