"""Field validators shared by models in several apps."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$"
ENV_VAR_PATTERN = r"^[A-Z_][A-Z0-9_]*$"
# No ':' in provider names: seed 003 writes a model as "provider:model_id".
PROVIDER_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"

validate_key = RegexValidator(
    KEY_PATTERN,
    "Use letters, digits and _ . : / - only, starting with a letter or digit.",
)

validate_provider_name = RegexValidator(
    PROVIDER_NAME_PATTERN,
    "Use lower-case letters, digits and _ . - only (no ':'), starting with a letter or digit.",
)

validate_env_var_name = RegexValidator(
    ENV_VAR_PATTERN,
    "Give the NAME of an environment variable (like ANTHROPIC_API_KEY), never the secret itself.",
)


def validate_http_url(value: str) -> None:
    """http(s)://host[:port][/path]. Laxer than Django's URLValidator on purpose: Docker
    Compose service names such as ollama_host are valid hosts on a private network."""
    parts = urlsplit(value)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(c.isspace() for c in value)
    ):
        raise ValidationError(
            "Enter an http:// or https:// URL with a host, e.g. http://localhost:11434.",
            code="invalid",
        )


_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")


def validate_string_list(value: object) -> None:
    """A JSON list of short non-empty strings without duplicates (capabilities, scopes)."""
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValidationError("Expected a list of non-empty strings.")
    if len(set(value)) != len(value):
        raise ValidationError("The list has duplicates.")


def validate_identifier_list(value: object) -> None:
    validate_string_list(value)
    assert isinstance(value, list)
    bad = [v for v in value if not _IDENTIFIER.match(v)]
    if bad:
        raise ValidationError(
            "Use lower-case identifiers (letters, digits, underscores): %(bad)s",
            params={"bad": ", ".join(bad)},
        )


def validate_api_scopes(value: object) -> None:
    from routing.choices import ApiScope  # app module; imported late to keep lib import-light

    validate_string_list(value)
    assert isinstance(value, list)
    unknown = sorted(set(value) - set(ApiScope.values))
    if unknown:
        raise ValidationError(
            "Unknown scope(s): %(unknown)s. Known: %(known)s.",
            params={"unknown": ", ".join(unknown), "known": ", ".join(ApiScope.values)},
        )
