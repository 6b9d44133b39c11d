"""The figure builders: small series in, plotly figure dicts out, no browser, no database."""

from __future__ import annotations

import json
from typing import Any

import pytest

from routing import charts
from routing.selectors.overview import REASON_BUCKETS

DAYS = ["2025-03-01", "2025-03-02"]


def trace_types(figure: dict[str, Any]) -> list[str]:
    return [trace["type"] for trace in figure["data"]]


def axis_titles(figure: dict[str, Any]) -> tuple[str, str]:
    layout = figure["layout"]
    return layout["xaxis"]["title"]["text"], layout["yaxis"]["title"]["text"]


def fallbacks(**rejected: list[int]) -> dict[str, Any]:
    counts = {bucket: rejected.get(bucket.replace(" ", "_"), [0, 0]) for bucket in REASON_BUCKETS}
    attempts = [4, 2]
    return {
        "models": ["local-a", "cloud-b"],
        "attempts": attempts,
        "buckets": list(REASON_BUCKETS),
        "rejected": counts,
        "rates": {b: [n / a for n, a in zip(c, attempts, strict=True)] for b, c in counts.items()},
        "total_rejected": sum(sum(c) for c in counts.values()),
    }


def privacy(pii_to_cloud: list[int] | None = None) -> dict[str, Any]:
    to_cloud = pii_to_cloud or [0, 0]
    return {
        "days": DAYS,
        "pii_types": [{"type": "email", "counts": [2, 0]}, {"type": "iban", "counts": [0, 1]}],
        "with_pii": [2, 1],
        "forced_local": [2, 1],
        "refused": [0, 1],
        "pii_to_cloud": to_cloud,
        "pii_to_cloud_total": sum(to_cloud),
    }


def overview(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "spend_by_agent": {"days": DAYS, "agents": [], "total_usd": 0.0},
        "budgets": [],
        "fallbacks": fallbacks(),
        "privacy": privacy(),
        "strategies": {"strategies": [], "outcomes": {}, "total": 0},
        "latency": {"models": [], "count": [], "p50_ms": [], "p95_ms": []},
        "fallback_tax": {"days": DAYS, "usd": [0.0, 0.0], "total_usd": 0.0},
    }
    data.update(changes)
    return data


def test_spend_per_agent_is_stacked_bars_one_trace_per_agent() -> None:
    figure = charts.spend_by_agent_figure(
        {
            "days": DAYS,
            "agents": [
                {"agent": "backend", "usd": [0.5, 0.25]},
                {"agent": "frontend", "usd": [0.0, 0.1]},
            ],
            "total_usd": 0.85,
        }
    )

    assert trace_types(figure) == ["bar", "bar"]
    assert [t["name"] for t in figure["data"]] == ["backend", "frontend"]
    assert figure["data"][0]["x"] == DAYS
    assert figure["data"][0]["y"] == [0.5, 0.25]
    assert figure["layout"]["barmode"] == "stack"
    assert axis_titles(figure) == ("Day (UTC)", "Spend (USD)")
    # Dates as categories: plotly would otherwise draw a 7-day window as a time axis
    # with half-day gaps around each bar.
    assert figure["layout"]["xaxis"]["type"] == "category"


def test_budget_figure_shows_spent_projection_and_limit_per_budget() -> None:
    rows = [
        {
            "label": "global / day",
            "spent_usd": 2.0,
            "limit_usd": 10.0,
            "warning_level": "normal",
            "burn_rate": {"projected_day_usd": 8.0},
        },
        {
            "label": "agent backend / month",
            "spent_usd": 12.0,
            "limit_usd": 10.0,
            "warning_level": "critical",
            "burn_rate": None,
        },
    ]

    figure = charts.budget_figure(rows)

    spent, projected, limit = figure["data"]
    assert trace_types(figure) == ["bar", "bar", "scatter"]
    assert spent["x"] == ["global / day", "agent backend / month"]
    assert spent["y"] == [2.0, 12.0]
    assert spent["marker"]["color"][1] == charts.DANGER  # over its limit
    # Only daily budgets have a burn-rate projection.
    assert projected["y"] == [8.0, None]
    assert limit["y"] == [10.0, 10.0]
    assert figure["layout"]["barmode"] == "group"
    assert axis_titles(figure) == ("Budget", "USD")


def test_fallback_figure_stacks_one_trace_per_reason_that_occurred() -> None:
    figure = charts.fallback_figure(fallbacks(timeout=[1, 0], http_5xx=[0, 1], refusal=[2, 0]))

    assert trace_types(figure) == ["bar", "bar", "bar"]
    assert [t["name"] for t in figure["data"]] == ["timeout", "http 5xx", "refusal"]
    timeout = figure["data"][0]
    assert timeout["x"] == ["local-a", "cloud-b"]
    assert timeout["y"] == [0.25, 0.0]
    assert timeout["customdata"] == [1, 0]
    assert figure["layout"]["barmode"] == "stack"
    assert figure["layout"]["yaxis"]["tickformat"] == ".0%"
    assert axis_titles(figure) == ("Model", "Share of attempts rejected")


def test_privacy_figure_stacks_pii_types_and_draws_activations_as_lines() -> None:
    figure = charts.privacy_figure(privacy(pii_to_cloud=[0, 1]))

    assert trace_types(figure) == ["bar", "bar", "scatter", "scatter", "scatter"]
    names = [t["name"] for t in figure["data"]]
    assert names == ["PII: email", "PII: iban", "forced local", "refused", "PII to a cloud model"]
    to_cloud = figure["data"][-1]
    assert to_cloud["y"] == [0, 1]
    assert to_cloud["line"]["color"] == charts.DANGER
    assert figure["layout"]["barmode"] == "stack"
    assert axis_titles(figure) == ("Day (UTC)", "Requests")


@pytest.mark.parametrize(("total", "colour"), [(0, charts.OK), (3, charts.DANGER)])
def test_the_pii_to_cloud_indicator_shows_the_count_green_only_at_zero(
    total: int, colour: str
) -> None:
    figure = charts.pii_to_cloud_figure(total)

    (indicator,) = figure["data"]
    assert indicator["type"] == "indicator"
    assert indicator["mode"] == "number"
    assert indicator["value"] == total
    assert indicator["number"]["font"]["color"] == colour
    assert "must be 0" in indicator["title"]["text"]


def test_strategy_figure_stacks_outcomes_per_strategy() -> None:
    figure = charts.strategy_figure(
        {
            "strategies": ["balanced", "privacy_first"],
            "outcomes": {"success": [5, 2], "refused": [0, 1]},
            "total": 8,
        }
    )

    assert trace_types(figure) == ["bar", "bar"]
    assert [t["name"] for t in figure["data"]] == ["success", "refused"]
    assert figure["data"][1]["y"] == [0, 1]
    assert figure["layout"]["barmode"] == "stack"
    assert axis_titles(figure) == ("Strategy", "Decisions")


def test_latency_figure_groups_p50_and_p95_per_model() -> None:
    figure = charts.latency_figure(
        {
            "models": ["a", "b"],
            "count": [10, 4],
            "p50_ms": [120.0, 800.0],
            "p95_ms": [300.0, 2000.0],
        }
    )

    assert trace_types(figure) == ["bar", "bar"]
    p50, p95 = figure["data"]
    assert (p50["name"], p50["y"]) == ("p50", [120.0, 800.0])
    assert (p95["name"], p95["y"]) == ("p95", [300.0, 2000.0])
    assert p50["customdata"] == [10, 4]
    assert figure["layout"]["barmode"] == "group"
    assert axis_titles(figure) == ("Model", "Latency (ms)")


def test_fallback_tax_figure_is_one_bar_per_day() -> None:
    figure = charts.fallback_tax_figure({"days": DAYS, "usd": [0.01, 0.0], "total_usd": 0.01})

    assert trace_types(figure) == ["bar"]
    assert figure["data"][0]["y"] == [0.01, 0.0]
    assert axis_titles(figure) == ("Day (UTC)", "Cost of rejected attempts (USD)")


def test_panels_say_what_to_do_when_a_series_is_empty() -> None:
    panels = {p["id"]: p for p in charts.overview_panels(overview(privacy=privacy()))}

    assert list(panels) == [
        "chart-spend",
        "chart-budgets",
        "chart-fallbacks",
        "chart-privacy",
        "chart-strategies",
        "chart-latency",
        "chart-fallback-tax",
    ]
    assert "Budgets page" in panels["chart-budgets"]["empty"]
    assert panels["chart-spend"]["empty"] is not None
    assert panels["chart-privacy"]["empty"] is None  # the fixture found PII
    assert panels["chart-spend"]["data_id"] == "chart-spend-data"


def test_the_headline_panel_carries_the_pii_to_cloud_total() -> None:
    panel = charts.pii_to_cloud_panel(overview(privacy=privacy(pii_to_cloud=[1, 1])))

    assert panel["value"] == 2
    assert panel["figure"]["data"][0]["value"] == 2


def test_every_figure_is_plain_json() -> None:
    # json_script must be able to embed them: no Decimal, date or numpy values.
    for panel in charts.overview_panels(overview()):
        json.dumps(panel["figure"], allow_nan=False)
