"""The runtime-control endpoints (seed 002's runtime API) and GET /api/status.

One APIView per operation: parse with a serializer, call one service, answer with the
resulting state. Browsers use their session (CSRF enforced on writes); services use
bearer API keys, which may only read status and the strategy.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiParameter
from rest_framework import status as http
from rest_framework.request import Request
from rest_framework.response import Response

from agents.models import Agent
from routing.api import errors
from routing.api.base import ControlPlaneAPIView
from routing.api.control_serializers import (
    AgentModelEndedOutput,
    AgentModelInput,
    AgentModelSetOutput,
    EndInput,
    ForceLocalInput,
    ForceLocalStateOutput,
    StatusOutput,
    StatusQuery,
    StrategyOverrideEndedOutput,
    StrategyOverrideEndInput,
    StrategyOverrideInput,
    StrategyOverrideSetOutput,
    StrategyStateOutput,
    TaskIdInput,
    TaskRoutingEndedOutput,
    TaskRoutingInput,
    TaskRoutingSetOutput,
)
from routing.api.schema import error_responses, extend_schema
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


TAG = "control"
REASON_PARAMETER = OpenApiParameter(
    "reason", str, description="Why (kept in the change log); may also be sent in the body."
)


class ControlView(ControlPlaneAPIView):
    read_role = VIEWER
    write_role = OPERATOR


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

    @extend_schema(
        tags=[TAG],
        summary="The strategy in force and its overrides",
        description="Viewers, and API keys with the 'status' scope.",
        responses={200: StrategyStateOutput, **error_responses(401, 403)},
    )
    def get(self, request: Request) -> Response:
        return Response(strategy_state(timezone.now()))

    @extend_schema(
        tags=[TAG],
        summary="Set a time-limited strategy override",
        description="Global, or for one agent; it reverts by itself when it expires. "
        "Operators. Writes a change-log entry.",
        request=StrategyOverrideInput,
        examples=[
            OpenApiExample(
                "Save money for two hours",
                value={"strategy": "cost_optimized", "duration": "2h", "reason": "Month end"},
                request_only=True,
            )
        ],
        responses={201: StrategyOverrideSetOutput, **error_responses(400, 401, 403)},
    )
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

    @extend_schema(
        tags=[TAG],
        summary="End a strategy override early",
        description="The global override, or an agent's with `agent`. Operators.",
        parameters=[
            OpenApiParameter(
                "agent", str, description="An agent key; without it, the global override."
            ),
            REASON_PARAMETER,
        ],
        request=None,
        responses={
            200: StrategyOverrideEndedOutput,
            **error_responses(
                400, 401, 403, 404, notes={404: "not_found: no such override is in force."}
            ),
        },
    )
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

    @extend_schema(
        tags=[TAG],
        summary="Pin an agent to a model",
        description="Optionally for a while (`duration`). Operators.",
        request=AgentModelInput,
        responses={
            201: AgentModelSetOutput,
            **error_responses(
                400, 401, 403, 404, notes={404: "unknown_agent: no agent has this key."}
            ),
        },
    )
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

    @extend_schema(
        tags=[TAG],
        summary="End an agent's model pin",
        description="Operators.",
        parameters=[REASON_PARAMETER],
        request=None,
        responses={
            200: AgentModelEndedOutput,
            **error_responses(
                400,
                401,
                403,
                404,
                notes={404: "unknown_agent, or not_found: no model override is in force."},
            ),
        },
    )
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

    @extend_schema(
        tags=[TAG],
        summary="Force a task onto a model",
        description="Requests carrying this task id go to `force_model`, optionally for a "
        "while. Operators.",
        request=TaskRoutingInput,
        responses={201: TaskRoutingSetOutput, **error_responses(400, 401, 403)},
    )
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

    @extend_schema(
        tags=[TAG],
        summary="End a task override",
        description="Operators.",
        parameters=[REASON_PARAMETER],
        request=None,
        responses={
            200: TaskRoutingEndedOutput,
            **error_responses(
                400, 401, 403, 404, notes={404: "not_found: no override is in force."}
            ),
        },
    )
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

    @extend_schema(
        tags=[TAG],
        summary="Turn force-local mode on or off",
        description="While on, every request goes to local models. Admins only.",
        request=ForceLocalInput,
        examples=[
            OpenApiExample(
                "Local only for the audit",
                value={"enabled": True, "duration": "90m", "reason": "Data audit in progress"},
                request_only=True,
            )
        ],
        responses={200: ForceLocalStateOutput, **error_responses(400, 401, 403)},
    )
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

    @extend_schema(
        tags=[TAG],
        summary="Status: strategy, overrides, force-local, budgets, a session",
        description="Viewers, and API keys with the 'status' scope.",
        parameters=[StatusQuery],
        responses={200: StatusOutput, **error_responses(400, 401, 403)},
    )
    def get(self, request: Request) -> Response:
        query = _validated(StatusQuery, request.query_params)
        return Response(status(timezone.now(), session_id=query.get("session_id")))
