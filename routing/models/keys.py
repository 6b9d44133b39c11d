"""API keys for services."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from controlplane.lib.validators import validate_api_scopes


class ApiKey(models.Model):
    """A service's credential. The key is `sb_<prefix>_<secret>`; we keep the prefix to
    find it and show it, and only a SHA-256 of the whole key. The key has 256 bits of
    randomness, so a fast hash is safe here (a slow password hash would only slow
    every request); the plaintext is shown once, when the key is created."""

    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    default_agent = models.ForeignKey(
        "agents.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    scopes = models.JSONField(default=list, validators=[validate_api_scopes])
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "API key"
        constraints = [
            models.CheckConstraint(
                condition=Q(secret_hash__regex=r"^[0-9a-f]{64}$"),  # noqa: S106
                name="api_key_hash_is_sha256",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (sb_{self.prefix}_…)"
