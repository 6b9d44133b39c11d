from django.urls import path

from routing.api import views

urlpatterns = [
    path("route", views.RouteView.as_view(), name="api-route"),
]
