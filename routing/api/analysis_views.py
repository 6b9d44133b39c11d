"""Explain, replay and simulate: reading stored decisions, and re-deciding them.

Explain and replay are reads (a replay writes nothing), so a viewer may use both;
simulate re-decides a whole time range and needs an operator. API keys get 403 here:
services route and read status only.
"""

from __future__ import annotations

import uuid

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from routing.api import errors
from routing.api.analysis_serializers import (
    ExplainOutputSerializer,
    ReplayOutputSerializer,
    SimulateInputSerializer,
    SimulateOutputSerializer,
)
from routing.api.base import ControlPlaneAPIView
from routing.api.schema import error_responses, extend_schema
from routing.api.views import check_body_size
from routing.models import Decision
from routing.roles import OPERATOR, VIEWER
from routing.services.explain import decision_explain
from routing.services.simulate import (
    Draft,
    DraftError,
    NotReplayable,
    decision_replay,
    stored_rerun,
    traffic_simulate,
)

NOT_REPLAYABLE = "not_replayable"
MSG_NO_DECISION = "No decision has the id '{id}'."
MSG_NOT_REPLAYABLE = (
    "Decision {id} keeps no inputs the engine can read (it was recorded before they "
    "were kept, or in an older format), so it cannot be re-run."
)


def _decision(public_id: str) -> Decision:
    try:
        key = uuid.UUID(public_id)
    except ValueError:
        key = None
    row = None if key is None else Decision.objects.filter(public_id=key).first()
    if row is None:
        raise errors.ApiError(errors.NOT_FOUND, MSG_NO_DECISION.format(id=public_id))
    return row


TAG = "analysis"
MSG_NO_DECISION_404 = "not_found: no decision has this id."


class AnalysisView(ControlPlaneAPIView):
    """Session or API key (which gets 403 here), and the caller's role (routing.api.base)."""


class DecisionExplainView(AnalysisView):
    """GET /api/decisions/{id}/explain: the full trace, in words and in data."""

    read_role = VIEWER

    @extend_schema(
        tags=[TAG],
        summary="Explain a decision",
        description="The full trace of a stored decision, in words (`sentences`) and in "
        "data. Viewers.",
        responses={
            200: ExplainOutputSerializer,
            **error_responses(401, 403, 404, notes={404: MSG_NO_DECISION_404}),
        },
    )
    def get(self, request: Request, public_id: str) -> Response:
        row = _decision(public_id)
        explained = decision_explain(row, replayed=stored_rerun(row))
        return Response(ExplainOutputSerializer(explained).data)


class DecisionReplayView(AnalysisView):
    """POST /api/decisions/{id}/replay: re-run on the stored and the current configuration."""

    write_role = VIEWER  # a replay changes nothing

    @extend_schema(
        tags=[TAG],
        summary="Replay a decision",
        description="Re-runs the engine on the stored inputs twice: with the stored "
        "configuration version (which must reproduce the decision) and with the current "
        "one (what would differ). Writes nothing. Viewers.",
        request=None,
        responses={
            200: ReplayOutputSerializer,
            **error_responses(401, 403, 404, 409, notes={404: MSG_NO_DECISION_404}),
        },
    )
    def post(self, request: Request, public_id: str) -> Response:
        row = _decision(public_id)
        try:
            replayed = decision_replay(row, now=timezone.now())
        except NotReplayable:
            body = errors.envelope(NOT_REPLAYABLE, MSG_NOT_REPLAYABLE.format(id=row.public_id))
            return Response(body, status=status.HTTP_409_CONFLICT)
        return Response(ReplayOutputSerializer(replayed).data)


class SimulateView(AnalysisView):
    """POST /api/simulate: re-decide a time range of stored traffic under draft changes."""

    write_role = OPERATOR

    @extend_schema(
        tags=[TAG],
        summary="What-if: re-decide stored traffic under draft changes",
        description="Takes a strategy, or draft changes to rules, models or budgets, and a "
        "time range; reports how many requests would move and where, the cost difference, "
        "privacy-rule hits and the fallbacks to expect. Changes nothing. Operators.",
        request=SimulateInputSerializer,
        examples=[
            OpenApiExample(
                "Last week under another strategy",
                value={
                    "strategy": "cost_optimized",
                    "since": "2026-01-01T00:00:00Z",
                    "until": "2026-01-08T00:00:00Z",
                },
                request_only=True,
            ),
            OpenApiExample(
                "A draft rule",
                value={
                    "changes": {
                        "rules": [
                            {
                                "name": "hard-tasks-local",
                                "condition": "task.complexity > 7",
                                "action": "force_local_model",
                            }
                        ]
                    },
                    "since": "2026-01-01T00:00:00Z",
                },
                request_only=True,
            ),
        ],
        responses={
            200: SimulateOutputSerializer,
            **error_responses(400, 401, 403, 413),
        },
    )
    def post(self, request: Request) -> Response:
        check_body_size(request)
        serializer = SimulateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        changes = data.get("changes") or {}
        now = timezone.now()
        draft = Draft(
            strategy=data.get("strategy"),
            rules=changes.get("rules", ()),
            models=changes.get("models", {}),
            budgets=changes.get("budgets", ()),
        )
        try:
            result = traffic_simulate(
                draft=draft,
                since=data["since"],
                until=data.get("until") or now,
                limit=data["limit"],
                now=now,
            )
        except DraftError as exc:
            raise exceptions.ValidationError(exc.fields) from exc
        return Response(SimulateOutputSerializer(result).data)
