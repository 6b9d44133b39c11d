"""Dashboard URLs: the Simulator (a dry-run decision, and what-if over stored traffic)."""

from django.urls import path

from routing.dashboard import simulator_views as views

urlpatterns = [
    path("simulator", views.simulator, name="simulator"),
    path("simulator/decide", views.simulator_decide, name="simulator_decide"),
    path("simulator/what-if", views.simulator_what_if, name="simulator_what_if"),
]
