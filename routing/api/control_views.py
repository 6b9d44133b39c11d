"""The runtime-control endpoints (seed 002's runtime API) and GET /api/status.

One APIView per operation: parse with a serializer, call one service, answer with the
resulting state. Browsers use their session (CSRF enforced on writes); services use
bearer API keys, which may only read status and the strategy.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import status as http
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.models import Agent
from routing.api import errors
from routing.api.auth import ApiKeyAuthentication
from routing.api.control_serializers import (
    AgentModelInput,
    EndInput,
    ForceLocalInput,
    StatusQuery,
    StrategyOverrideEndInput,
    StrategyOverrideInput,
    TaskIdInput,
    TaskRoutingInput,
)
from routing.api.permissions import RolePermission
from routing.choices import ApiScope, ChangeSource
from routing.roles import ADMIN, OPERATOR, VIEWER
from routing.selectors import (
    agent_model_state,
    force_local_state,
    status,
    strategy_state,
    task_override_state,
)
from routing.services.overrides import (
    agent_model_override_end,
    agent_model_override_set,
    describe_agent_model_override,
    describe_strategy_override,
    describe_task_override,
    force_local_set,
    strategy_override_end,
    strategy_override_set,
    task_override_end,
    task_override_set,
)
from routing.snapshot import forget_snapshot

MSG_UNKNOWN_AGENT = "Unknown agent '{agent}'."
MSG_NO_STRATEGY_OVERRIDE = "No strategy override is in force for {target}."
MSG_NO_AGENT_MODEL_OVERRIDE = "No model override is in force for agent '{agent}'."
MSG_NO_TASK_OVERRIDE = "No override is in force for task '{task_id}'."


class ControlView(APIView):
    authentication_classes = [SessionAuthentication, ApiKeyAuthentication]
    permission_classes = [RolePermission]
    read_role = VIEWER
    write_role = OPERATOR

    def get_authenticate_header(self, request: Request) -> str | None:
        # DRF asks only the first authenticator, and SessionAuthentication has no
        # WWW-Authenticate scheme, which would turn "not logged in" into a 403.
        for authenticator in self.get_authenticators():
            header = authenticator.authenticate_header(request)
            if header:
                return header
        return None


def _validated(serializer_class: type, data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _merged(request: Request) -> dict[str, Any]:
    """Query-string parameters, then body fields (DELETE bodies are optional)."""
    body = request.data if isinstance(request.data, dict) else {}
    return {**request.query_params.dict(), **body}


def _agent_or_404(key: str) -> Agent:
    agent = Agent.objects.filter(key=key).first()
    if agent is None:
        raise errors.ApiError(
            errors.UNKNOWN_AGENT, MSG_UNKNOWN_AGENT.format(agent=key), {"agent": key}
        )
    return agent


def _task_id(task_id: str) -> str:
    return _validated(TaskIdInput, {"task_id": task_id})["task_id"]


def _after_write() -> None:
    # Answer with the state including this write even when the request runs inside an
    # outer transaction, where the bump's on-commit refresh has not happened yet.
    forget_snapshot()


class StrategyView(ControlView):
    """GET: the strategy in force and its overrides. POST: a time-limited override."""

    required_scope = ApiScope.STATUS.value

    def get(self, request: Request) -> Response:
        return Response(strategy_state(timezone.now()))

    def post(self, request: Request) -> Response:
        data = _validated(StrategyOverrideInput, request.data)
        now = timezone.now()
        override = strategy_override_set(
            strategy=data["strategy"],
            duration=data["duration"],
            reason=data["reason"],
            agent=data.get("agent"),
            actor=request.user,
            source=ChangeSource.API,
            now=now,
        )
        _after_write()
        body = strategy_state(now) | {"override": describe_strategy_override(override)}
        return Response(body, status=http.HTTP_201_CREATED)


class StrategyOverrideView(ControlView):
    """DELETE: end the global (or ?agent=) strategy override early."""

    def delete(self, request: Request) -> Response:
        data = _validated(StrategyOverrideEndInput, _merged(request))
        agent = data.get("agent")
        now = timezone.now()
        ended = strategy_override_end(
            agent=agent,
            reason=data.get("reason", ""),
            actor=request.user,
            source=ChangeSource.API,
            now=now,
        )
        if ended is None:
            target = f"agent '{agent.key}'" if agent else "all requests (global)"
            raise errors.ApiError(errors.NOT_FOUND, MSG_NO_STRATEGY_OVERRIDE.format(target=target))
        _after_write()
        return Response(strategy_state(now) | {"ended": describe_strategy_override(ended)})


class AgentModelView(ControlView):
    """POST: pin the agent to a model (optionally for a while). DELETE: end the pin."""

    def post(self, request: Request, agent: str) -> Response:
        target = _agent_or_404(agent)
        data = _validated(AgentModelInput, request.data)
        now = timezone.now()
        override = agent_model_override_set(
            agent=target,
            model=data["model_id"],
            reason=data["reason"],
            duration=data.get("duration"),
            actor=request.user,
            source=ChangeSource.API,
            now=now,
        )
        _after_write()
        body = agent_model_state(target.key, now) | {
            "override": describe_agent_model_override(override)
        }
        return Response(body, status=http.HTTP_201_CREATED)

    def delete(self, request: Request, agent: str) -> Response:
        target = _agent_or_404(agent)
        data = _validated(EndInput, _merged(request))
        now = timezone.now()
        ended = agent_model_override_end(
            agent=target,
            reason=data.get("reason", ""),
            actor=request.user,
            source=ChangeSource.API,
            now=now,
        )
        if ended is None:
            raise errors.ApiError(
                errors.NOT_FOUND, MSG_NO_AGENT_MODEL_OVERRIDE.format(agent=target.key)
            )
        _after_write()
        return Response(
            agent_model_state(target.key, now) | {"ended": describe_agent_model_override(ended)}
        )


class TaskRoutingView(ControlView):
    """POST: force a task id onto a model (optionally for a while). DELETE: end it."""

    def post(self, request: Request, task_id: str) -> Response:
        task_id = _task_id(task_id)
        data = _validated(TaskRoutingInput, request.data)
        now = timezone.now()
        override = task_override_set(
            task_id=task_id,
            model=data["force_model"],
            reason=data["reason"],
            duration=data.get("duration"),
            actor=request.user,
            source=ChangeSource.API,
            now=now,
        )
        _after_write()
        body = task_override_state(task_id, now) | {"override": describe_task_override(override)}
        return Response(body, status=http.HTTP_201_CREATED)

    def delete(self, request: Request, task_id: str) -> Response:
        task_id = _task_id(task_id)
        data = _validated(EndInput, _merged(request))
        now = timezone.now()
        ended = task_override_end(
            task_id=task_id,
            reason=data.get("reason", ""),
            actor=request.user,
            source=ChangeSource.API,
            now=now,
        )
        if ended is None:
            raise errors.ApiError(errors.NOT_FOUND, MSG_NO_TASK_OVERRIDE.format(task_id=task_id))
        _after_write()
        return Response(
            task_override_state(task_id, now) | {"ended": describe_task_override(ended)}
        )


class ForceLocalView(ControlView):
    """POST: turn force-local mode on (optionally for a while) or off. Admins only."""

    write_role = ADMIN

    def post(self, request: Request) -> Response:
        data = _validated(ForceLocalInput, request.data)
        now = timezone.now()
        force_local_set(
            enabled=data["enabled"],
            reason=data["reason"],
            duration=data.get("duration"),
            actor=request.user,
            source=ChangeSource.API,
            now=now,
        )
        _after_write()
        return Response(force_local_state(now))


class StatusView(ControlView):
    """GET: seed 004's status: strategy, overrides, force-local, budgets, a session."""

    required_scope = ApiScope.STATUS.value

    def get(self, request: Request) -> Response:
        query = _validated(StatusQuery, request.query_params)
        return Response(status(timezone.now(), session_id=query.get("session_id")))
