"""What the engine returns: the chain, why every other model lost, and the trace."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

NORMAL, WARNING, CRITICAL = "normal", "warning", "critical"
WARNING_LEVELS = (NORMAL, WARNING, CRITICAL)


def worse(a: str, b: str) -> str:
    return a if WARNING_LEVELS.index(a) >= WARNING_LEVELS.index(b) else b


@dataclass(frozen=True, slots=True)
class FeatureValue:
    value: Any
    source: str  # given | inferred | agent_default | default


@dataclass(frozen=True, slots=True)
class Candidate:
    model: str
    provider: str
    type: str
    score: float
    factors: Mapping[str, float]
    estimated_cost_usd: float | None
    why: str  # how it earned its place: "task override", "rule ...", "primary", "score"


@dataclass(frozen=True, slots=True)
class Elimination:
    model: str
    step: str
    reason: str
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TraceStep:
    step: str
    outcome: str
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Refusal:
    code: str  # no_eligible_model | budget_exceeded | denied_by_rule | unknown_agent
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Flags:
    local_only: bool = False
    verify_with_cloud: str | None = None  # the cloud model to check a local answer with
    hedge: bool = False
    cache_allowed: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    config_version: int
    features: Mapping[str, FeatureValue]
    pii_types: tuple[str, ...]
    strategy: str
    strategy_source: str
    chain: tuple[Candidate, ...]
    eliminated: tuple[Elimination, ...]
    rule: str | None
    warning_level: str
    flags: Flags
    trace: tuple[TraceStep, ...]
    errors: tuple[str, ...]
    refusal: Refusal | None = None

    @property
    def primary(self) -> Candidate | None:
        return self.chain[0] if self.chain else None

    @property
    def estimated_cost_usd(self) -> float | None:
        return self.chain[0].estimated_cost_usd if self.chain else None

    @property
    def reason(self) -> str:
        """One line for people: why the primary was chosen (or why nothing was)."""
        if self.refusal is not None:
            return self.refusal.message
        assert self.primary is not None
        return f"{self.primary.model}: {self.primary.why} (strategy {self.strategy})"

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__slots__}
        data["features"] = {
            k: {"value": v.value, "source": v.source} for k, v in self.features.items()
        }
        data["reason"] = self.reason
        data["estimated_cost_usd"] = self.estimated_cost_usd
        return _plain(data)


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    """Dataclasses and mappings (including MappingProxyType) -> dicts, tuples -> lists,
    for JSON. (dataclasses.asdict deep-copies every value: several times slower.)

    On the request path (every audit row's trace): most values are scalars, so the
    exact type is tested first and scalars are not passed to a recursive call."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    names = getattr(kind, "__dataclass_fields__", None)
    if names is not None:
        items = ((name, getattr(value, name)) for name in names)
        return {k: v if type(v) in _SCALARS else _plain(v) for k, v in items}
    if isinstance(value, Mapping):
        return {str(k): v if type(v) in _SCALARS else _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        items = [v if type(v) in _SCALARS else _plain(v) for v in value]
        return sorted(items) if isinstance(value, frozenset | set) else items
    return value
