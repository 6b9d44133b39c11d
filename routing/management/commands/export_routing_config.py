"""python manage.py export_routing_config DIR"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from routing.config_io import export_config


class Command(BaseCommand):
    help = "Write the routing configuration to DIR in the formats import_routing_config reads."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory")

    def handle(self, *args: Any, directory: str, **options: Any) -> None:
        try:
            written = export_config(directory)
        except OSError as exc:
            raise CommandError(f"Cannot write to {directory}: {exc.strerror or exc}") from exc
        for path in written:
            self.stdout.write(str(path))
