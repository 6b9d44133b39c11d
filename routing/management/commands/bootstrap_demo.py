"""python manage.py bootstrap_demo: an admin login and a fresh demo API key, printed.

For the Quickstart on a developer's machine only. Each run sets a new random password
for the `admin` user and replaces the `demo` API key (its secret cannot be shown again,
so a new one is the only honest way to print it). Refuses to run with DEBUG off.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from agents.models import Agent
from routing.choices import ChangeSource
from routing.models import ApiKey
from routing.services import api_key_create, change_log_record

DEMO_KEY_NAME = "demo"
DEMO_AGENT = "backend_agent"


class Command(BaseCommand):
    help = "Create (or reset) the admin login and the demo API key, and print both. DEBUG only."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000", help="Where the server will listen."
        )
        parser.add_argument("--username", default="admin")

    @transaction.atomic
    def handle(self, *args: Any, url: str, username: str, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "bootstrap_demo resets the admin password; it only runs with DEBUG=true."
            )
        password = secrets.token_urlsafe(12)
        user_model = get_user_model()
        user, _ = user_model.objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": True}
        )
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()

        old = ApiKey.objects.filter(name=DEMO_KEY_NAME).first()
        if old is not None:
            old.delete()
            change_log_record(
                action="api_key.delete",
                target_type="api_key",
                target_key=DEMO_KEY_NAME,
                reason="bootstrap_demo replaces the demo key on every run",
                source=ChangeSource.CLI,
            )
        created = api_key_create(
            name=DEMO_KEY_NAME,
            default_agent=Agent.objects.filter(key=DEMO_AGENT).first(),
            created_by=user,
            source=ChangeSource.CLI,
        )
        self.stdout.write("")
        self.stdout.write(
            self.style.SUCCESS("Switchboard is ready (embedded default: SQLite, eager Celery).")
        )
        self.stdout.write(f"  Admin:        {url}/admin/   user: {username}   password: {password}")
        agent = created.api_key.default_agent
        self.stdout.write(
            f"  Demo API key: {created.plaintext}   (agent: {agent.key if agent else 'none'})"
        )
        self.stdout.write("  Both are new on every start; the key is not stored in clear anywhere.")
        self.stdout.write("")
