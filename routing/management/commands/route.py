"""python manage.py route [--agent A] [--task-type T] ... [--prompt TEXT] [--json]

Seed 004's `route` action: a dry-run decision for the task fields given, on the current
configuration and (with --session) that session's token usage. Nothing is called or
spent; like a dry run of POST /api/route, the decision is recorded in the audit log,
so it can be explained and replayed. Exits 1 when the request would be refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from routing.engine import Decision, RouteRequest, decide
from routing.engine.replay import decision_inputs
from routing.services.decisions import Outcome, decision_record
from routing.services.route import decision_summary
from routing.snapshot import current_snapshot, load_runtime_state

COMPLEXITY_WORDS = ("simple", "moderate", "medium", "complex", "critical")
MSG_BAD_COMPLEXITY = "--complexity takes 1 to 10 or one of: " + ", ".join(COMPLEXITY_WORDS)
MSG_REFUSED = "Refused ({code}): {message}"


def complexity(value: str) -> int | str:
    if value.isdigit() and 1 <= int(value) <= 10:
        return int(value)
    if value in COMPLEXITY_WORDS:
        return value
    raise CommandError(MSG_BAD_COMPLEXITY)


def _line(label: str, value: Any) -> str:
    return f"{label + ':':<16}{value}"


def render(decision: Decision, *, decision_id: str, session_tokens: int) -> list[str]:
    f = {name: v.value for name, v in decision.features.items()}
    lines = ["", "Routing decision (dry run):"]
    if decision.refusal is not None:
        lines.append(_line("Model", "none: refused"))
        lines.append(_line("Refusal", f"{decision.refusal.code}: {decision.refusal.message}"))
    else:
        lines.append(_line("Model", decision.chain[0].model))
        lines.append(_line("Chain", " -> ".join(c.model for c in decision.chain)))
    lines += [
        _line("Reason", decision.reason),
        _line("Strategy", f"{decision.strategy} ({decision.strategy_source})"),
        _line("Rule", decision.rule or "-"),
        _line(
            "Task",
            f"type {f.get('task_type')}, complexity {f.get('complexity_level')} "
            f"({f.get('complexity_score')}/10), classification {f.get('classification')}, "
            f"privacy {f.get('privacy_level')}",
        ),
        _line("PII", ", ".join(decision.pii_types) or "none"),
        _line("Local only", "yes" if decision.flags.local_only else "no"),
        _line("Session tokens", f"{session_tokens:,}"),
        _line("Warning level", decision.warning_level),
    ]
    cost = decision.estimated_cost_usd
    lines.append(_line("Estimated cost", "unknown" if cost is None else f"${cost:.6f}"))
    if decision.chain:
        lines += ["", "Candidates:"]
        lines += [f"  {n}. {c.model} ({c.type}): {c.why}" for n, c in enumerate(decision.chain, 1)]
    if decision.eliminated:
        lines += ["", "Eliminated:"]
        width = max(len(e.model) for e in decision.eliminated)
        lines += [f"  {e.model:<{width}}  [{e.step}] {e.reason}" for e in decision.eliminated]
    lines += [f"Note: {error}" for error in decision.errors]
    lines += ["", _line("Decision id", decision_id)]
    return lines


class Command(BaseCommand):
    help = "Decide (dry run) which model would serve a task, and say why."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--agent", help="The calling agent's key.")
        parser.add_argument("--task-type", help="e.g. code_generation, reasoning, summarization")
        parser.add_argument("--complexity", type=str, help="1 to 10, or simple ... critical")
        parser.add_argument("--classification", choices=("routine", "creative", "critical"))
        parser.add_argument("--privacy-level", choices=("low", "medium", "high"))
        parser.add_argument("--session", help="A session id, for its token budget.")
        parser.add_argument("--task-id", help="A task id, for task overrides.")
        parser.add_argument("--max-tokens", type=int, help="Completion tokens expected.")
        parser.add_argument("--prompt", default="", help="The prompt text (for PII, size).")
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        request = RouteRequest(
            text=options["prompt"],
            agent=options["agent"],
            task_id=options["task_id"],
            task_type=options["task_type"],
            complexity=complexity(options["complexity"]) if options["complexity"] else None,
            classification=options["classification"],
            privacy_level=options["privacy_level"],
            session_id=options["session"],
            max_tokens=options["max_tokens"],
        )
        now = timezone.now()
        snapshot = current_snapshot()
        state = load_runtime_state(snapshot=snapshot, session_id=request.session_id, now=now)
        decision = decide(request, snapshot, state, now=now)
        refusal = decision.refusal
        row = decision_record(
            decision=decision,
            outcome=Outcome(
                "dry_run" if refusal is None else "refused", refusal.code if refusal else ""
            ),
            prompt_text=request.text,
            inputs=decision_inputs(request, state, now),
            api_key=None,
            agent=request.agent,
            task_id=request.task_id,
            session_id=request.session_id,
        )
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    self._as_json(decision, str(row.public_id), state.session_tokens), indent=2
                )
            )
        else:
            for line in render(
                decision, decision_id=str(row.public_id), session_tokens=state.session_tokens
            ):
                self.stdout.write(line)
        if refusal is not None:
            raise CommandError(MSG_REFUSED.format(code=refusal.code, message=refusal.message))

    @staticmethod
    def _as_json(decision: Decision, decision_id: str, session_tokens: int) -> Mapping[str, Any]:
        data = decision.to_dict()
        return {
            "decision_id": decision_id,
            "dry_run": True,
            "decision": decision_summary(decision),
            "session_tokens": session_tokens,
            "refusal": data["refusal"],
            "candidates": data["chain"],
            "eliminated": data["eliminated"],
            "features": data["features"],
        }
