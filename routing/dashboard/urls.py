from django.urls import include, path

app_name = "dashboard"

urlpatterns = [
    path("", include("routing.dashboard.overview_urls")),
    path("", include("routing.dashboard.control_urls")),
    path("", include("routing.dashboard.audit_urls")),
    path("", include("routing.dashboard.batch_urls")),
    path("", include("routing.dashboard.budgets_urls")),
    path("", include("routing.dashboard.registry_urls")),
    path("", include("routing.dashboard.simulator_urls")),
]
