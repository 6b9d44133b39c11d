"""The audit row: exactly one Decision per request, whatever became of it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from routing.engine import Decision as EngineDecision
from routing.engine.pii import mask_pii
from routing.models import ApiKey, Decision
from routing.observability import decision_observed

EXCERPT_CHARS = 500


@dataclass
class Outcome:
    """What happened after the decision (nothing, for refusals and dry runs)."""

    outcome: str  # success | failed | refused | dry_run
    error_code: str = ""
    model_used: str = ""
    provider: str = ""
    attempts: list[dict[str, Any]] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usage_estimated: bool = False
    cost_usd: float = 0.0
    fallback_tax_usd: float = 0.0
    latency_ms: int = 0
    cached: bool = False
    verification: dict[str, Any] | None = None


def decision_record(
    *,
    decision: EngineDecision,
    outcome: Outcome,
    prompt_text: str,
    inputs: Mapping[str, Any],
    api_key: ApiKey | None,
    agent: str | None,
    task_id: str | None,
    session_id: str | None,
    public_id: uuid.UUID | None = None,
    caller: str = "",  # who asked without an API key, e.g. "dashboard:olga"
) -> Decision:
    data = decision.to_dict()
    trace = {
        "steps": data["trace"],
        "eliminated": data["eliminated"],
        "errors": data["errors"],
        "flags": data["flags"],
        "refusal": data["refusal"],
        "strategy_source": decision.strategy_source,
        "verification": outcome.verification,
        "inputs": dict(inputs),
    }
    features = data["features"]
    row = Decision.objects.create(
        public_id=public_id or uuid.uuid4(),
        created_at=timezone.now(),
        api_key=api_key,
        api_key_name=api_key.name if api_key else caller[:100],
        agent_key=agent or "",
        task_id=task_id or "",
        session_id=session_id or "",
        outcome=outcome.outcome,
        error_code=outcome.error_code,
        strategy=decision.strategy,
        strategy_source=decision.strategy_source[:100],
        model_used=outcome.model_used,
        provider=outcome.provider,
        complexity=features["complexity_level"]["value"],
        complexity_score=features["complexity_score"]["value"],
        task_type=str(features["task_type"]["value"])[:64],
        privacy_level=features["privacy_level"]["value"],
        pii_types=list(decision.pii_types),
        local_only=decision.flags.local_only,
        rule=(decision.rule or "")[:200],
        warning_level=decision.warning_level,
        chain=[c["model"] for c in data["chain"]],
        attempts=outcome.attempts,
        trace=trace,
        features=features,
        config_version=decision.config_version,
        prompt_tokens=outcome.prompt_tokens,
        completion_tokens=outcome.completion_tokens,
        usage_estimated=outcome.usage_estimated,
        cost_usd=outcome.cost_usd,
        fallback_tax_usd=outcome.fallback_tax_usd,
        latency_ms=outcome.latency_ms,
        cached=outcome.cached,
        # Mask well past the cut, so a value straddling it is never half kept.
        prompt_excerpt=mask_pii(prompt_text[: EXCERPT_CHARS * 8])[:EXCERPT_CHARS],
        prompt_full=prompt_text if settings.SWITCHBOARD_STORE_FULL_PROMPTS else None,
    )
    decision_observed(row)  # metrics and the log line: every request passes here once
    return row
