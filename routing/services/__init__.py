"""Writes. Every configuration or control change goes through a function here, so the
change log and the config revision are never forgotten."""

from routing.services.api_keys import (
    ApiKeyCreated,
    api_key_create,
    api_key_generate,
    api_key_hash,
)
from routing.services.change_log import change_log_record, snapshot_of
from routing.services.config_revision import config_revision_bump, config_revision_current

__all__ = [
    "ApiKeyCreated",
    "api_key_create",
    "api_key_generate",
    "api_key_hash",
    "change_log_record",
    "config_revision_bump",
    "config_revision_current",
    "snapshot_of",
]
