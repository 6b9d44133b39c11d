"""Configuration as code: import and export the seeds' YAML formats.

Files in a configuration directory (all optional, at least one required):
  models.yaml, agents.yaml, routing.yaml   seed 002
  llm_routing.yaml                         seed 003
  environments/<name>.yaml                 seed 002's environment overrides

`import_config` reads and checks everything first and writes nothing unless every file
is valid (one transaction); `export_config` writes the same formats back, so
export -> import -> export gives byte-identical files.
"""

from routing.config_io.errors import ConfigImportError, ConfigIssue
from routing.config_io.exporter import export_config
from routing.config_io.importer import ImportResult, import_config

__all__ = [
    "ConfigImportError",
    "ConfigIssue",
    "ImportResult",
    "export_config",
    "import_config",
]
