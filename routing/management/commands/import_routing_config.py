"""python manage.py import_routing_config DIR [--environment NAME]"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from routing.config_io import ConfigImportError, import_config


class Command(BaseCommand):
    help = (
        "Import routing configuration (models.yaml, agents.yaml, routing.yaml, llm_routing.yaml, "
        "environments/*.yaml) from DIR. All or nothing; running it twice changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory")
        parser.add_argument(
            "--environment",
            default=None,
            help="The environments/<name>.yaml overlay to mark active "
            "(default: the SWITCHBOARD_ENVIRONMENT setting; none when empty).",
        )

    def handle(self, *args: Any, directory: str, environment: str | None, **options: Any) -> None:
        env_name = environment if environment is not None else settings.SWITCHBOARD_ENVIRONMENT
        try:
            result = import_config(
                directory, environment=env_name or None, actor_label="import (cli)"
            )
        except ConfigImportError as exc:
            lines = "\n".join(f"  {issue}" for issue in exc.issues)
            raise CommandError(
                f"Nothing was imported: {len(exc.issues)} problem(s) in {directory}:\n{lines}"
            ) from exc
        if not result.changed:
            self.stdout.write(f"Configuration in {directory} is already imported; nothing changed.")
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Imported {directory}: {result.created} created, {result.updated} updated, "
                    f"{result.deleted} deleted (config version {result.config_version})."
                )
            )
            if options["verbosity"] > 1:
                for change in result.changes:
                    self.stdout.write(f"  {change}")
        if result.active_environment:
            self.stdout.write(f"Active environment: {result.active_environment}")
