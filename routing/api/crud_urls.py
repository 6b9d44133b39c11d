"""URLs of the registry CRUD and the audit lists (included under /api/)."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from routing.api import crud_views as views

router = SimpleRouter(trailing_slash=False)
router.register("providers", views.ProviderViewSet, basename="api-provider")
router.register("models", views.LLMModelViewSet, basename="api-model")
router.register("agents", views.AgentViewSet, basename="api-agent")
router.register("rules", views.RoutingRuleViewSet, basename="api-rule")
router.register("strategies", views.StrategyViewSet, basename="api-strategy")
router.register("budgets", views.BudgetViewSet, basename="api-budget")
router.register("api-keys", views.ApiKeyViewSet, basename="api-api-key")
router.register("decisions", views.DecisionViewSet, basename="api-decision")
router.register("change-log", views.ChangeLogViewSet, basename="api-change-log")

urlpatterns = router.urls
