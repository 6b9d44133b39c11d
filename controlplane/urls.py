"""Top-level URLs. Apps add their own url modules as their issues land."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from controlplane import metrics_view, views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics_view.metrics, name="metrics"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    # POST only (Django's LogoutView refuses GET): the button is a form in the top bar.
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    # The OpenAPI schema is public: it describes the API, holds no data, and tools (SDK
    # generators, schemathesis, a service's developer) fetch it without a session. The
    # docs page is for logged-in users (anonymous visitors go to the login page); its
    # "Try it out" calls use their session. ?format=json or ?format=yaml (the default).
    # schema=None leaves both pages out of the schema they serve.
    path(
        "api/schema/",
        SpectacularAPIView.as_view(
            authentication_classes=[], permission_classes=[AllowAny], schema=None
        ),
        name="api-schema",
    ),
    path(
        "api/docs/",
        login_required(SpectacularSwaggerView.as_view(url_name="api-schema", schema=None)),
        name="api-docs",
    ),
    path("api/", include("routing.api.urls")),
    path("v1/", include("routing.api.openai_urls")),
    # Last: the API resolves without trying every dashboard pattern first.
    path("", include("routing.dashboard.urls")),
]

admin.site.site_header = "Switchboard administration"
admin.site.site_title = "Switchboard"
admin.site.index_title = "Routing configuration and audit"
