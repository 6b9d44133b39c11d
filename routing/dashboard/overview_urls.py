"""Dashboard URLs: overview pages."""

from django.urls import path

from routing.dashboard import overview_views

urlpatterns = [
    path("", overview_views.overview_page, name="overview"),
]
