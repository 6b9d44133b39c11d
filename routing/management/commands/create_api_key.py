"""python manage.py create_api_key --name N [--agent A] [--scopes route,status]

Creates a service API key and prints its secret on the last line of the output (the
only time it is shown: only a hash is stored), so scripts can take `tail -n 1`.
Exits 1, writing nothing, on a duplicate name, an unknown agent or an unknown scope.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.models import Agent
from routing.choices import ApiScope, ChangeSource
from routing.models import ApiKey
from routing.services import api_key_create
from routing.services.api_keys import DEFAULT_SCOPES

MSG_DUPLICATE = "An API key named '{name}' already exists; choose another name."
MSG_UNKNOWN_AGENT = "Unknown agent '{agent}'. Known agents: {known}."
MSG_UNKNOWN_SCOPE = "Unknown scope(s): {unknown}. Known scopes: {known}."
MSG_NO_SCOPES = "Give at least one scope: " + ", ".join(ApiScope.values) + "."
MSG_BAD_NAME = "The name must be 1 to 100 characters."


def parse_scopes(value: str) -> list[str]:
    scopes = list(dict.fromkeys(s.strip() for s in value.split(",") if s.strip()))
    if not scopes:
        raise CommandError(MSG_NO_SCOPES)
    unknown = [s for s in scopes if s not in ApiScope.values]
    if unknown:
        raise CommandError(
            MSG_UNKNOWN_SCOPE.format(unknown=", ".join(unknown), known=", ".join(ApiScope.values))
        )
    return scopes


class Command(BaseCommand):
    help = "Create a service API key; its secret is printed once, on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="A unique name for the key.")
        parser.add_argument("--agent", help="The agent the key routes as by default.")
        parser.add_argument(
            "--scopes",
            default=",".join(DEFAULT_SCOPES),
            help=f"Comma-separated, from: {', '.join(ApiScope.values)} (default: all).",
        )

    def handle(self, *args: Any, name: str, agent: str | None, scopes: str, **options: Any) -> None:
        name = name.strip()
        if not 1 <= len(name) <= 100:
            raise CommandError(MSG_BAD_NAME)
        wanted = parse_scopes(scopes)
        default_agent = None
        if agent:
            default_agent = Agent.objects.filter(key=agent).first()
            if default_agent is None:
                known = ", ".join(Agent.objects.values_list("key", flat=True)) or "none"
                raise CommandError(MSG_UNKNOWN_AGENT.format(agent=agent, known=known))
        if ApiKey.objects.filter(name=name).exists():
            raise CommandError(MSG_DUPLICATE.format(name=name))
        try:
            created = api_key_create(
                name=name, default_agent=default_agent, scopes=wanted, source=ChangeSource.CLI
            )
        except ValidationError as exc:  # e.g. the same name, created a moment ago elsewhere
            raise CommandError(" ".join(exc.messages)) from exc
        key = created.api_key
        self.stdout.write(
            f"Created API key '{key.name}' (sb_{key.prefix}_…), "
            f"agent: {default_agent.key if default_agent else 'none'}, scopes: {', '.join(wanted)}."
        )
        self.stdout.write("The secret below is shown only now; store it somewhere safe.")
        self.stdout.write(created.plaintext)
