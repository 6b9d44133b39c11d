"""python manage.py reset [--json]

Seed 004's `reset` action: start a new session, which resets the session token budget
(the old session's usage is kept, as the seed keeps it, for the audit and the status
page). Prints the new session id; send it as `session_id` with the next requests.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from routing.models import SessionUsage

SESSION_PREFIX = "session"


def session_create() -> SessionUsage:
    """A fresh session with no tokens used (random id, so it never collides)."""
    return SessionUsage.objects.create(session_id=f"{SESSION_PREFIX}-{secrets.token_hex(8)}")


class Command(BaseCommand):
    help = "Start a new session (resets the session token budget) and print its id."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        session = session_create()
        if options["json"]:
            self.stdout.write(json.dumps({"session_id": session.session_id, "tokens": 0}))
            return
        self.stdout.write(f"Session reset. New session ID: {session.session_id}")
        self.stdout.write("Send it as session_id with the next requests; it starts at 0 tokens.")
