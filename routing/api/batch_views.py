"""The batch routing API: submit many route requests at once, read progress and results,
cancel what has not run yet.

`POST /api/route/batch` takes API keys with the 'route' scope, as `/api/route` does.
`GET /api/route/batch/{id}` answers the key that submitted the job (another key gets
404, as if it did not exist) and people with the viewer role.
`POST /api/route/batch/{id}/cancel` follows the same rule, as a write: the key that
submitted the job (with the 'route' scope it submitted it with), or people with the
operator role; a key without the scope, or a viewer, gets 403.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from routing.api import errors
from routing.api.base import ControlPlaneAPIView, ServiceAPIView
from routing.api.batch_serializers import (
    BatchDetailSerializer,
    BatchJobSerializer,
    BatchPageSerializer,
    BatchRequestSerializer,
    route_requests_validate,
)
from routing.api.permissions import RolePermission
from routing.api.schema import error_responses, extend_schema
from routing.api.views import check_body_size
from routing.choices import ChangeSource
from routing.models import ApiKey, BatchJob
from routing.roles import OPERATOR, VIEWER
from routing.selectors.batches import batch_get, batch_items
from routing.services.batches import BatchFinished, batch_cancel, batch_create

TAG = "route"
MSG_TOO_MANY = (
    "The batch has {count} requests; the limit is {limit} (SWITCHBOARD_BATCH_MAX_REQUESTS). "
    "Split it into several batches."
)
MSG_NO_BATCH = "No batch job has the id '{id}'."
MSG_ALREADY_FINISHED = (
    "The batch job '{id}' has already ended ({status}); only a queued or running job can "
    "be cancelled. Its results are at GET /api/route/batch/{id}."
)


def check_batch_size(count: int) -> None:
    limit = settings.SWITCHBOARD_BATCH_MAX_REQUESTS
    if count > limit:
        raise errors.ApiError(
            errors.PAYLOAD_TOO_LARGE,
            MSG_TOO_MANY.format(count=count, limit=limit),
            {"requests": count, "limit": limit},
        )


def _job_url(request: Request, job: BatchJob) -> str:
    path = reverse("api-route-batch-detail", kwargs={"public_id": str(job.public_id)})
    return request.build_absolute_uri(path)


def _job_for(request: Request, public_id: str) -> BatchJob:
    """The job, for its own key or a person; a 404 for anyone else, as if there were none."""
    job = batch_get(public_id)
    key = request.auth if isinstance(request.auth, ApiKey) else None
    if job is None or (key is not None and job.api_key_id != key.pk):
        raise errors.ApiError(errors.NOT_FOUND, MSG_NO_BATCH.format(id=public_id))
    return job


class SubmitterOrRolePermission(RolePermission):
    """RolePermission, except that an API key holding the view's `required_scope` may
    also write (cancel): the view then lets it touch only the jobs it submitted."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not isinstance(request.auth, ApiKey):
            return super().has_permission(request, view)
        if view.required_scope in request.auth.scopes:
            return True
        self.message = errors.MSG_FORBIDDEN.format(scope=view.required_scope)
        return False


class BatchCreateView(ServiceAPIView):
    """POST /api/route/batch: validate every request, store the job, queue it."""

    required_scope = "route"

    @extend_schema(
        tags=[TAG],
        summary="Route a batch of requests in the background",
        description="Every request is checked as POST /api/route checks it before any is "
        "queued (400 names the request by its index). The job is routed by a worker, each "
        "request through the same path as POST /api/route (one audit row each, spend "
        "accounted, under this key); read progress and results at `url`. API keys with "
        "the 'route' scope.",
        request=BatchRequestSerializer,
        examples=[
            OpenApiExample(
                "Two requests for one agent",
                value={
                    "agent": "backend_agent",
                    "requests": [
                        {"messages": [{"role": "user", "content": "Summarize ticket 1"}]},
                        {"messages": [{"role": "user", "content": "Summarize ticket 2"}]},
                    ],
                },
                request_only=True,
            )
        ],
        responses={
            202: OpenApiResponse(
                BatchJobSerializer, description="Queued; `Location` is the job's URL."
            ),
            **error_responses(
                400,
                401,
                403,
                413,
                notes={
                    400: "invalid_request: details.fields names each problem by its place, "
                    "e.g. `requests[3].messages`; nothing was queued.",
                    403: "forbidden: the API key lacks the 'route' scope.",
                    413: "payload_too_large: more requests than SWITCHBOARD_BATCH_MAX_REQUESTS, "
                    "or a body over SWITCHBOARD_MAX_BODY_BYTES.",
                },
            ),
        },
    )
    def post(self, request: Request) -> Response:
        check_body_size(request)
        serializer = BatchRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        check_batch_size(len(serializer.validated_data["requests"]))
        requests = route_requests_validate(
            serializer.validated_data["requests"], agent=serializer.validated_data.get("agent")
        )
        job = batch_create(requests, api_key=request.auth)
        url = _job_url(request, job)
        body = BatchJobSerializer(job, context={"url": url}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": url})


class BatchDetailView(ControlPlaneAPIView):
    """GET /api/route/batch/{id}: progress, and a page of the items' results."""

    required_scope = "route"  # API keys: the one that submitted the job
    read_role = VIEWER

    @extend_schema(
        tags=[TAG],
        summary="Read a batch job's progress and results",
        description="Progress, and per request (by index) the status and body POST "
        "/api/route would have answered with (null until it is routed), `limit` at a "
        "time from `offset`. The API key that submitted the job, or viewers.",
        parameters=[BatchPageSerializer],
        responses={
            200: BatchDetailSerializer,
            **error_responses(
                400,
                401,
                403,
                404,
                notes={
                    400: "invalid_request: `offset` or `limit` is out of range.",
                    404: "not_found: no batch job has this id (or another API key submitted it).",
                },
            ),
        },
    )
    def get(self, request: Request, public_id: str) -> Response:
        job = _job_for(request, public_id)
        page = BatchPageSerializer(data=request.query_params)
        page.is_valid(raise_exception=True)
        offset, limit = page.validated_data["offset"], page.validated_data["limit"]
        url = _job_url(request, job)
        following = offset + limit
        context = {
            "url": url,
            "offset": offset,
            "items": batch_items(job, offset=offset, limit=limit),
            "next": (
                f"{url}?{urlencode({'offset': following, 'limit': limit})}"
                if following < job.total
                else None
            ),
        }
        return Response(BatchDetailSerializer(job, context=context).data)


class BatchCancelView(ControlPlaneAPIView):
    """POST /api/route/batch/{id}/cancel: stop a queued or running job."""

    required_scope = "route"  # API keys: the one that submitted the job
    write_role = OPERATOR
    permission_classes = [SubmitterOrRolePermission]

    @extend_schema(
        tags=[TAG],
        summary="Cancel a batch job",
        description="Stops a queued or running job: no request of it is routed after this "
        "answer, and each one not routed yet gets status_code 409 and the error envelope "
        "with code `cancelled`. A request the worker was routing at that moment keeps its "
        "real result; results already in are kept. `completed` and `failed` count routed "
        "requests only. Cancelling a cancelled job changes nothing (200 again). The API "
        "key that submitted the job, or operators.",
        request=None,
        responses={
            200: OpenApiResponse(BatchJobSerializer, description="The job, now cancelled."),
            **error_responses(
                401,
                403,
                404,
                409,
                notes={
                    403: "forbidden: the API key lacks the 'route' scope, or the user the "
                    "operator role. Nothing was changed.",
                    404: "not_found: no batch job has this id (or another API key submitted it).",
                    409: "conflict: the job has already ended (done or failed); nothing was "
                    "changed.",
                },
            ),
        },
    )
    def post(self, request: Request, public_id: str) -> Response:
        job = _job_for(request, public_id)
        try:
            job = batch_cancel(job, by=request.user, source=ChangeSource.API)
        except BatchFinished as exc:
            message = MSG_ALREADY_FINISHED.format(id=job.public_id, status=exc.status)
            raise errors.ApiError(errors.CONFLICT, message, {"status": exc.status}) from exc
        body = BatchJobSerializer(job, context={"url": _job_url(request, job)}).data
        return Response(body)
