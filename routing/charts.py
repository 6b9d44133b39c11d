"""Series in, plotly figure dicts out: pure functions, testable without a browser.

A figure is `{"data": [traces], "layout": {...}}` as plotly.js takes it; the page embeds
each one with `json_script` and static/js/charts.js draws it with `Plotly.react`.
Nothing here imports plotly: plain dicts are the whole interface.

`overview_panels` adds what the page shows around each figure (a title, and the empty
state that says what to do next when a series has nothing to draw).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Figure = dict[str, Any]

DANGER = "#b3261e"
OK = "#1e7d32"
MUTED = "#5b6475"

# Fixed colours so a bucket or an outcome keeps its colour across refreshes.
REASON_COLOURS = {
    "timeout": "#e8a33d",
    "http 5xx": "#b3261e",
    "rate limited (429)": "#7a4fc2",
    "connect": "#8c564b",
    "refusal": "#2455c3",
    "empty answer": "#17becf",
    "invalid JSON / schema": "#bcbd22",
    "cut off": "#e377c2",
    "circuit open / cooling down": "#444b5a",
    "other": "#a0a6b2",
}
OUTCOME_COLOURS = {
    "success": "#2ca02c",
    "failed": "#b3261e",
    "refused": "#e8a33d",
    "dry_run": "#a0a6b2",
}


def _layout(y_title: str, x_title: str, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "height": 320,
        "margin": {"l": 60, "r": 20, "t": 10, "b": 60},
        "legend": {"orientation": "h", "y": -0.25},
        "xaxis": {"title": {"text": x_title}},
        "yaxis": {"title": {"text": y_title}, "rangemode": "tozero"},
        "hovermode": "x unified",
    }
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(layout.get(key), dict):
            layout[key] = {**layout[key], **value}
        else:
            layout[key] = value
    return layout


def spend_by_agent_figure(series: Mapping[str, Any]) -> Figure:
    """Stacked bars: one trace per agent, one bar per day."""
    data = [
        {
            "type": "bar",
            "name": agent["agent"],
            "x": series["days"],
            "y": agent["usd"],
            "hovertemplate": "%{x}: $%{y:.4f}<extra>%{fullData.name}</extra>",
        }
        for agent in series["agents"]
    ]
    layout = _layout("Spend (USD)", "Day (UTC)", barmode="stack", yaxis={"tickprefix": "$"})
    layout["xaxis"]["type"] = "category"
    return {"data": data, "layout": layout}


def budget_figure(rows: Sequence[Mapping[str, Any]]) -> Figure:
    """Per budget: spent so far and, for daily budgets, today's burn rate projected to
    midnight, as grouped bars, with the limit as a marker."""
    labels = [row["label"] for row in rows]
    projected = [
        row["burn_rate"]["projected_day_usd"] if row.get("burn_rate") else None for row in rows
    ]
    data: list[dict[str, Any]] = [
        {
            "type": "bar",
            "name": "spent",
            "x": labels,
            "y": [row["spent_usd"] for row in rows],
            "marker": {
                "color": [
                    DANGER if row["warning_level"] == "critical" else "#2455c3" for row in rows
                ]
            },
            "customdata": [row["warning_level"] for row in rows],
            "hovertemplate": "$%{y:.4f} spent (%{customdata})<extra></extra>",
        },
        {
            "type": "bar",
            "name": "projected by midnight",
            "x": labels,
            "y": projected,
            "marker": {"color": "rgba(36, 85, 195, 0.35)"},
            "hovertemplate": "$%{y:.4f} at today's burn rate<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": "markers",
            "name": "limit",
            "x": labels,
            "y": [row["limit_usd"] for row in rows],
            "marker": {"symbol": "line-ew-open", "size": 36, "color": DANGER, "line": {"width": 3}},
            "hovertemplate": "limit $%{y:.2f}<extra></extra>",
        },
    ]
    layout = _layout("USD", "Budget", barmode="group", yaxis={"tickprefix": "$"})
    return {"data": data, "layout": layout}


def fallback_figure(series: Mapping[str, Any]) -> Figure:
    """Stacked bars per model: the share of its attempts rejected, one trace per reason
    bucket that occurred (the stack's height is the model's fallback rate)."""
    data = [
        {
            "type": "bar",
            "name": bucket,
            "x": series["models"],
            "y": series["rates"][bucket],
            "customdata": series["rejected"][bucket],
            "marker": {"color": REASON_COLOURS.get(bucket, MUTED)},
            "hovertemplate": "%{y:.1%} (%{customdata} attempts)<extra>%{fullData.name}</extra>",
        }
        for bucket in series["buckets"]
        if any(series["rejected"][bucket])
    ]
    layout = _layout(
        "Share of attempts rejected", "Model", barmode="stack", yaxis={"tickformat": ".0%"}
    )
    return {"data": data, "layout": layout}


def privacy_figure(series: Mapping[str, Any]) -> Figure:
    """Per day: requests per PII type found (stacked bars) and, as lines, requests forced
    local, refused, and with PII answered by a cloud model (drawn in red)."""
    days = series["days"]
    data: list[dict[str, Any]] = [
        {"type": "bar", "name": f"PII: {item['type']}", "x": days, "y": item["counts"]}
        for item in series["pii_types"]
    ]
    for key, name, colour in (
        ("forced_local", "forced local", "#2455c3"),
        ("refused", "refused", "#e8a33d"),
        ("pii_to_cloud", "PII to a cloud model", DANGER),
    ):
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": name,
                "x": days,
                "y": series[key],
                "line": {"color": colour},
            }
        )
    layout = _layout("Requests", "Day (UTC)", barmode="stack")
    layout["xaxis"]["type"] = "category"
    return {"data": data, "layout": layout}


def pii_to_cloud_figure(total: int) -> Figure:
    """One number: requests with PII that reached a cloud model. Green at 0 (the only
    correct value), red otherwise."""
    colour = OK if total == 0 else DANGER
    data = [
        {
            "type": "indicator",
            "mode": "number",
            "value": total,
            "number": {"font": {"color": colour, "size": 56}},
            "title": {"text": "Requests with PII that reached a cloud model (must be 0)"},
        }
    ]
    return {"data": data, "layout": {"height": 160, "margin": {"l": 10, "r": 10, "t": 40, "b": 10}}}


def strategy_figure(series: Mapping[str, Any]) -> Figure:
    """Stacked bars per strategy: its decisions, by outcome."""
    data = [
        {
            "type": "bar",
            "name": outcome,
            "x": series["strategies"],
            "y": counts,
            "marker": {"color": OUTCOME_COLOURS.get(outcome, MUTED)},
        }
        for outcome, counts in series["outcomes"].items()
    ]
    return {"data": data, "layout": _layout("Decisions", "Strategy", barmode="stack")}


def latency_figure(series: Mapping[str, Any]) -> Figure:
    """Grouped bars per model: p50 and p95 latency."""
    data = [
        {
            "type": "bar",
            "name": name,
            "x": series["models"],
            "y": series[key],
            "customdata": series["count"],
            "hovertemplate": "%{y:.0f} ms over %{customdata} answers<extra>%{fullData.name}</extra>",
        }
        for key, name in (("p50_ms", "p50"), ("p95_ms", "p95"))
    ]
    return {"data": data, "layout": _layout("Latency (ms)", "Model", barmode="group")}


def fallback_tax_figure(series: Mapping[str, Any]) -> Figure:
    """Bars per day: what rejected attempts cost."""
    data = [
        {
            "type": "bar",
            "name": "fallback tax",
            "x": series["days"],
            "y": series["usd"],
            "marker": {"color": "#e8a33d"},
            "hovertemplate": "%{x}: $%{y:.4f}<extra></extra>",
        }
    ]
    layout = _layout("Cost of rejected attempts (USD)", "Day (UTC)", yaxis={"tickprefix": "$"})
    layout["xaxis"]["type"] = "category"
    return {"data": data, "layout": layout}


def _panel(key: str, title: str, figure: Figure, empty: str | None) -> dict[str, Any]:
    return {
        "id": f"chart-{key}",
        "data_id": f"chart-{key}-data",  # the json_script element holding the figure
        "title": title,
        "figure": figure,
        "empty": empty,
    }


def pii_to_cloud_panel(overview: Mapping[str, Any]) -> dict[str, Any]:
    """The headline: requests with PII answered by a cloud model in the window."""
    total = overview["privacy"]["pii_to_cloud_total"]
    panel = _panel(
        "pii-to-cloud",
        "Requests with PII that reached a cloud model",
        pii_to_cloud_figure(total),
        None,
    )
    return {**panel, "value": total}


def overview_panels(overview: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The overview's charts in page order: ids, title, figure, and `empty` (the empty
    state's text, or None when there is something to draw)."""
    spend, budgets = overview["spend_by_agent"], overview["budgets"]
    fallbacks, privacy = overview["fallbacks"], overview["privacy"]
    strategies, latency, tax = overview["strategies"], overview["latency"], overview["fallback_tax"]
    any_privacy = any(
        privacy[k] and any(privacy[k]) for k in ("with_pii", "forced_local", "refused")
    )
    return [
        _panel(
            "spend",
            "Spend per agent per day",
            spend_by_agent_figure(spend),
            None
            if spend["agents"]
            else "Nothing billed in this window: every answer came from a local model "
            "or the cache.",
        ),
        _panel(
            "budgets",
            "Spend against each budget, with today's burn rate",
            budget_figure(budgets),
            None
            if budgets
            else "No budgets with a limit yet: an admin adds them on the Budgets page.",
        ),
        _panel(
            "fallbacks",
            "Fallback rate per model, by rejection reason",
            fallback_figure(fallbacks),
            None
            if fallbacks["total_rejected"]
            else "No rejected attempts in this window: every model answered first time.",
        ),
        _panel(
            "privacy",
            "Privacy-rule activations",
            privacy_figure(privacy),
            None if any_privacy else "No PII found and no request forced local in this window.",
        ),
        _panel(
            "strategies",
            "Decisions per strategy",
            strategy_figure(strategies),
            None if strategies["strategies"] else "No decisions in this window.",
        ),
        _panel(
            "latency",
            "Latency per model (p50, p95)",
            latency_figure(latency),
            None if latency["models"] else "No answered requests (outside the cache) yet.",
        ),
        _panel(
            "fallback-tax",
            "Cost of rejected attempts (fallback tax)",
            fallback_tax_figure(tax),
            None
            if tax["total_usd"]
            else "Rejected attempts cost nothing in this window: nothing billed was thrown away.",
        ),
    ]
