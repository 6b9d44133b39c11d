"""Runtime controls: time-limited overrides and force-local mode.

Every function here changes what the engine does, so each one, in one transaction,
writes the change, one change-log entry, and bumps the config revision (every process
then reloads its snapshot within a second).

The change log's before/after is "what was in force for this target": setting an
override over another records the old one as `before` (it is ended, not deleted);
ending one records `after` as None. An override whose expiry has passed already stops
applying (the engine compares times); `overrides_expire` records that it ended, and so
does any set or end that finds one still open for its target.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from agents.models import Agent
from routing.choices import ChangeSource, OverrideScope
from routing.models import (
    AgentModelOverride,
    ControlState,
    LLMModel,
    Strategy,
    StrategyOverride,
    TaskOverride,
)
from routing.services.change_log import change_log_record
from routing.services.config_revision import config_revision_bump

EXPIRED_LABEL = "system (expired)"
SYSTEM_LABEL = "system"
GLOBAL_TARGET = "global"

MSG_NO_REASON = "Give a reason: the change log records why every control changed."
MSG_BAD_DURATION = "A duration must be longer than zero."
MSG_DURATION_WHEN_OFF = "A duration only applies when turning force-local mode on."
MSG_EXPIRED = "Expired at {at}."


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _label(actor: Any) -> str:
    return actor.get_username() if actor is not None else SYSTEM_LABEL


def _author(actor: Any) -> Any:
    """The user to keep as a foreign key (an API key's pseudo-user has no row)."""
    return actor if actor is not None and getattr(actor, "pk", None) else None


def _window(o: Any) -> dict[str, Any]:
    return {
        "id": o.pk,
        "starts_at": _iso(o.starts_at),
        "expires_at": _iso(o.expires_at),
        "reason": o.reason,
        "author": o.author_label,
    }


def describe_strategy_override(o: StrategyOverride) -> dict[str, Any]:
    return {
        **_window(o),
        "scope": o.scope,
        "agent": o.agent.key if o.agent_id else None,
        "strategy": o.strategy.key,
    }


def describe_agent_model_override(o: AgentModelOverride) -> dict[str, Any]:
    return {**_window(o), "agent": o.agent.key, "model": o.model.key}


def describe_task_override(o: TaskOverride) -> dict[str, Any]:
    return {**_window(o), "task_id": o.task_id, "model": o.model.key}


def describe_force_local(state: ControlState) -> dict[str, Any]:
    return {
        "enabled": state.force_local,
        "reason": state.reason,
        "expires_at": _iso(state.expires_at),
        "author": state.author_label,
    }


@dataclass(frozen=True)
class _Kind:
    """One kind of override: its table, its name in the change log, how to describe it."""

    model: type[models.Model]
    name: str
    related: tuple[str, ...]
    describe: Callable[[Any], dict[str, Any]]
    target_key: Callable[[Any], str]


STRATEGY = _Kind(
    StrategyOverride,
    "strategy_override",
    ("agent", "strategy"),
    describe_strategy_override,
    lambda o: o.agent.key if o.agent_id else GLOBAL_TARGET,
)
AGENT_MODEL = _Kind(
    AgentModelOverride,
    "agent_model_override",
    ("agent", "model"),
    describe_agent_model_override,
    lambda o: o.agent.key,
)
TASK = _Kind(TaskOverride, "task_override", ("model",), describe_task_override, lambda o: o.task_id)
KINDS = (STRATEGY, AGENT_MODEL, TASK)


def _now(now: datetime | None) -> datetime:
    return timezone.now() if now is None else now


def _check_reason(reason: str) -> None:
    if not reason or not reason.strip():
        raise ValueError(MSG_NO_REASON)


def _check_duration(duration: timedelta | None) -> None:
    if duration is not None and duration <= timedelta(0):
        raise ValueError(MSG_BAD_DURATION)


def _expire(kind: _Kind, row: Any) -> int:
    """Record that `row` ended at its expiry. A conditional UPDATE: whoever closes the
    row first writes the entry; a duplicate run changes and records nothing."""
    closed = kind.model.objects.filter(pk=row.pk, ended_at__isnull=True).update(
        ended_at=row.expires_at, ended_by_label=EXPIRED_LABEL
    )
    if closed:
        change_log_record(
            action=f"{kind.name}.expire",
            target_type=kind.name,
            target_key=kind.target_key(row),
            before=kind.describe(row),
            after=None,
            reason=MSG_EXPIRED.format(at=_iso(row.expires_at)),
            source=ChangeSource.SYSTEM,
            actor_label=SYSTEM_LABEL,
        )
    return closed


def _open_for(kind: _Kind, target: Mapping[str, Any], now: datetime) -> tuple[Any, int]:
    """The override in force for `target` (locked), after recording the expiry of an
    open one whose time has passed. Returns (override or None, expiries recorded)."""
    rows = (
        kind.model.objects.select_for_update(of=("self",))
        .select_related(*kind.related)
        .filter(ended_at__isnull=True, **target)
    )
    current, expired = None, 0
    for row in rows:  # at most one: the database allows one open override per target
        if row.expires_at is not None and row.expires_at <= now:
            expired += _expire(kind, row)
        else:
            current = row
    return current, expired


def _set(
    kind: _Kind,
    target: Mapping[str, Any],
    fields: Mapping[str, Any],
    *,
    reason: str,
    actor: Any,
    source: ChangeSource,
    duration: timedelta | None,
    now: datetime,
) -> Any:
    _check_reason(reason)
    _check_duration(duration)
    label = _label(actor)
    with transaction.atomic():
        current, _ = _open_for(kind, target, now)
        if current is not None:
            # Ended first, so the partial unique constraint allows the new one.
            kind.model.objects.filter(pk=current.pk, ended_at__isnull=True).update(
                ended_at=max(now, current.starts_at), ended_by_label=label
            )
        override = kind.model.objects.create(
            **target,
            **fields,
            starts_at=now,
            expires_at=None if duration is None else now + duration,
            reason=reason,
            author=_author(actor),
            author_label=label,
        )
        change_log_record(
            action=f"{kind.name}.set",
            target_type=kind.name,
            target_key=kind.target_key(override),
            before=None if current is None else kind.describe(current),
            after=kind.describe(override),
            reason=reason,
            source=source,
            actor=_author(actor),
            actor_label=label,
        )
        config_revision_bump()
    return override


def _end(
    kind: _Kind,
    target: Mapping[str, Any],
    *,
    reason: str,
    actor: Any,
    source: ChangeSource,
    now: datetime,
) -> Any:
    """End the override in force for `target` early; None when there is none."""
    label = _label(actor)
    with transaction.atomic():
        current, expired = _open_for(kind, target, now)
        if current is not None:
            kind.model.objects.filter(pk=current.pk, ended_at__isnull=True).update(
                ended_at=max(now, current.starts_at), ended_by_label=label
            )
            change_log_record(
                action=f"{kind.name}.end",
                target_type=kind.name,
                target_key=kind.target_key(current),
                before=kind.describe(current),
                after=None,
                reason=reason,
                source=source,
                actor=_author(actor),
                actor_label=label,
            )
        if current is not None or expired:
            config_revision_bump()
    return current


def _strategy_target(agent: Agent | None) -> dict[str, Any]:
    if agent is None:
        return {"scope": OverrideScope.GLOBAL, "agent": None}
    return {"scope": OverrideScope.AGENT, "agent": agent}


def strategy_override_set(
    *,
    strategy: Strategy,
    duration: timedelta,
    reason: str,
    actor: Any,
    source: ChangeSource,
    agent: Agent | None = None,
    now: datetime | None = None,
) -> StrategyOverride:
    """Switch the strategy, globally or for one agent, for `duration`; replaces any
    override in force for the same target."""
    if duration is None:
        raise ValueError(MSG_BAD_DURATION)
    return _set(
        STRATEGY,
        _strategy_target(agent),
        {"strategy": strategy},
        reason=reason,
        actor=actor,
        source=source,
        duration=duration,
        now=_now(now),
    )


def strategy_override_end(
    *,
    actor: Any,
    source: ChangeSource,
    agent: Agent | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> StrategyOverride | None:
    return _end(
        STRATEGY, _strategy_target(agent), reason=reason, actor=actor, source=source, now=_now(now)
    )


def agent_model_override_set(
    *,
    agent: Agent,
    model: LLMModel,
    reason: str,
    actor: Any,
    source: ChangeSource,
    duration: timedelta | None = None,
    now: datetime | None = None,
) -> AgentModelOverride:
    """Pin an agent to a model, for `duration` or until ended."""
    return _set(
        AGENT_MODEL,
        {"agent": agent},
        {"model": model},
        reason=reason,
        actor=actor,
        source=source,
        duration=duration,
        now=_now(now),
    )


def agent_model_override_end(
    *,
    agent: Agent,
    actor: Any,
    source: ChangeSource,
    reason: str = "",
    now: datetime | None = None,
) -> AgentModelOverride | None:
    return _end(
        AGENT_MODEL, {"agent": agent}, reason=reason, actor=actor, source=source, now=_now(now)
    )


def task_override_set(
    *,
    task_id: str,
    model: LLMModel,
    reason: str,
    actor: Any,
    source: ChangeSource,
    duration: timedelta | None = None,
    now: datetime | None = None,
) -> TaskOverride:
    """Force one task id onto a model, for `duration` or until ended."""
    return _set(
        TASK,
        {"task_id": task_id},
        {"model": model},
        reason=reason,
        actor=actor,
        source=source,
        duration=duration,
        now=_now(now),
    )


def task_override_end(
    *,
    task_id: str,
    actor: Any,
    source: ChangeSource,
    reason: str = "",
    now: datetime | None = None,
) -> TaskOverride | None:
    return _end(
        TASK, {"task_id": task_id}, reason=reason, actor=actor, source=source, now=_now(now)
    )


def _force_local_expire(now: datetime) -> int:
    row = ControlState.objects.filter(pk=1, force_local=True, expires_at__lte=now).first()
    if row is None:
        return 0
    closed = ControlState.objects.filter(pk=1, force_local=True, expires_at=row.expires_at).update(
        force_local=False,
        expires_at=None,
        reason="",
        author=None,
        author_label=EXPIRED_LABEL,
        changed_at=now,
    )
    if closed:
        after = ControlState.objects.get(pk=1)
        change_log_record(
            action="force_local.expire",
            target_type="force_local",
            before=describe_force_local(row),
            after=describe_force_local(after),
            reason=MSG_EXPIRED.format(at=_iso(row.expires_at)),
            source=ChangeSource.SYSTEM,
            actor_label=SYSTEM_LABEL,
        )
    return closed


def force_local_set(
    *,
    enabled: bool,
    reason: str,
    actor: Any,
    source: ChangeSource,
    duration: timedelta | None = None,
    now: datetime | None = None,
) -> ControlState:
    """Turn force-local mode on (for `duration`, or until turned off) or off."""
    _check_reason(reason)
    _check_duration(duration)
    if duration is not None and not enabled:
        raise ValueError(MSG_DURATION_WHEN_OFF)
    now = _now(now)
    label = _label(actor)
    with transaction.atomic():
        ControlState.objects.get_or_create(pk=1)
        _force_local_expire(now)
        state = ControlState.objects.select_for_update().get(pk=1)
        before = describe_force_local(state)
        state.force_local = enabled
        state.reason = reason
        state.author = _author(actor)
        state.author_label = label
        state.expires_at = now + duration if enabled and duration is not None else None
        state.save(
            update_fields=[
                "force_local",
                "reason",
                "author",
                "author_label",
                "expires_at",
                "changed_at",
            ]
        )
        change_log_record(
            action="force_local.on" if enabled else "force_local.off",
            target_type="force_local",
            before=before,
            after=describe_force_local(state),
            reason=reason,
            source=source,
            actor=_author(actor),
            actor_label=label,
        )
        config_revision_bump()
    return state


def overrides_expire(now: datetime) -> int:
    """Close every open override (and force-local mode) whose expiry has passed, at its
    expiry, with one "system" change-log entry each. Returns how many it closed; a
    second run over the same rows closes none."""
    closed = 0
    with transaction.atomic():
        for kind in KINDS:
            due = kind.model.objects.select_related(*kind.related).filter(
                ended_at__isnull=True, expires_at__lte=now
            )
            for row in due:
                closed += _expire(kind, row)
        closed += _force_local_expire(now)
        if closed:
            config_revision_bump()
    return closed
