"""Turn parsed documents into the desired state, checking every cross-reference.

Pure apart from reading which keys already exist in the database (passed in as
`Existing`), so every problem in every file is reported at once, before any write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from routing.choices import RULE_ACTION_ALIASES, ModelType, RuleAction, Tier
from routing.conditions import check_condition
from routing.config_io.catalog import KNOWN_PROVIDERS, inferred_kind
from routing.config_io.errors import ConfigIssue
from routing.config_io.loader import API_KEY_MESSAGE, LoadedConfig

ENV_REF = re.compile(r"^\$\{([A-Z_][A-Z0-9_]*)\}$")
DEFAULT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Existing:
    """Keys already in the database that files may refer to."""

    providers: dict[str, str] = field(default_factory=dict)  # name -> tier
    models: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (provider, model_id)
    agents: frozenset[str] = frozenset()
    strategies: frozenset[str] = frozenset()
    environments: frozenset[str] = frozenset()


@dataclass
class Desired:
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Providers only named (seed 002) and missing from the database: created from the catalog.
    implied_providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Models only listed under a seed 003 provider: created when missing, else left alone.
    listed_models: dict[str, dict[str, Any]] = field(default_factory=dict)
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)
    agent_rules: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    strategies: dict[str, dict[str, Any]] = field(default_factory=dict)
    default_strategy: str | None = None
    global_rules: list[dict[str, Any]] | None = None
    factors: list[dict[str, Any]] | None = None
    task_routes: list[dict[str, Any]] | None = None
    fallback_chain: list[str] | None = None
    budgets: list[dict[str, Any]] = field(default_factory=list)
    session_budgets: list[dict[str, Any]] = field(default_factory=list)
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    active_environment: str | None = None


def _money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


MONEY_PLACES = 8  # the decimal places of the money columns
MONEY_MAX = Decimal(10**6)


class Resolver:
    def __init__(self, loaded: LoadedConfig, existing: Existing):
        self.loaded = loaded
        self.existing = existing
        self.issues: list[ConfigIssue] = []
        self.desired = Desired()

    def issue(self, file: str, path: str, message: str) -> None:
        self.issues.append(ConfigIssue(file, path, message))

    def money(self, value: Any, file: str, path: str) -> Decimal | None:
        amount = _money(value)
        if amount is None:
            return None
        exponent = amount.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -MONEY_PLACES:
            self.issue(file, path, f"{value} has more than {MONEY_PLACES} decimal places")
        elif amount >= MONEY_MAX:
            self.issue(file, path, f"{value} is too large (at most {MONEY_MAX - 1} USD)")
        return amount

    # -- lookups over files and database together ------------------------------------
    def provider_tier(self, name: str) -> str | None:
        if name in self.desired.providers:
            return self.desired.providers[name]["tier"]
        if name in self.existing.providers:
            return self.existing.providers[name]
        known = KNOWN_PROVIDERS.get(name)
        return known.tier if known else None

    def require_provider(self, name: str, file: str, path: str) -> bool:
        if name in self.desired.providers or name in self.existing.providers:
            return True
        known = KNOWN_PROVIDERS.get(name)
        if known is None:
            self.issue(
                file,
                path,
                f"unknown provider '{name}': define it under providers in llm_routing.yaml "
                f"(known without definition: {', '.join(sorted(KNOWN_PROVIDERS))})",
            )
            return False
        self.desired.implied_providers.setdefault(
            name,
            {
                "kind": known.kind,
                "tier": known.tier,
                "base_url": known.base_url,
                "api_key_env": known.api_key_env,
                "timeout_s": DEFAULT_TIMEOUT_S,
                "default_model": "",
                "model_roles": {},
                "rate_limit_rpm": None,
                "options": {},
            },
        )
        return True

    def upstream_key(self, provider: str, model_id: str) -> str | None:
        for key, spec in self.desired.models.items():
            if (spec["provider"], spec["model_id"]) == (provider, model_id):
                return key
        for key, spec in self.desired.listed_models.items():
            if (spec["provider"], spec["model_id"]) == (provider, model_id):
                return key
        for key, pair in self.existing.models.items():
            if pair == (provider, model_id) and key not in self.desired.models:
                return key
        return None

    def model_known(self, key: str) -> bool:
        return (
            key in self.desired.models
            or key in self.desired.listed_models
            or key in self.existing.models
        )

    def require_model(self, key: str, file: str, path: str) -> bool:
        if self.model_known(key):
            return True
        self.issue(file, path, f"unknown model '{key}': define it in models.yaml")
        return False

    def require_strategy(self, key: str, file: str, path: str) -> bool:
        if key in self.desired.strategies or key in self.existing.strategies:
            return True
        known = sorted(set(self.desired.strategies) | set(self.existing.strategies))
        self.issue(file, path, f"unknown strategy '{key}' (known: {', '.join(known) or 'none'})")
        return False

    def check_condition(self, source: str, file: str, path: str) -> None:
        error = check_condition(source)
        if error is not None:
            self.issue(file, path, f"condition does not parse: {error}")

    def action(self, raw: str | None, default: str, file: str, path: str) -> str | None:
        value = raw if raw is not None else default
        if value in RuleAction.values:
            return value
        if value in RULE_ACTION_ALIASES:
            return RULE_ACTION_ALIASES[value].value
        known = ", ".join([*RuleAction.values, *RULE_ACTION_ALIASES])
        self.issue(file, path, f"unknown action '{value}' (known: {known})")
        return None

    # -- files ---------------------------------------------------------------------
    def resolve(self, environment: str | None) -> Desired:
        if (doc := self.loaded.get("llm_routing.yaml")) is not None:
            self.providers(doc)
        if (doc := self.loaded.get("models.yaml")) is not None:
            self.models(doc)
        if (doc := self.loaded.get("llm_routing.yaml")) is not None:
            self.listed_models(doc)
        if (doc := self.loaded.get("routing.yaml")) is not None:
            self.strategies(doc)
        if (doc := self.loaded.get("agents.yaml")) is not None:
            self.agents(doc)
        if (doc := self.loaded.get("routing.yaml")) is not None:
            self.routing(doc)
        if (doc := self.loaded.get("llm_routing.yaml")) is not None:
            self.task_routes(doc)
            self.cost_limits(doc)
            self.fallback_chain(doc)
        self.environments(environment)
        return self.desired

    def providers(self, doc: dict[str, Any]) -> None:
        file = "llm_routing.yaml"
        for tier, entries in (doc.get("providers") or {}).items():
            for name, spec in entries.items():
                path = f"providers.{tier}.{name}"
                if name in self.desired.providers:
                    self.issue(file, path, f"provider '{name}' is defined under two tiers")
                    continue
                api_key_env = ""
                if "api_key" in spec:
                    match = ENV_REF.match(spec["api_key"])
                    if match is None:
                        # Never echo the value: it may be a real secret.
                        self.issue(file, f"{path}.api_key", API_KEY_MESSAGE)
                    else:
                        api_key_env = match.group(1)
                known = KNOWN_PROVIDERS.get(name)
                roles = spec.get("models") if isinstance(spec.get("models"), dict) else {}
                self.desired.providers[name] = {
                    "kind": spec.get("kind") or inferred_kind(name),
                    "tier": tier,
                    "base_url": spec.get("base_url") or (known.base_url if known else ""),
                    "api_key_env": api_key_env,
                    "timeout_s": float(spec.get("timeout", DEFAULT_TIMEOUT_S)),
                    "default_model": spec.get("default_model", ""),
                    "model_roles": dict(roles),
                    "rate_limit_rpm": spec.get("rate_limit"),
                    "options": dict(spec.get("options", {})),
                }

    def models(self, doc: dict[str, Any]) -> None:
        file = "models.yaml"
        for key, spec in doc["models"].items():
            path = f"models.{key}"
            provider = spec["provider"]
            if not self.require_provider(provider, file, f"{path}.provider"):
                continue
            if spec["type"] == ModelType.LOCAL and self.provider_tier(provider) != Tier.LOCAL:
                self.issue(
                    file,
                    f"{path}.type",
                    f"a local model cannot run on provider '{provider}', which is not in the local tier",
                )
            model_id = spec.get("model_id", key)
            clash = self.upstream_key(provider, model_id)
            if clash is not None and clash != key and clash in self.desired.models:
                self.issue(
                    file, f"{path}.model_id", f"'{provider}:{model_id}' is already model '{clash}'"
                )
            stored = next(
                (
                    k
                    for k, pair in self.existing.models.items()
                    if pair == (provider, model_id) and k != key
                ),
                None,
            )
            if stored is not None and stored not in self.desired.models:
                self.issue(
                    file,
                    f"{path}.model_id",
                    f"'{provider}:{model_id}' is already model '{stored}' in the database; "
                    "use that key (or rename it there first)",
                )
            costs = spec.get("cost_per_1k_tokens", {})
            limits = spec.get("rate_limits", {})
            self.desired.models[key] = {
                "provider": provider,
                "model_id": model_id,
                "type": spec["type"],
                "capabilities": list(spec.get("capabilities", [])),
                "cost_input_per_1k": self.money(
                    costs.get("input"), file, f"{path}.cost_per_1k_tokens.input"
                ),
                "cost_output_per_1k": self.money(
                    costs.get("output"), file, f"{path}.cost_per_1k_tokens.output"
                ),
                "context_window": spec.get("context_window"),
                "requests_per_minute": limits.get("requests_per_minute"),
                "tokens_per_minute": limits.get("tokens_per_minute"),
                "tokens_per_second": spec.get("performance", {}).get("tokens_per_second"),
                "resource_requirements": dict(spec.get("resource_requirements", {})),
                "model_path": spec.get("model_path", ""),
                "endpoint": spec.get("endpoint", ""),
                "timeout_s": spec.get("timeout"),
                "enabled": spec.get("enabled", True),
            }

    def listed_models(self, doc: dict[str, Any]) -> None:
        """Seed 003 lists upstream model ids under each provider; make sure each exists."""
        for tier, entries in (doc.get("providers") or {}).items():
            for name, spec in entries.items():
                listed = spec.get("models", [])
                ids = list(listed.values()) if isinstance(listed, dict) else list(listed)
                if spec.get("default_model"):
                    ids.insert(0, spec["default_model"])
                for model_id in dict.fromkeys(ids):
                    if self.upstream_key(name, model_id) is not None:
                        continue
                    self.desired.listed_models[f"{name}:{model_id}"] = {
                        "provider": name,
                        "model_id": model_id,
                        "type": ModelType.LOCAL if tier == Tier.LOCAL else ModelType.CLOUD,
                        # A local model costs nothing; a cloud model's price stays unknown
                        # until models.yaml gives it.
                        "cost_input_per_1k": Decimal(0) if tier == Tier.LOCAL else None,
                        "cost_output_per_1k": Decimal(0) if tier == Tier.LOCAL else None,
                    }

    def strategies(self, doc: dict[str, Any]) -> None:
        for key, spec in (doc["routing"].get("strategies") or {}).items():
            fields: dict[str, Any] = {
                "description": spec.get("description", ""),
                "prefer_local": None,
                "prefer_cloud": None,
                "allow_cloud": None,
                "required_model_type": "",
                "cloud_budget_per_day": None,
                "complexity_threshold": None,
                "confidence_threshold": None,
                "parallel_requests": None,
                "cache_responses": None,
                "cloud_for_complex_tasks": None,
                "local_for_routine_tasks": None,
                "dynamic_routing": None,
                "weights": dict(spec.get("weights", {})),
            }
            for rule in spec.get("rules", []):
                ((name, value),) = rule.items()
                if name == "fallback_to_cloud_threshold":
                    fields["complexity_threshold"] = value.get("complexity")
                    fields["confidence_threshold"] = value.get("confidence")
                elif name == "cloud_budget_per_day":
                    fields[name] = self.money(
                        value, "routing.yaml", f"routing.strategies.{key}.rules"
                    )
                else:
                    fields[STRATEGY_RULE_FIELDS[name]] = value
            self.desired.strategies[key] = fields

    def agents(self, doc: dict[str, Any]) -> None:
        file = "agents.yaml"
        for key, spec in doc["agents"].items():
            path = f"agents.{key}"
            prefs = spec.get("model_preferences", {})
            for role, model_key in prefs.items():
                self.require_model(model_key, file, f"{path}.model_preferences.{role}")
            rules = []
            for i, rule in enumerate(spec.get("routing_rules", [])):
                rpath = f"{path}.routing_rules[{i}]"
                self.check_condition(rule["condition"], file, f"{rpath}.condition")
                action = self.action(
                    rule.get("action"), RuleAction.USE_MODEL, file, f"{rpath}.action"
                )
                if "model" in rule:
                    self.require_model(rule["model"], file, f"{rpath}.model")
                elif action == RuleAction.USE_MODEL:
                    self.issue(file, rpath, "a rule that uses a model must name it in 'model'")
                rules.append(
                    {
                        "name": rule.get("name", ""),
                        "position": i,
                        "condition": rule["condition"],
                        "action": action,
                        "model": rule.get("model"),
                        "enabled": rule.get("enabled", True),
                    }
                )
            self.desired.agents[key] = {
                "name": spec["name"],
                "description": spec.get("description", ""),
                "primary_model": prefs.get("primary"),
                "fallback_model": prefs.get("fallback"),
                "local_alternative": prefs.get("local_alternative"),
                "budget_mode_model": prefs.get("budget_mode"),
                "capabilities_required": list(spec.get("capabilities_required", [])),
                "default_privacy_level": spec.get("default_privacy_level", "low"),
            }
            self.desired.agent_rules[key] = rules

    def routing(self, doc: dict[str, Any]) -> None:
        file = "routing.yaml"
        routing = doc["routing"]
        default = routing.get("default_strategy")
        if default is not None and self.require_strategy(default, file, "routing.default_strategy"):
            self.desired.default_strategy = default
        if "global_rules" in routing:
            rules, names = [], set()
            for i, rule in enumerate(routing["global_rules"]):
                path = f"routing.global_rules[{i}]"
                if rule["name"] in names:
                    self.issue(file, f"{path}.name", f"rule name '{rule['name']}' is used twice")
                names.add(rule["name"])
                self.check_condition(rule["condition"], file, f"{path}.condition")
                action = self.action(rule["action"], RuleAction.USE_MODEL, file, f"{path}.action")
                if "model" in rule:
                    self.require_model(rule["model"], file, f"{path}.model")
                elif action == RuleAction.USE_MODEL:
                    self.issue(file, path, "a rule that uses a model must name it in 'model'")
                rules.append(
                    {
                        "name": rule["name"],
                        "position": i,
                        "condition": rule["condition"],
                        "action": action,
                        "model": rule.get("model"),
                        "enabled": rule.get("enabled", True),
                    }
                )
            self.desired.global_rules = rules
        if "routing_factors" in routing:
            seen = set()
            factors = []
            for i, factor in enumerate(routing["routing_factors"]):
                if factor["name"] in seen:
                    self.issue(
                        file,
                        f"routing.routing_factors[{i}].name",
                        f"factor '{factor['name']}' is listed twice",
                    )
                seen.add(factor["name"])
                factors.append(
                    {
                        "name": factor["name"],
                        "weight": float(factor["weight"]),
                        "calculation": factor.get("calculation", ""),
                    }
                )
            self.desired.factors = factors

    def _target(self, target: str, file: str, path: str) -> dict[str, Any] | None:
        provider, _, model_id = target.partition(":")
        if not self.require_provider(provider, file, path):
            return None
        if not model_id:
            return {"provider": provider, "model": None}
        key = self.upstream_key(provider, model_id)
        if key is None:
            self.issue(
                file,
                path,
                f"unknown model '{model_id}' of provider '{provider}': list it under the provider's "
                "models or define it in models.yaml",
            )
            return None
        return {"provider": provider, "model": key}

    def task_routes(self, doc: dict[str, Any]) -> None:
        if "routing_rules" not in doc:
            return
        routes = []
        for task_type, bands in doc["routing_rules"].items():
            for band, targets in bands.items():
                for position, target in enumerate(targets):
                    resolved = self._target(
                        target, "llm_routing.yaml", f"routing_rules.{task_type}.{band}[{position}]"
                    )
                    if resolved is not None:
                        routes.append(
                            {"task_type": task_type, "band": band, "position": position, **resolved}
                        )
        self.desired.task_routes = routes

    def cost_limits(self, doc: dict[str, Any]) -> None:
        limits = doc.get("cost_limits")
        if limits is None:
            return
        file = "llm_routing.yaml"
        warning = float(limits.get("warning_threshold", 0.8))
        self._budget_rows(
            "global",
            "",
            {
                "daily": limits.get("daily_budget"),
                "monthly": limits.get("monthly_budget"),
                "per_request": limits.get("per_request"),
                "warning_threshold": warning,
            },
            "cost_limits",
            {"daily": "daily_budget", "monthly": "monthly_budget"},
        )
        for name, spec in limits.get("provider_limits", {}).items():
            if self.require_provider(name, file, f"cost_limits.provider_limits.{name}"):
                self._budget_rows("provider", name, spec, f"cost_limits.provider_limits.{name}")
        for key, spec in limits.get("agent_limits", {}).items():
            if key in self.desired.agents or key in self.existing.agents:
                self._budget_rows("agent", key, spec, f"cost_limits.agent_limits.{key}")
            else:
                self.issue(
                    file,
                    f"cost_limits.agent_limits.{key}",
                    f"unknown agent '{key}': define it in agents.yaml",
                )
        for key, spec in limits.get("model_limits", {}).items():
            if self.require_model(key, file, f"cost_limits.model_limits.{key}"):
                self._budget_rows("model", key, spec, f"cost_limits.model_limits.{key}")
        if "session_tokens" in limits:
            tokens = limits["session_tokens"]
            if tokens["warning"] >= tokens["switch_to_local"]:
                self.issue(
                    file,
                    "cost_limits.session_tokens",
                    "warning must be below switch_to_local",
                )
            self.desired.session_budgets.append(
                {"warning_tokens": tokens["warning"], "switch_tokens": tokens["switch_to_local"]}
            )

    def _budget_rows(
        self,
        scope: str,
        target: str,
        spec: dict[str, Any],
        path: str,
        names: dict[str, str] | None = None,
    ) -> None:
        names = names or {}
        file = "llm_routing.yaml"

        def money(key: str) -> Decimal | None:
            return self.money(spec.get(key), file, f"{path}.{names.get(key, key)}")

        common = {
            "warning_threshold": float(spec.get("warning_threshold", 0.8)),
            "enabled": spec.get("enabled", True),
        }
        daily, monthly, per_request = money("daily"), money("monthly"), money("per_request")
        if daily is not None or per_request is not None:
            self.desired.budgets.append(
                {
                    "scope": scope,
                    "target": target,
                    "period": "day",
                    "limit_usd": daily,
                    "per_request_limit_usd": per_request,
                    **common,
                }
            )
        if monthly is not None:
            self.desired.budgets.append(
                {
                    "scope": scope,
                    "target": target,
                    "period": "month",
                    "limit_usd": monthly,
                    "per_request_limit_usd": None,
                    **common,
                }
            )

    def fallback_chain(self, doc: dict[str, Any]) -> None:
        if "fallback_chain" not in doc:
            return
        chain = []
        for i, name in enumerate(doc["fallback_chain"]):
            if self.require_provider(name, "llm_routing.yaml", f"fallback_chain[{i}]"):
                chain.append(name)
        self.desired.fallback_chain = chain

    def environments(self, active: str | None) -> None:
        for name, doc in self.loaded.environments.items():
            file = f"environments/{name}.yaml"
            overrides = doc["routing"]["global_overrides"]
            if "default_strategy" in overrides:
                self.require_strategy(
                    overrides["default_strategy"], file, "routing.global_overrides.default_strategy"
                )
            self.desired.environments[name] = {
                "max_cloud_spend_per_day": self.money(
                    overrides.get("max_cloud_spend_per_day"),
                    file,
                    "routing.global_overrides.max_cloud_spend_per_day",
                ),
                "require_local_for_pii": overrides.get("require_local_for_pii"),
                "force_local_models": overrides.get("force_local_models"),
                "verbose_routing_logs": overrides.get("verbose_routing_logs"),
                "default_strategy": overrides.get("default_strategy"),
            }
        if active:
            if active not in self.desired.environments and active not in self.existing.environments:
                self.issue(
                    f"environments/{active}.yaml",
                    "",
                    f"SWITCHBOARD_ENVIRONMENT names environment '{active}', but there is no such file",
                )
            self.desired.active_environment = active


STRATEGY_RULE_FIELDS = {
    "prefer_local_models": "prefer_local",
    "prefer_cloud_models": "prefer_cloud",
    "allow_cloud_models": "allow_cloud",
    "required_model_type": "required_model_type",
    "parallel_requests": "parallel_requests",
    "cache_responses": "cache_responses",
    "cloud_for_complex_tasks": "cloud_for_complex_tasks",
    "local_for_routine_tasks": "local_for_routine_tasks",
    "dynamic_routing": "dynamic_routing",
}
