from django.urls import include, path

from routing.api import views

urlpatterns = [
    path("route", views.RouteView.as_view(), name="api-route"),
    path("", include("routing.api.batch_urls")),
    path("", include("routing.api.control_urls")),
    path("", include("routing.api.crud_urls")),
    path("", include("routing.api.analysis_urls")),
]
