"""What happens once a request's audit row is written: its Prometheus counters and its
one "request routed" log line. Called from the one place every request is recorded
(`routing.services.decisions.decision_record`), so each endpoint counts once.

The log line carries ids, keys, numbers and outcomes only: never prompt text, messages,
headers or keys (attempt reasons are left out too; they may quote upstream text).
"""

from __future__ import annotations

import logging

from controlplane.logging import unbind_decision
from routing.models import Decision
from routing.prometheus import decision_counted

logger = logging.getLogger("routing.requests")


def decision_observed(row: Decision) -> None:
    decision_counted(row)
    attempts = row.attempts or []
    logger.info(
        "request routed decision_id=%s outcome=%s model=%s latency_ms=%s",
        row.public_id,
        row.outcome,
        row.model_used or "-",
        row.latency_ms,
        extra={
            "decision_id": str(row.public_id),
            "agent": row.agent_key or None,
            "api_key_name": row.api_key_name or None,
            "outcome": row.outcome,
            "error_code": row.error_code or None,
            "model_used": row.model_used or None,
            "provider": row.provider or None,
            "strategy": row.strategy or None,
            "latency_ms": row.latency_ms,
            "attempts": len(attempts),
            "fallbacks": sum(1 for a in attempts if a.get("outcome") != "success"),
            "cost_usd": float(row.cost_usd),
            "fallback_tax_usd": float(row.fallback_tax_usd),
            "cached": row.cached,
            "pii_types": list(row.pii_types),
        },
    )
    # The request is recorded: later lines of this thread are not about its decision.
    unbind_decision()
