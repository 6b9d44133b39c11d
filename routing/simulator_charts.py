"""The Simulator's what-if panel: totals and one figure from a `traffic_simulate` result.

Pure functions, like routing.charts: a simulation result (the dict `POST /api/simulate`
answers with) and the registry's model types in, plain dicts out. The result does not
list each request's model, but it holds enough to recover the per-model counts before
and after: the new primaries (`fallbacks.by_model`) and the moves between models.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from routing.charts import MUTED, Figure, _layout

AFTER_COLOUR = "#2455c3"
NO_MODEL = "no model (refused)"
LOCAL = "local"


def primary_counts(result: Mapping[str, Any]) -> tuple[Counter[str], Counter[str]]:
    """Requests per primary model before and after, over the re-decided requests. A
    request left without a model (refused) counts under NO_MODEL.

    after[m] is what `fallbacks.by_model` reports; a move from a to b took one request
    from a and gave it to b, so before[m] = after[m] - moves into m + moves out of m."""
    after: Counter[str] = Counter(
        {model: int(v["requests"]) for model, v in result["fallbacks"]["by_model"].items()}
    )
    before = Counter(after)
    for move in result["moves"]:
        before[move["to"] or NO_MODEL] -= move["count"]
        before[move["from"] or NO_MODEL] += move["count"]
    re_decided = result["requests"]["re_decided"]
    after[NO_MODEL] = re_decided - sum(n for m, n in after.items() if m != NO_MODEL)
    before[NO_MODEL] += after[NO_MODEL]  # the moves above adjusted it from zero
    return +before, +after  # unary + drops the models with no request


def _cloud(counts: Mapping[str, int], types: Mapping[str, str]) -> int:
    # As the overview counts PII reaching the cloud: a model not known to be local (one
    # deleted from the registry since) counts as cloud.
    return sum(n for m, n in counts.items() if m != NO_MODEL and types.get(m) != LOCAL)


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def what_if_totals(result: Mapping[str, Any], model_types: Mapping[str, str]) -> dict[str, Any]:
    """The figures the panel's table shows, each as before (the stored decisions) and
    after (re-decided under the draft)."""
    before, after = primary_counts(result)
    re_decided = result["requests"]["re_decided"]
    cost, privacy = result["cost"], result["privacy"]
    return {
        "requests": result["requests"],
        "truncated": result["truncated"],
        "limit": result["limit"],
        "cost": {
            "before": cost["before_usd"],
            "after": cost["after_usd"],
            "delta": cost["delta_usd"],
            "unpriced": cost["unpriced"],
        },
        "cloud": {
            "before": _cloud(before, model_types),
            "after": _cloud(after, model_types),
            "before_percent": _percent(_cloud(before, model_types), re_decided),
            "after_percent": _percent(_cloud(after, model_types), re_decided),
        },
        "pii_requests": privacy["pii_requests"],
        "pii_on_cloud": privacy["pii_on_cloud"],
        "local_only": privacy["local_only"],
        "refusals": {"before": result["refusals"]["before"], "after": result["refusals"]["after"]},
        "moved": result["requests"]["moved"],
        "moves": list(result["moves"]),
        "expected_fallbacks": result["fallbacks"]["expected"],
        "before_by_model": dict(before),
        "after_by_model": dict(after),
    }


def _label(model: str, types: Mapping[str, str]) -> str:
    if model == NO_MODEL:
        return model
    return f"{model} ({types.get(model, 'not in the registry')})"


def what_if_figure(totals: Mapping[str, Any], model_types: Mapping[str, str]) -> Figure:
    """Grouped bars: requests per primary model, stored against re-decided."""
    before, after = totals["before_by_model"], totals["after_by_model"]
    models = sorted(set(before) | set(after), key=lambda m: (m == NO_MODEL, m))
    x = [_label(m, model_types) for m in models]
    return {
        "data": [
            {
                "type": "bar",
                "name": "stored",
                "x": x,
                "y": [before.get(m, 0) for m in models],
                "marker": {"color": MUTED},
            },
            {
                "type": "bar",
                "name": "re-decided",
                "x": x,
                "y": [after.get(m, 0) for m in models],
                "marker": {"color": AFTER_COLOUR},
            },
        ],
        "layout": _layout("requests", "primary model", barmode="group", hovermode="closest"),
    }
