"""What the engine derives from a snapshot once per configuration version, not on every
decision: the values rule conditions read from each model (and which models they cannot
tell apart), what each model lacks of an agent's required capabilities, budget labels.

A Snapshot is frozen and the loader keeps one per configuration version, so anything
computed from it alone stays right for as long as it is in use. The cache is keyed by
the snapshot's identity and holds the snapshot itself, so an id cannot be reused by a
new snapshot while its entry is alive; it is small because only the current version
(and the odd replayed one) is decided against at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from routing.engine.inputs import AgentInfo, ModelInfo, Snapshot

_CACHE_SIZE = 8

# The `model.*` names of the condition language that depend on the model alone (rules.py
# adds model.rate_limit_approaching, which reads the runtime state).
STATIC_MODEL_NAMES: Mapping[str, Callable[[ModelInfo], Any]] = {
    "model.key": lambda m: m.key,
    "model.type": lambda m: m.type,
    "model.provider": lambda m: m.provider,
    "model.tier": lambda m: m.tier,
    "model.cost_per_1k_input": lambda m: m.cost_input_per_1k,
    "model.cost_per_1k_output": lambda m: m.cost_output_per_1k,
    "model.context_window": lambda m: m.context_window,
    "model.capabilities": lambda m: sorted(m.capabilities),
}


@dataclass(frozen=True, slots=True)
class Prepared:
    """Derived from `snapshot` alone; the two dicts fill in on first use."""

    snapshot: Snapshot
    # model key -> its STATIC_MODEL_NAMES values. Shared read-only: a condition cannot
    # change a value (the list of capabilities included), and evaluate() returns a bool.
    model_values: Mapping[str, Mapping[str, Any]]
    # One per snapshot.budgets entry: "agent:cto_agent day".
    budget_labels: tuple[str, ...]
    _groups: dict[tuple[str, ...], Mapping[str, int]] = field(default_factory=dict)
    _lacking: dict[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)

    def lacking(self, agent: AgentInfo) -> Mapping[str, tuple[str, ...]]:
        """model key -> the capabilities the agent requires that the model lacks
        (sorted), for the models that lack any."""
        found = self._lacking.get(agent.key)
        if found is None:
            required = agent.capabilities_required
            found = {
                key: tuple(sorted(required - m.capabilities))
                for key, m in self.snapshot.models.items()
                if not required <= m.capabilities
            }
            self._lacking[agent.key] = found
        return found

    def model_groups(self, names: tuple[str, ...]) -> Mapping[str, int]:
        """model key -> a number shared by exactly the models whose STATIC_MODEL_NAMES
        values among ``names`` are the same (same type too: 1 is not 1.0 or True in a
        condition's error messages). A condition that reads no other model name gives
        these models the same answer, so it need be evaluated once per group."""
        groups = self._groups.get(names)
        if groups is None:
            seen: dict[tuple[Any, ...], int] = {}
            groups = {
                key: seen.setdefault(
                    tuple(_comparable(values[name]) for name in names if name in values),
                    len(seen),
                )
                for key, values in self.model_values.items()
            }
            self._groups[names] = groups
        return groups


def _comparable(value: Any) -> tuple[type, Any]:
    return (list, tuple(value)) if isinstance(value, list) else (type(value), value)


_cache: dict[int, Prepared] = {}


def prepared(snapshot: Snapshot) -> Prepared:
    found = _cache.get(id(snapshot))
    if found is not None and found.snapshot is snapshot:
        return found
    made = _prepare(snapshot)
    if len(_cache) >= _CACHE_SIZE:
        _cache.clear()  # atomic, unlike evicting one entry, if threads share the cache
    _cache[id(snapshot)] = made
    return made


def _prepare(snapshot: Snapshot) -> Prepared:
    return Prepared(
        snapshot=snapshot,
        model_values={
            key: {name: value_of(m) for name, value_of in STATIC_MODEL_NAMES.items()}
            for key, m in snapshot.models.items()
        },
        budget_labels=tuple(
            f"{b.scope}{':' + b.target if b.target else ''} {b.period}" for b in snapshot.budgets
        ),
    )
