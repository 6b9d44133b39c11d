"""Top-level URLs. Apps add their own url modules as their issues land."""

from django.contrib import admin
from django.urls import include, path

from controlplane import views

urlpatterns = [
    path("", include("routing.dashboard.urls")),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/", include("routing.api.urls")),
    path("v1/", include("routing.api.openai_urls")),
]

admin.site.site_header = "Switchboard administration"
admin.site.site_title = "Switchboard"
admin.site.index_title = "Routing configuration and audit"
