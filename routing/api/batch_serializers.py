"""Input and output of the batch routing API: `POST /api/route/batch`,
`GET /api/route/batch/{id}` and `POST /api/route/batch/{id}/cancel`.

Every request of a batch is checked with the serializer of `POST /api/route` before
anything is stored, and a problem is named by where it is in the batch
(`requests[3].task.complexity`), so one fix-and-resend is enough.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from routing.api.pagination import MAX_PAGE_SIZE
from routing.api.serializers import RouteRequestSerializer

DEFAULT_ITEMS_PER_PAGE = 100
MSG_NOT_AN_OBJECT = "Each request must be a JSON object: the body POST /api/route takes."


@extend_schema_field(RouteRequestSerializer(many=True))
class RouteRequestListField(serializers.ListField):
    """A list of route requests; each is checked by `route_requests_validate` (documented
    as the RouteRequest component)."""

    child = serializers.JSONField()


class BatchRequestSerializer(serializers.Serializer):
    requests = RouteRequestListField(
        allow_empty=False,
        help_text="Route requests, each the body POST /api/route takes (dry_run allowed). "
        "At most SWITCHBOARD_BATCH_MAX_REQUESTS (100 by default).",
    )
    agent = serializers.CharField(
        required=False,
        max_length=64,
        help_text="The agent of every request that names none itself.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({name: "Unknown field." for name in sorted(unknown)})
        return attrs


def route_requests_validate(requests: Sequence[Any], *, agent: str | None) -> list[dict[str, Any]]:
    """Each request as POST /api/route validates it (with the batch's default agent
    filled in); a ValidationError naming every problem by its place in the batch."""
    validated: list[dict[str, Any]] = []
    problems: dict[str, list[str]] = {}
    for index, request in enumerate(requests):
        where = f"requests[{index}]"
        if not isinstance(request, Mapping):
            problems[where] = [MSG_NOT_AN_OBJECT]
            continue
        if agent and "agent" not in request:
            request = {**request, "agent": agent}
        serializer = RouteRequestSerializer(data=request)
        if serializer.is_valid():
            validated.append(serializer.validated_data)
        else:
            problems.update(_flatten(serializer.errors, where))
    if problems:
        raise serializers.ValidationError(problems)
    return validated


def _flatten(detail: Any, where: str) -> dict[str, list[str]]:
    """DRF's nested errors as {"requests[2].messages[0].role": [...]}."""
    if isinstance(detail, Mapping):
        found: dict[str, list[str]] = {}
        for key, value in detail.items():
            inner = where if key == "non_field_errors" else f"{where}.{key}"
            if isinstance(key, int):  # a ListField's errors are keyed by position
                inner = f"{where}[{key}]"
            found.update(_flatten(value, inner))
        return found
    if isinstance(detail, list) and any(isinstance(v, Mapping | list) for v in detail):
        found = {}
        for index, value in enumerate(detail):
            if value:  # a many=True serializer gives {} for each valid entry
                found.update(_flatten(value, f"{where}[{index}]"))
        return found
    messages = detail if isinstance(detail, list) else [detail]
    return {where: [str(m) for m in messages]}


class BatchPageSerializer(serializers.Serializer):
    """Which of a job's items `GET /api/route/batch/{id}` lists."""

    offset = serializers.IntegerField(
        required=False, default=0, min_value=0, help_text="The index of the first item."
    )
    limit = serializers.IntegerField(
        required=False,
        default=DEFAULT_ITEMS_PER_PAGE,
        min_value=1,
        max_value=MAX_PAGE_SIZE,
        help_text=f"How many items (default {DEFAULT_ITEMS_PER_PAGE}, at most {MAX_PAGE_SIZE}).",
    )


# -- output -------------------------------------------------------------------------------


class BatchJobSerializer(serializers.Serializer):
    """What `POST /api/route/batch` answers (202), and the head of the job's page."""

    id = serializers.UUIDField(source="public_id")
    # A string rather than an enum: a shared "StatusEnum" component would collide with the
    # next serializer that has a status of its own.
    status = serializers.CharField(
        help_text="queued, running, done (every request was routed; each item says how it "
        "went), failed (the job could not route them all; `error` says why) or cancelled "
        "(POST .../cancel stopped it; each request not routed by then says `cancelled`)."
    )
    total = serializers.IntegerField(help_text="Requests in the batch.")
    completed = serializers.IntegerField(
        help_text="Requests routed, failed ones included (not those a cancel left unrouted)."
    )
    failed = serializers.IntegerField(help_text="Finished requests answered with an error.")
    url = serializers.SerializerMethodField(help_text="Where to read progress and results.")

    def get_url(self, job: Any) -> str:
        return str(self.context["url"])


class BatchItemSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Its position in `requests`.")
    status_code = serializers.IntegerField(
        allow_null=True,
        help_text="The status /api/route would have answered; null until routed. 409 for a "
        "request its batch's cancel left unrouted.",
    )
    response = serializers.JSONField(
        allow_null=True,
        help_text="Exactly the body /api/route would have answered: the answer (or decision, "
        "with dry_run), or the error envelope. Null until routed. A request left unrouted "
        "by a cancel has the envelope with code `cancelled`.",
    )


class BatchDetailSerializer(BatchJobSerializer):
    """A job's progress and a page of its items' results (`GET /api/route/batch/{id}`)."""

    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(
        allow_blank=True, help_text="Why a failed job failed, or who cancelled a cancelled one."
    )
    offset = serializers.SerializerMethodField()
    items = serializers.SerializerMethodField()
    next = serializers.SerializerMethodField(help_text="The next page of items, if any.")

    def get_offset(self, job: Any) -> int:
        return int(self.context["offset"])

    @extend_schema_field(BatchItemSerializer(many=True))
    def get_items(self, job: Any) -> list[dict[str, Any]]:
        return list(BatchItemSerializer(self.context["items"], many=True).data)

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_next(self, job: Any) -> str | None:
        return self.context["next"]
