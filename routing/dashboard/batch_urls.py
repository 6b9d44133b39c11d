"""Dashboard URLs: batch routing jobs."""

from django.urls import path

from routing.dashboard import batch_views

urlpatterns = [
    path("batches", batch_views.batch_list, name="batches"),
    path("batches/<uuid:public_id>", batch_views.batch_detail, name="batch"),
    path("batches/<uuid:public_id>/cancel", batch_views.batch_cancel, name="batch_cancel"),
]
