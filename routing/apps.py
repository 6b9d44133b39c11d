from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = "Routing"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from routing.api.auth import forget_api_keys
        from routing.models import ApiKey

        # Cache invalidation only (no business logic): a revoked key must stop working.
        post_save.connect(forget_api_keys, sender=ApiKey, dispatch_uid="forget-api-keys-save")
        post_delete.connect(forget_api_keys, sender=ApiKey, dispatch_uid="forget-api-keys-delete")
