"""python manage.py status [--session ID] [--json]: seed 004's `status`, for the whole
control plane: the strategy in force, overrides and their expiries, force-local mode,
today's spend against every budget with its warning level and burn rate, and a
session's token usage."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from routing.selectors import status


def _when(value: str | None) -> str:
    if value is None:
        return "no expiry"
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M UTC")


def _left(seconds: int | None) -> str:
    if seconds is None:
        return ""
    hours, rest = divmod(seconds, 3600)
    return f" ({hours}h{rest // 60:02d}m left)" if hours else f" ({rest // 60}m left)"


def _until(item: dict[str, Any]) -> str:
    if item["expires_at"] is None:
        return "until ended"
    return f"until {_when(item['expires_at'])}{_left(item['remaining_seconds'])}"


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:,.2f}"


def render(data: dict[str, Any]) -> list[str]:
    strategy = data["strategy"]
    active = strategy["active"]
    lines = [f"Switchboard status at {_when(data['now'])} (config v{data['config_version']})", ""]
    source = active["source"]
    if active["expires_at"]:
        source += f", until {_when(active['expires_at'])}"
    lines.append(f"Strategy: {active['strategy']} ({source})")
    lines.append(f"  Default: {strategy['default_strategy']}")
    if strategy["environment_strategy"]:
        lines.append(f"  Environment {data['environment']}: {strategy['environment_strategy']}")

    overrides = data["overrides"]
    lines += ["", "Overrides in force:"]
    rows = [
        f"  strategy  {o['agent'] or 'global'} -> {o['strategy']} {_until(o)}: {o['reason']}"
        for o in overrides["strategy"]
    ]
    rows += [
        f"  model     agent {o['agent']} -> {o['model']} {_until(o)}: {o['reason']}"
        for o in overrides["agent_model"]
    ]
    rows += [
        f"  task      {o['task_id']} -> {o['model']} {_until(o)}: {o['reason']}"
        for o in overrides["task"]
    ]
    lines += rows or ["  none"]

    force = data["force_local"]
    if force["enabled"]:
        until = f"until {_when(force['expires_at'])}" if force["expires_at"] else "until turned off"
        lines.append(f"\nForce-local: ON {until}: {force['reason']}")
    else:
        lines.append("\nForce-local: off")
    if force["environment_forces_local"]:
        lines.append(f"  (environment {data['environment']} forces local models)")

    lines += ["", f"Warning level: {data['warning_level']}", "", "Budgets today:"]
    if not data["budgets"]:
        lines.append("  none configured")
    for b in data["budgets"]:
        name = f"{b['scope']}{':' + b['target'] if b['target'] else ''} per {b['period']}"
        if b["limit_usd"] is None:
            cap = _money(b["per_request_limit_usd"])
            lines.append(f"  {name:<32} per-request cap {cap}")
            continue
        share = "" if b["share"] is None else f" ({b['share']:.0%})"
        lines.append(
            f"  {name:<32} {_money(b['spent_usd'])} of {_money(b['limit_usd'])}{share}"
            f"  {b['warning_level']}"
        )
        burn = b["burn_rate"]
        if burn is not None:
            if burn["exhausted"]:
                outlook = "limit reached"
            elif burn["runs_out_at"]:
                outlook = f"runs out at {_when(burn['runs_out_at'])}"
            else:
                outlook = "not on course to run out today"
            lines.append(
                f"    burn {_money(burn['usd_per_hour'])}/h, "
                f"{_money(burn['projected_day_usd'])} by midnight UTC; {outlook}"
            )

    session = data["session"]
    if session is not None:
        lines += [
            "",
            f"Session {session['session_id']}:",
            f"  Total tokens: {session['total_tokens']:,} ({session['percent_used']:.1f}%)",
            f"  Warning level: {session['warning_level']}",
            f"  {session['message']}",
            f"  Thresholds: warning {session['warning_threshold']:,}, "
            f"switch to local {session['auto_switch_threshold']:,}",
        ]
    return lines


class Command(BaseCommand):
    help = "Show what is in force: strategy, overrides, force-local, budgets, a session."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--session", metavar="ID", help="also show this session's tokens")
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="print GET /api/status's JSON"
        )

    def handle(self, *args: Any, session: str | None, as_json: bool, **options: Any) -> None:
        data = status(timezone.now(), session_id=session)
        if as_json:
            self.stdout.write(json.dumps(data, indent=2))
        else:
            self.stdout.write("\n".join(render(data)))
