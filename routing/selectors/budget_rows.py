"""Every budget row with the spend it is measured against, for the Budgets page.

Enforced budgets take their figures from the status selector (routing.selectors.status),
so the page shows exactly what GET /api/status and the engine see: spend in the current
day or month, share of the limit, warning level and today's burn rate. A disabled
budget is not in the routing snapshot; its spend is read from the same ledger buckets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from routing.models import Budget
from routing.selectors.status import status
from routing.snapshot import current_snapshot, load_runtime_state

OFF = "off"  # the warning level of a disabled budget: the engine does not apply it


@dataclass(frozen=True)
class BudgetRow:
    budget: Budget
    spent_usd: float
    share: float | None  # spent / limit; None without a (positive) limit
    warning_level: str  # normal | warning | critical | off
    burn_rate: Mapping[str, Any] | None  # day budgets only

    @property
    def percent(self) -> float | None:
        return None if self.share is None else round(self.share * 100, 1)

    @property
    def bar_percent(self) -> float:
        """The share drawn as a bar: 0 to 100."""
        return min(max(self.percent or 0.0, 0.0), 100.0)


def budget_list() -> list[Budget]:
    # id breaks ties: several agents' budgets share a scope and period.
    return list(
        Budget.objects.select_related("agent", "provider", "model").order_by(
            "scope", "period", "id"
        )
    )


def budget_rows(now: datetime, budgets: list[Budget] | None = None) -> list[BudgetRow]:
    """`budgets` (all of them by default), each with its spend. Two queries once the
    snapshot is warm, three when a budget is disabled or newer than the snapshot."""
    rows = budget_list() if budgets is None else budgets
    enforced = {(b["scope"], b["target"], b["period"]): b for b in status(now)["budgets"]}
    ledger: Mapping[tuple[str, str, str], float] | None = None
    result = []
    for budget in rows:
        key = (budget.scope, budget.target_key, budget.period)
        figures = enforced.get(key) if budget.enabled else None
        if figures is not None:
            result.append(
                BudgetRow(
                    budget=budget,
                    spent_usd=figures["spent_usd"],
                    share=figures["share"],
                    warning_level=figures["warning_level"],
                    burn_rate=figures["burn_rate"],
                )
            )
            continue
        if ledger is None:
            ledger = load_runtime_state(snapshot=current_snapshot(), session_id=None, now=now).spend
        spent = round(ledger.get(key, 0.0), 6)
        limit = float(budget.limit_usd) if budget.limit_usd is not None else None
        result.append(
            BudgetRow(
                budget=budget,
                spent_usd=spent,
                share=round(spent / limit, 4) if limit else None,
                warning_level=OFF if not budget.enabled else "",
                burn_rate=None,
            )
        )
    return result
