"""URLs of the batch routing API (included under /api/)."""

from django.urls import path

from routing.api import batch_views as views

urlpatterns = [
    path("route/batch", views.BatchCreateView.as_view(), name="api-route-batch"),
    path(
        "route/batch/<str:public_id>",
        views.BatchDetailView.as_view(),
        name="api-route-batch-detail",
    ),
    path(
        "route/batch/<str:public_id>/cancel",
        views.BatchCancelView.as_view(),
        name="api-route-batch-cancel",
    ),
]
