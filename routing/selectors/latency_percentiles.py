"""Percentiles of latencies: exact over the values, or read from a fixed-bin histogram
(routing.rollup_sql.LATENCY_BIN_EDGES_MS), interpolated the same way."""

from __future__ import annotations

from collections.abc import Sequence

from routing.rollup_sql import latency_bin_upper


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks: what percentile_cont computes."""
    if not sorted_values:
        raise ValueError("no values")
    position = fraction * (len(sorted_values) - 1)
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def _histogram_value(bins: Sequence[tuple[int, int]], rank: int) -> float:
    """The `rank`-th smallest latency (from 0), read from (lower_ms, count) bins: spread
    evenly over the whole milliseconds of its bin."""
    seen = 0
    for lower, count in bins:
        if rank < seen + count:
            upper = latency_bin_upper(lower)
            if upper is None:  # the open last bin: its lower edge is all we know
                return float(lower)
            return lower + (upper - 1 - lower) * (rank - seen + 0.5) / count
        seen += count
    raise ValueError(f"rank {rank} is past the histogram's {seen} values")


def histogram_percentile(bins: Sequence[tuple[int, int]], fraction: float) -> float:
    """`percentile` read from a latency histogram (bins sorted by lower edge): within
    one bin's width of the exact value (routing.rollup_sql.LATENCY_BIN_EDGES_MS)."""
    total = sum(count for _, count in bins)
    if not total:
        raise ValueError("no values")
    position = fraction * (total - 1)
    low = int(position)
    high = min(low + 1, total - 1)
    a, b = _histogram_value(bins, low), _histogram_value(bins, high)
    return a + (b - a) * (position - low)
