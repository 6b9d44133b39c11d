"""python manage.py generate_decisions [--count N] [--days D] [--shapes S] [--seed X]"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from routing.models import LLMModel
from routing.services.demo_traffic import FAILURE_RATE, generate_decisions
from routing.services.rollups import decisions_rollup

DEMO_CONFIG = Path(settings.BASE_DIR) / "config"


def _positive(value: str) -> int:
    try:
        number = int(value.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 1")
    return number


class Command(BaseCommand):
    help = (
        "Write N decisions (default 1,000,000) spread over the last D days, then roll them "
        "up. Each of S distinct request shapes is decided once by the real engine on the "
        "current configuration (config/ is imported first when the registry is empty) and "
        "executed once with every model on the simulated provider (no network; a failure "
        "rate for all); the N rows copy those results with their own ids, times and "
        "latencies (drawn from each model's speed, since the simulated provider answers "
        "at once). Budgets, spend ledgers and metrics are not touched. For benchmarks and "
        "demos: never on a database whose audit log matters."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--count", type=_positive, default=1_000_000, help="Decisions to write."
        )
        parser.add_argument(
            "--days", type=_positive, default=30, help="Spread over this many days."
        )
        parser.add_argument(
            "--shapes", type=_positive, default=3000, help="Distinct requests decided and executed."
        )
        parser.add_argument("--seed", type=int, default=1, help="Same seed, same requests.")
        parser.add_argument(
            "--failure-rate",
            type=float,
            default=FAILURE_RATE,
            help="Share of simulated calls that fail (default %(default)s).",
        )
        parser.add_argument(
            "--no-rollup", action="store_true", help="Leave the rollups to the Celery task."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not 0 <= options["failure_rate"] <= 1:
            raise CommandError("--failure-rate must be between 0 and 1, e.g. 0.04.")
        if not LLMModel.objects.exists():
            self.stdout.write(
                f"The registry is empty: importing the demo configuration {DEMO_CONFIG}"
            )
            call_command("import_routing_config", str(DEMO_CONFIG), stdout=self.stdout)
        count = options["count"]
        self.stdout.write(
            f"Generating {count:,} decisions over {options['days']} days "
            f"from {options['shapes']:,} request shapes (seed {options['seed']})"
        )
        started = time.monotonic()
        result = generate_decisions(
            count,
            days=options["days"],
            shapes=options["shapes"],
            seed=options["seed"],
            failure_rate=options["failure_rate"],
            progress=self.stdout.write,
        )
        written = time.monotonic() - started
        outcomes = ", ".join(f"{k} {v:,}" for k, v in sorted(result.outcomes.items()))
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {result.rows:,} decisions in {written:.0f} s "
                f"({result.rows / max(written, 1e-9):,.0f}/s) from {result.templates:,} "
                f"templates: {outcomes}"
            )
        )
        if options["no_rollup"] or result.first is None:
            return
        started = time.monotonic()
        run = decisions_rollup(timezone.now(), since=result.first)
        rows = ", ".join(f"{k} {v:,}" for k, v in run.rows.items())
        self.stdout.write(
            self.style.SUCCESS(
                f"Rolled up to {run.rolled_until:%Y-%m-%d %H:%M} UTC in "
                f"{time.monotonic() - started:.0f} s: {rows} rows"
            )
        )
