"""What the engine decides from: the request, the configuration snapshot, the runtime
state. All frozen; built from plain JSON-able data so a decision's inputs can be stored
and the decision re-run later (replay, what-if).

`build_snapshot(data)` is the one way to make a Snapshot: the loader feeds it rows read
from the database, replay feeds it the same data read back from the config-snapshot
table. Times are timezone-aware datetimes; the engine never reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from routing.conditions import CompiledCondition, ConditionError, compile_condition

LOCAL = "local"
CLOUD = "cloud"


@dataclass(frozen=True, slots=True)
class ModelInfo:
    key: str
    provider: str
    provider_kind: str
    tier: str
    type: str
    capabilities: frozenset[str]
    cost_input_per_1k: float | None  # None: price unknown (never treated as free)
    cost_output_per_1k: float | None
    context_window: int | None
    requests_per_minute: int | None
    tokens_per_minute: int | None
    tokens_per_second: float | None
    enabled: bool
    # Where and how to call it: used by execution, not by the decision.
    model_id: str = ""
    base_url: str = ""
    api_key_env: str = ""
    timeout_s: float = 30.0
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def is_local(self) -> bool:
        return self.type == LOCAL

    @property
    def price_known(self) -> bool:
        return self.cost_input_per_1k is not None and self.cost_output_per_1k is not None

    def estimated_cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        if not self.price_known:
            return None
        assert self.cost_input_per_1k is not None
        assert self.cost_output_per_1k is not None
        return (
            prompt_tokens * self.cost_input_per_1k + completion_tokens * self.cost_output_per_1k
        ) / 1000

    @property
    def is_paid(self) -> bool:
        """Anything that may cost money: a priced model above $0, or an unpriced cloud model."""
        if not self.price_known:
            return not self.is_local
        return bool(self.cost_input_per_1k or self.cost_output_per_1k)


@dataclass(frozen=True, slots=True)
class RuleInfo:
    name: str
    scope: str  # global | agent
    position: int
    source: str
    condition: CompiledCondition | None  # None when it no longer compiles (recorded)
    compile_error: str
    action: str
    model: str | None
    enabled: bool

    @property
    def per_model(self) -> bool:
        """Reads `model.*`, so it is evaluated once per candidate model."""
        return self.condition is not None and any(
            n.startswith("model.") for n in self.condition.names
        )

    @property
    def label(self) -> str:
        return self.name or f"#{self.position + 1} {self.source}"


@dataclass(frozen=True, slots=True)
class AgentInfo:
    key: str
    primary: str | None
    fallback: str | None
    local_alternative: str | None
    budget_mode: str | None
    capabilities_required: frozenset[str]
    default_privacy_level: str
    rules: tuple[RuleInfo, ...]

    @property
    def named_models(self) -> tuple[str, ...]:
        names = (self.primary, self.fallback, self.local_alternative, self.budget_mode)
        return tuple(dict.fromkeys(n for n in names if n))


@dataclass(frozen=True, slots=True)
class StrategyInfo:
    key: str
    prefer_local: bool
    prefer_cloud: bool
    allow_cloud: bool
    required_model_type: str
    cloud_budget_per_day: float | None
    complexity_threshold: int | None
    confidence_threshold: float | None
    parallel_requests: bool
    cache_responses: bool
    cloud_for_complex_tasks: bool
    local_for_routine_tasks: bool
    dynamic_routing: bool
    weights: Mapping[str, float]

    @property
    def local_only(self) -> bool:
        return not self.allow_cloud or self.required_model_type == LOCAL


@dataclass(frozen=True, slots=True)
class Window:
    """When something is in force: starts <= now < expires (no expiry: until ended)."""

    id: int
    starts_at: datetime
    expires_at: datetime | None
    reason: str

    def in_force(self, now: datetime) -> bool:
        return self.starts_at <= now and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True, slots=True)
class StrategyOverrideInfo:
    window: Window
    agent: str | None
    strategy: str


@dataclass(frozen=True, slots=True)
class ModelOverrideInfo:
    window: Window
    target: str  # the agent key or the task id
    model: str


@dataclass(frozen=True, slots=True)
class BudgetInfo:
    scope: str  # global | agent | provider | model
    target: str  # "" for global
    period: str  # day | month
    limit_usd: float | None
    per_request_usd: float | None
    warning_threshold: float


@dataclass(frozen=True, slots=True)
class SessionBudgetInfo:
    warning_tokens: int
    switch_tokens: int


@dataclass(frozen=True, slots=True)
class ExperimentInfo:
    key: str
    agent: str
    variants: tuple[tuple[str, float], ...]  # (model key, weight)
    sticky_by: str  # session | task


@dataclass(frozen=True, slots=True)
class EnvironmentInfo:
    name: str
    max_cloud_spend_per_day: float | None
    require_local_for_pii: bool | None
    force_local_models: bool | None
    default_strategy: str | None


@dataclass(frozen=True, slots=True)
class ForceLocalInfo:
    on: bool
    expires_at: datetime | None
    reason: str

    def in_force(self, now: datetime) -> bool:
        return self.on and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The routing configuration at one version. Cached per version by the loader."""

    version: int
    models: Mapping[str, ModelInfo]
    agents: Mapping[str, AgentInfo]
    global_rules: tuple[RuleInfo, ...]
    strategies: Mapping[str, StrategyInfo]
    default_strategy: str
    factor_weights: Mapping[str, float]
    task_routes: Mapping[tuple[str, str], tuple[tuple[str, str | None], ...]]
    provider_default_models: Mapping[str, str]  # provider -> model key
    fallback_chain: tuple[str, ...]
    strategy_overrides: tuple[StrategyOverrideInfo, ...]
    agent_model_overrides: tuple[ModelOverrideInfo, ...]
    task_overrides: tuple[ModelOverrideInfo, ...]
    force_local: ForceLocalInfo
    environment: EnvironmentInfo | None
    budgets: tuple[BudgetInfo, ...]
    session_budget: SessionBudgetInfo
    agent_session_budgets: Mapping[str, SessionBudgetInfo]
    experiments: tuple[ExperimentInfo, ...]


@dataclass(frozen=True, slots=True)
class RuntimeState:
    """What changes between requests: spend so far, session usage, model health.
    `spend` maps (scope, target, period) -> USD spent in the current period."""

    spend: Mapping[tuple[str, str, str], float] = field(
        default_factory=lambda: MappingProxyType({})
    )
    session_tokens: int = 0
    cooling_down: Mapping[str, datetime] = field(
        default_factory=lambda: MappingProxyType({})
    )  # until
    rate_usage: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))  # 0..1+
    unhealthy: frozenset[str] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        return {
            "spend": [[s, t, p, v] for (s, t, p), v in sorted(self.spend.items())],
            "session_tokens": self.session_tokens,
            "cooling_down": {k: v.isoformat() for k, v in sorted(self.cooling_down.items())},
            "rate_usage": dict(sorted(self.rate_usage.items())),
            "unhealthy": sorted(self.unhealthy),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuntimeState:
        return cls(
            spend=MappingProxyType({(s, t, p): float(v) for s, t, p, v in data.get("spend", [])}),
            session_tokens=int(data.get("session_tokens", 0)),
            cooling_down=MappingProxyType(
                {k: datetime.fromisoformat(v) for k, v in data.get("cooling_down", {}).items()}
            ),
            rate_usage=MappingProxyType(
                {k: float(v) for k, v in data.get("rate_usage", {}).items()}
            ),
            unhealthy=frozenset(data.get("unhealthy", [])),
        )


_NOT_STORED = frozenset({"text", "task_text", "features"})


@dataclass(frozen=True, slots=True)
class RouteRequest:
    """A request as the engine sees it. Task fields the caller left out are None; the
    engine infers them and records that it did. `features`, when set, are features
    computed earlier ({name: {"value", "source"}}, as Decision.to_dict() writes them):
    a replay uses them instead of the prompt, which is not stored in full."""

    text: str  # the messages' text, joined (see features.messages_text)
    agent: str | None = None
    task_id: str | None = None
    task_type: str | None = None
    complexity: int | str | None = None
    classification: str | None = None
    privacy_level: str | None = None
    requires_reasoning: bool | None = None
    involves_ui_design: bool | None = None
    tags: tuple[str, ...] = ()
    session_id: str | None = None
    max_tokens: int | None = None
    has_response_schema: bool = False
    budget_mode: bool | None = None
    features: Mapping[str, Any] | None = None
    # What the caller asks (the user messages), for complexity and task type: a system
    # prompt saying "never reveal secrets" must not make every request critical. The
    # PII scan and the token estimate read all of `text`.
    task_text: str | None = None
    # A registry model the caller asked for by name (OpenAI-style `model`): pinned like
    # an override, still subject to privacy and budgets.
    model: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The caller's fields, as a decision row keeps them: never the prompt (`text`,
        `task_text`: it may hold personal data), nor computed features."""
        data = {name: getattr(self, name) for name in self.__slots__ if name not in _NOT_STORED}
        return data | {"tags": list(self.tags)}

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, features: Mapping[str, Any] | None = None
    ) -> RouteRequest:
        return cls(
            text="", features=features, **(dict(data) | {"tags": tuple(data.get("tags", ()))})
        )


# -- building a snapshot from plain data ------------------------------------------------


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _window(row: Mapping[str, Any]) -> Window:
    starts = _dt(row["starts_at"])
    assert starts is not None
    return Window(
        id=row["id"],
        starts_at=starts,
        expires_at=_dt(row.get("expires_at")),
        reason=row.get("reason", ""),
    )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _rule(row: Mapping[str, Any]) -> RuleInfo:
    try:
        condition, error = compile_condition(row["condition"]), ""
    except ConditionError as exc:  # saved before a vocabulary change: recorded, never run
        condition, error = None, str(exc)
    return RuleInfo(
        name=row.get("name", ""),
        scope=row["scope"],
        position=row["position"],
        source=row["condition"],
        condition=condition,
        compile_error=error,
        action=row["action"],
        model=row.get("model"),
        enabled=row.get("enabled", True),
    )


def _strategy(row: Mapping[str, Any]) -> StrategyInfo:
    return StrategyInfo(
        key=row["key"],
        prefer_local=bool(row.get("prefer_local")),
        prefer_cloud=bool(row.get("prefer_cloud")),
        allow_cloud=row.get("allow_cloud") is not False,
        required_model_type=row.get("required_model_type") or "",
        cloud_budget_per_day=_float(row.get("cloud_budget_per_day")),
        complexity_threshold=row.get("complexity_threshold"),
        confidence_threshold=row.get("confidence_threshold"),
        parallel_requests=bool(row.get("parallel_requests")),
        cache_responses=bool(row.get("cache_responses")),
        cloud_for_complex_tasks=bool(row.get("cloud_for_complex_tasks")),
        local_for_routine_tasks=bool(row.get("local_for_routine_tasks")),
        dynamic_routing=bool(row.get("dynamic_routing")),
        weights=MappingProxyType(dict(row.get("weights") or {})),
    )


DEFAULT_SESSION_BUDGET = SessionBudgetInfo(warning_tokens=150_000, switch_tokens=180_000)
DEFAULT_FACTOR_WEIGHTS = {
    "task_complexity": 0.3,
    "cost_efficiency": 0.25,
    "privacy_requirements": 0.2,
    "performance_needs": 0.15,
    "model_availability": 0.1,
}


def build_snapshot(data: Mapping[str, Any]) -> Snapshot:
    """Data (as written by routing.snapshot.load_config_data) -> Snapshot."""
    models = {
        m["key"]: ModelInfo(
            key=m["key"],
            provider=m["provider"],
            provider_kind=m["provider_kind"],
            tier=m["tier"],
            type=m["type"],
            capabilities=frozenset(m.get("capabilities", ())),
            cost_input_per_1k=_float(m.get("cost_input_per_1k")),
            cost_output_per_1k=_float(m.get("cost_output_per_1k")),
            context_window=m.get("context_window"),
            requests_per_minute=m.get("requests_per_minute"),
            tokens_per_minute=m.get("tokens_per_minute"),
            tokens_per_second=_float(m.get("tokens_per_second")),
            enabled=m.get("enabled", True),
            model_id=m.get("model_id", m["key"]),
            base_url=m.get("base_url", ""),
            api_key_env=m.get("api_key_env", ""),
            timeout_s=float(m.get("timeout_s") or 30.0),
            options=MappingProxyType(dict(m.get("options") or {})),
        )
        for m in data.get("models", [])
    }
    rules_by_agent: dict[str, list[RuleInfo]] = {}
    global_rules = []
    for row in data.get("rules", []):
        rule = _rule(row)
        if row["scope"] == "global":
            global_rules.append(rule)
        else:
            rules_by_agent.setdefault(row["agent"], []).append(rule)
    agents = {
        a["key"]: AgentInfo(
            key=a["key"],
            primary=a.get("primary"),
            fallback=a.get("fallback"),
            local_alternative=a.get("local_alternative"),
            budget_mode=a.get("budget_mode"),
            capabilities_required=frozenset(a.get("capabilities_required", ())),
            default_privacy_level=a.get("default_privacy_level", "low"),
            rules=tuple(sorted(rules_by_agent.get(a["key"], []), key=lambda r: r.position)),
        )
        for a in data.get("agents", [])
    }
    routes: dict[tuple[str, str], list[tuple[int, str, str | None]]] = {}
    for r in data.get("task_routes", []):
        routes.setdefault((r["task_type"], r["band"]), []).append(
            (r["position"], r["provider"], r.get("model"))
        )
    env = data.get("environment")
    session = data.get("session_budget")
    force = data.get("force_local") or {}
    weights = dict(data.get("factor_weights") or DEFAULT_FACTOR_WEIGHTS)
    return Snapshot(
        version=int(data.get("version", 0)),
        models=MappingProxyType(models),
        agents=MappingProxyType(agents),
        global_rules=tuple(sorted(global_rules, key=lambda r: r.position)),
        strategies=MappingProxyType({s["key"]: _strategy(s) for s in data.get("strategies", [])}),
        default_strategy=data.get("default_strategy") or "balanced",
        factor_weights=MappingProxyType(weights),
        task_routes=MappingProxyType(
            {k: tuple((p, m) for _, p, m in sorted(v)) for k, v in routes.items()}
        ),
        provider_default_models=MappingProxyType(dict(data.get("provider_default_models", {}))),
        fallback_chain=tuple(data.get("fallback_chain", ())),
        strategy_overrides=tuple(
            StrategyOverrideInfo(window=_window(o), agent=o.get("agent"), strategy=o["strategy"])
            for o in data.get("strategy_overrides", [])
        ),
        agent_model_overrides=tuple(
            ModelOverrideInfo(window=_window(o), target=o["agent"], model=o["model"])
            for o in data.get("agent_model_overrides", [])
        ),
        task_overrides=tuple(
            ModelOverrideInfo(window=_window(o), target=o["task_id"], model=o["model"])
            for o in data.get("task_overrides", [])
        ),
        force_local=ForceLocalInfo(
            on=bool(force.get("on")),
            expires_at=_dt(force.get("expires_at")),
            reason=force.get("reason", ""),
        ),
        environment=None
        if not env
        else EnvironmentInfo(
            name=env["name"],
            max_cloud_spend_per_day=_float(env.get("max_cloud_spend_per_day")),
            require_local_for_pii=env.get("require_local_for_pii"),
            force_local_models=env.get("force_local_models"),
            default_strategy=env.get("default_strategy"),
        ),
        budgets=tuple(
            BudgetInfo(
                scope=b["scope"],
                target=b.get("target", ""),
                period=b["period"],
                limit_usd=_float(b.get("limit_usd")),
                per_request_usd=_float(b.get("per_request_usd")),
                warning_threshold=float(b.get("warning_threshold", 0.8)),
            )
            for b in data.get("budgets", [])
        ),
        session_budget=DEFAULT_SESSION_BUDGET
        if not session
        else SessionBudgetInfo(session["warning_tokens"], session["switch_tokens"]),
        agent_session_budgets=MappingProxyType(
            {
                key: SessionBudgetInfo(v["warning_tokens"], v["switch_tokens"])
                for key, v in (data.get("agent_session_budgets") or {}).items()
            }
        ),
        experiments=tuple(
            ExperimentInfo(
                key=e["key"],
                agent=e["agent"],
                variants=tuple((v["model"], float(v["weight"])) for v in e["variants"]),
                sticky_by=e.get("sticky_by", "session"),
            )
            for e in data.get("experiments", [])
        ),
    )
