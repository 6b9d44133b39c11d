"""Reads: what the dashboard, the API and the CLI show. Writes live in routing.services."""

from routing.selectors.status import (
    agent_model_state,
    burn_rate,
    force_local_state,
    status,
    strategy_state,
    task_override_state,
)

__all__ = [
    "agent_model_state",
    "burn_rate",
    "force_local_state",
    "status",
    "strategy_state",
    "task_override_state",
]
