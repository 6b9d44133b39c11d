"""Apply a configuration directory to the database: all or nothing, idempotent."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction

from agents.models import Agent
from routing.choices import ChangeSource, RuleScope
from routing.config_io.errors import ConfigImportError, ConfigIssue
from routing.config_io.loader import load_directory
from routing.config_io.resolver import Desired, Existing, Resolver
from routing.models import (
    Budget,
    EnvironmentProfile,
    FallbackStep,
    LLMModel,
    Provider,
    RoutingFactor,
    RoutingRule,
    RoutingSettings,
    SessionTokenBudget,
    Strategy,
    TaskRoute,
)
from routing.services import (
    change_log_record,
    config_revision_bump,
    config_revision_current,
    snapshot_of,
)


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    changes: list[str] = field(default_factory=list)
    config_version: int = 0
    active_environment: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)


def _existing() -> Existing:
    return Existing(
        providers=dict(Provider.objects.values_list("name", "tier")),
        models={
            k: (p, m)
            for k, p, m in LLMModel.objects.values_list("key", "provider__name", "model_id")
        },
        agents=frozenset(Agent.objects.values_list("key", flat=True)),
        strategies=frozenset(Strategy.objects.values_list("key", flat=True)),
        environments=frozenset(EnvironmentProfile.objects.values_list("name", flat=True)),
    )


def import_config(
    directory: str | Path,
    *,
    environment: str | None = None,
    actor: Any = None,
    actor_label: str = "import",
) -> ImportResult:
    """Read, check and apply `directory`. Raises ConfigImportError listing every problem;
    when it does, nothing was written."""
    loaded, issues = load_directory(Path(directory))
    if issues:
        raise ConfigImportError(issues)
    resolver = Resolver(loaded, _existing())
    desired = resolver.resolve(environment)
    if resolver.issues:
        raise ConfigImportError(resolver.issues)
    applier = _Applier(actor=actor, actor_label=actor_label)
    with transaction.atomic():
        applier.apply(desired)
        if applier.issues:
            # Leaving the atomic block by an exception rolls every write back.
            raise ConfigImportError(applier.issues)
        if applier.result.changed:
            config_revision_bump()
    applier.result.config_version = config_revision_current()
    applier.result.active_environment = desired.active_environment
    return applier.result


class _Applier:
    def __init__(self, *, actor: Any, actor_label: str):
        self.actor = actor
        self.actor_label = actor_label
        self.result = ImportResult()
        self.issues: list[ConfigIssue] = []
        self.providers: dict[str, Provider] = {}
        self.models: dict[str, LLMModel] = {}
        self.strategy_pk: dict[str, int] = {}

    # -- generic ---------------------------------------------------------------------
    def _log(self, verb: str, obj: models.Model, key: str, before: Any, after: Any) -> None:
        target_type = obj._meta.model_name or ""
        change_log_record(
            action=f"{target_type}.{verb}",
            target_type=target_type,
            target_key=key,
            before=before,
            after=after,
            source=ChangeSource.IMPORT,
            actor=self.actor,
            actor_label=self.actor_label,
            reason="configuration import",
        )
        self.result.changes.append(f"{verb} {target_type} {key}")

    def _save(self, obj: models.Model, where: Where) -> bool:
        """Validate against the model (the last line of defence: column sizes, URL and
        constraint checks) and report a failure at the row's file and key path."""
        try:
            obj.full_clean()
        except ValidationError as exc:
            file, path = where
            for name, messages in exc.message_dict.items():
                for message in messages:
                    field = "" if name == "__all__" else f"{FIELD_KEYS.get(name, name)}: "
                    self.issues.append(ConfigIssue(file, path, f"{field}{message}"))
            return False
        obj.save()
        return True

    def upsert(
        self,
        model: type[models.Model],
        lookup: dict[str, Any],
        fields: dict[str, Any],
        key: str,
        where: Where,
    ) -> Any:
        obj = model.objects.filter(**lookup).first()
        if obj is None:
            obj = model(**lookup, **fields)
            if self._save(obj, where):
                self.result.created += 1
                self._log("create", obj, key, None, snapshot_of(obj))
            return obj
        changed = [name for name, value in fields.items() if getattr(obj, name) != value]
        if changed:
            before = snapshot_of(obj)
            for name in changed:
                setattr(obj, name, fields[name])
            if self._save(obj, where):
                self.result.updated += 1
                self._log("update", obj, key, before, snapshot_of(obj))
        return obj

    def replace_list(
        self,
        model: type[models.Model],
        queryset: models.QuerySet[Any],
        rows: list[dict[str, Any]],
        compare: list[str],
        key: str,
        where: Where,
    ) -> None:
        """Make an ordered list of rows equal to `rows`, rewriting it only if it differs."""
        current = [{name: getattr(obj, name) for name in compare} for obj in queryset]
        wanted = [{name: row[name] for name in compare} for row in rows]
        if current == wanted:
            return
        before = [snapshot_of(obj) for obj in queryset]
        deleted, _ = queryset.delete()
        created = []
        for i, row in enumerate(rows):
            obj = model(**row)
            if self._save(obj, (where[0], f"{where[1]}[{i}]")):
                created.append(snapshot_of(obj))
        self.result.deleted += deleted
        self.result.created += len(created)
        change_log_record(
            action=f"{model._meta.model_name}.replace",
            target_type=model._meta.model_name or "",
            target_key=key,
            before={"rows": before},
            after={"rows": created},
            source=ChangeSource.IMPORT,
            actor=self.actor,
            actor_label=self.actor_label,
            reason="configuration import",
        )
        self.result.changes.append(f"replace {model._meta.model_name} {key}")

    def model_id(self, key: str | None) -> int | None:
        if key is None:
            return None
        if key not in self.models:
            self.models[key] = LLMModel.objects.get(key=key)
        return self.models[key].pk

    def provider_id(self, name: str) -> int:
        if name not in self.providers:
            self.providers[name] = Provider.objects.get(name=name)
        return self.providers[name].pk

    # -- in dependency order; stop at the first stage that failed, since later stages
    # -- would only look up the rows it could not write ---------------------------------
    def apply(self, d: Desired) -> None:
        for stage in (self.apply_registry, self.apply_policy, self.apply_agents, self.apply_tables):
            stage(d)
            if self.issues:
                return
        self.apply_budgets(d)
        self.apply_environments(d)

    def apply_registry(self, d: Desired) -> None:
        for name, fields in d.providers.items():
            where = (LLM_ROUTING, f"providers.{fields['tier']}.{name}")
            self.providers[name] = self.upsert(Provider, {"name": name}, fields, name, where)
        for name, fields in d.implied_providers.items():
            if not Provider.objects.filter(name=name).exists():
                where = ("models.yaml", f"models (provider {name})")
                self.providers[name] = self.upsert(Provider, {"name": name}, fields, name, where)
        if self.issues:
            return
        for key, spec in d.models.items():
            fields = {k: v for k, v in spec.items() if k != "provider"}
            fields["provider_id"] = self.provider_id(spec["provider"])
            where = ("models.yaml", f"models.{key}")
            self.models[key] = self.upsert(LLMModel, {"key": key}, fields, key, where)
        for key, spec in d.listed_models.items():
            if not LLMModel.objects.filter(key=key).exists():
                fields = {k: v for k, v in spec.items() if k != "provider"}
                fields["provider_id"] = self.provider_id(spec["provider"])
                where = (LLM_ROUTING, f"providers ({spec['provider']} model {spec['model_id']})")
                self.models[key] = self.upsert(LLMModel, {"key": key}, fields, key, where)

    def apply_policy(self, d: Desired) -> None:
        for key, fields in d.strategies.items():
            self.upsert(
                Strategy, {"key": key}, fields, key, ("routing.yaml", f"routing.strategies.{key}")
            )
        if self.issues:
            return
        self.strategy_pk = dict(Strategy.objects.values_list("key", "pk"))
        if d.default_strategy is not None:
            self.upsert(
                RoutingSettings,
                {"pk": 1},
                {"default_strategy_id": self.strategy_pk[d.default_strategy]},
                "default",
                ("routing.yaml", "routing.default_strategy"),
            )
        if d.global_rules is not None:
            self.replace_list(
                RoutingRule,
                RoutingRule.objects.filter(scope=RuleScope.GLOBAL).order_by("position"),
                [
                    self.rule_row(rule, scope=RuleScope.GLOBAL, agent_id=None)
                    for rule in d.global_rules
                ],
                RULE_FIELDS,
                "global",
                ("routing.yaml", "routing.global_rules"),
            )
        for i, factor in enumerate(d.factors or []):
            self.upsert(
                RoutingFactor,
                {"name": factor["name"]},
                {k: v for k, v in factor.items() if k != "name"},
                factor["name"],
                ("routing.yaml", f"routing.routing_factors[{i}]"),
            )

    def rule_row(self, rule: dict[str, Any], *, scope: str, agent_id: int | None) -> dict[str, Any]:
        return {
            "scope": scope,
            "agent_id": agent_id,
            "name": rule["name"],
            "position": rule["position"],
            "condition": rule["condition"],
            "action": rule["action"],
            "model_id": self.model_id(rule["model"]),
            "enabled": rule["enabled"],
        }

    def apply_agents(self, d: Desired) -> None:
        for key, spec in d.agents.items():
            fields = dict(spec)
            for role in (
                "primary_model",
                "fallback_model",
                "local_alternative",
                "budget_mode_model",
            ):
                fields[f"{role}_id"] = self.model_id(fields.pop(role))
            agent = self.upsert(Agent, {"key": key}, fields, key, ("agents.yaml", f"agents.{key}"))
            if agent.pk is None:
                continue
            self.replace_list(
                RoutingRule,
                RoutingRule.objects.filter(scope=RuleScope.AGENT, agent=agent).order_by("position"),
                [
                    self.rule_row(rule, scope=RuleScope.AGENT, agent_id=agent.pk)
                    for rule in d.agent_rules[key]
                ],
                RULE_FIELDS,
                f"agent:{key}",
                ("agents.yaml", f"agents.{key}.routing_rules"),
            )

    def apply_tables(self, d: Desired) -> None:
        """Seed 003's task type x complexity table and its fallback chain."""
        if d.task_routes is not None:
            rows = sorted(
                (
                    {
                        "task_type": r["task_type"],
                        "band": r["band"],
                        "position": r["position"],
                        "provider_id": self.provider_id(r["provider"]),
                        "model_id": self.model_id(r["model"]),
                    }
                    for r in d.task_routes
                ),
                key=lambda r: (r["task_type"], r["band"], r["position"]),
            )
            self.replace_list(
                TaskRoute,
                TaskRoute.objects.order_by("task_type", "band", "position"),
                rows,
                ["task_type", "band", "position", "provider_id", "model_id"],
                "all",
                (LLM_ROUTING, "routing_rules"),
            )
        if d.fallback_chain is not None:
            self.replace_list(
                FallbackStep,
                FallbackStep.objects.order_by("position"),
                [
                    {"position": i, "provider_id": self.provider_id(n)}
                    for i, n in enumerate(d.fallback_chain)
                ],
                ["position", "provider_id"],
                "all",
                (LLM_ROUTING, "fallback_chain"),
            )

    def apply_budgets(self, d: Desired) -> None:
        sections = {
            "global": "cost_limits",
            "provider": "cost_limits.provider_limits",
            "agent": "cost_limits.agent_limits",
            "model": "cost_limits.model_limits",
        }
        for budget in d.budgets:
            scope, target, period = budget["scope"], budget["target"], budget["period"]
            lookup: dict[str, Any] = {"scope": scope, "period": period}
            if scope == "provider":
                lookup["provider_id"] = self.provider_id(target)
            elif scope == "model":
                lookup["model_id"] = self.model_id(target)
            elif scope == "agent":
                lookup["agent_id"] = Agent.objects.values_list("pk", flat=True).get(key=target)
            fields = {
                k: budget[k]
                for k in ("limit_usd", "per_request_limit_usd", "warning_threshold", "enabled")
            }
            path = sections[scope] + (f".{target}" if target else "")
            self.upsert(
                Budget, lookup, fields, f"{scope}:{target or '*'}:{period}", (LLM_ROUTING, path)
            )
        for tokens in d.session_budgets:
            self.upsert(
                SessionTokenBudget,
                {"scope": RuleScope.GLOBAL},
                tokens,
                "global",
                (LLM_ROUTING, "cost_limits.session_tokens"),
            )

    def apply_environments(self, d: Desired) -> None:
        for name, spec in d.environments.items():
            fields = dict(spec)
            fields["default_strategy_id"] = self.strategy_pk.get(
                fields.pop("default_strategy") or ""
            )
            where = (f"environments/{name}.yaml", "routing.global_overrides")
            self.upsert(EnvironmentProfile, {"name": name}, fields, name, where)
        # Deactivate first: the database allows one active environment at a time.
        active = d.active_environment or ""
        for profile in EnvironmentProfile.objects.filter(active=True).exclude(name=active):
            where = (f"environments/{profile.name}.yaml", "")
            self.upsert(
                EnvironmentProfile, {"pk": profile.pk}, {"active": False}, profile.name, where
            )
        if active:
            where = (f"environments/{active}.yaml", "")
            self.upsert(EnvironmentProfile, {"name": active}, {"active": True}, active, where)


Where = tuple[str, str]  # (file, key path) a row came from, for error messages
LLM_ROUTING = "llm_routing.yaml"
RULE_FIELDS = [
    "scope",
    "agent_id",
    "name",
    "position",
    "condition",
    "action",
    "model_id",
    "enabled",
]
# Model fields named as the configuration files name them, in error messages.
FIELD_KEYS = {
    "cost_input_per_1k": "cost_per_1k_tokens.input",
    "cost_output_per_1k": "cost_per_1k_tokens.output",
    "timeout_s": "timeout",
    "requests_per_minute": "rate_limits.requests_per_minute",
    "tokens_per_minute": "rate_limits.tokens_per_minute",
    "limit_usd": "limit",
    "per_request_limit_usd": "per_request",
}
