"""The dashboard's "Live traffic" view, shaped: per served version and UTC day.

Everything here starts from windows already summed (``traffic.merge``), so no figure
rests on one instance's few requests. What is shown follows the monitoring privacy rule:
a day with fewer than ``min_count`` records shows its counts only, and a share is hidden
when the records behind it, or those not behind it, are fewer than ``min_count`` (a
share of 2 in 500, or of 498 in 500, would single out two patients). Drift per day is
the PSI of the day's counts against the version's training counts, shown once a day has
the ``min_records`` the monitor needs to judge.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pandas as pd

from heartml.features import FEATURES
from heartml.ops import traffic_windows
from heartml.serving import traffic_bins, traffic_monitor

# Records that reached the sink in count-only windows: an instance stopped before its
# window held k records, so they are counted and never described (heartml.serving.traffic_monitor).
HELD = "held below k"

DAY_COLUMNS = [
    "day", "requests", "records", HELD, "instances", "missing", "imputed", "out of range",
    "answered heart disease", "4xx", "5xx",
]  # fmt: skip
# Days as labels kept level ("11-28") and thinned out over 90 days. Not a time axis: in
# the second tab, Vega warned "Infinite extent" for a time axis and for a stack left to
# find its own domain, as if first drawn over no rows (the browser test saw it).
DAY_AXIS = {
    "field": "day",
    "type": "ordinal",
    "title": "day (UTC)",
    "axis": {"labelAngle": 0, "labelOverlap": "parity", "labelExpr": "slice(datum.label, 5)"},
}
SHARES = {
    "missing": traffic_monitor.MISSING,
    "imputed": traffic_monitor.IMPUTED,
    "out of range": traffic_monitor.OUT_OF_RANGE,
}


def by_day(windows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The windows summed per (served version, UTC day of the window's end)."""
    days: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for window in windows:
        days[str(window["end"])[:10]].append(window)
    return {
        (run_id, day): merged
        for day, group in sorted(days.items())
        for run_id, merged in traffic_windows.merge(group).items()
    }


def by_version(days: dict[tuple[str, str], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The days summed per version: the same totals as merging the windows, at a day's cost."""
    return traffic_windows.merge(list(days.values()))


def reference_of(metrics: dict[str, Any]) -> dict[str, Any] | None:
    """A version's training counts and answers from its metrics; None before they were kept."""
    reference = metrics.get("monitoring_reference")
    if isinstance(reference, dict) and isinstance(reference.get("training_counts"), dict):
        return reference
    return None


def shown_share(count: int, total: int, min_count: int) -> float | None:
    """``count / total``, or None when it would single out fewer than ``min_count`` records."""
    if total < min_count or 0 < count < min_count or 0 < total - count < min_count:
        return None
    return count / total


def day_rows(
    days: dict[tuple[str, str], dict[str, Any]], run_id: str, min_count: int
) -> pd.DataFrame:
    """One row per day a version served: volumes, shares of values, share answered positive.

    Missing, imputed and out-of-range are shares of all the values the day's records
    carried (13 per record) in the day's whole windows; "answered heart disease" is the
    share of records answered P ≥ 0.5; "held below k" counts the records of count-only
    windows, which carry no bins.
    """
    rows = []
    for (version, day), merged in days.items():
        if version != run_id:
            continue
        records = traffic_windows.binned_records(merged)
        values = records * len(FEATURES)
        row: dict[str, Any] = {
            "day": day,
            "requests": merged["requests"],
            "records": merged["records"],
            HELD: merged["held_records"],
            "instances": merged["instances"],
        }
        for column, label in SHARES.items():
            count = sum(merged["features"][name].get(label, 0) for name in FEATURES)
            row[column] = shown_share(count, values, min_count) if records >= min_count else None
        answered = sum(merged["probability"])
        positive = sum(merged["probability"][traffic_bins.PROBABILITY_BINS // 2 :])
        row["answered heart disease"] = shown_share(positive, answered, min_count)
        for kind in ("4xx", "5xx"):
            row[kind] = sum(merged["errors"][kind].values())
        rows.append(row)
    return pd.DataFrame(rows, columns=DAY_COLUMNS)


def psi_rows(
    days: dict[tuple[str, str], dict[str, Any]],
    run_id: str,
    reference: dict[str, Any] | None,
    min_records: int,
) -> pd.DataFrame:
    """PSI per feature per day against the version's training counts (days judged only)."""
    rows = []
    for (version, day), merged in days.items():
        if version != run_id or reference is None:
            continue
        if traffic_windows.binned_records(merged) < min_records:
            continue
        for name in FEATURES:
            trained = reference["training_counts"].get(name) or {}
            live = merged["features"][name]
            rows.append(
                {
                    "day": day,
                    "feature": name,
                    "psi": round(traffic_windows.psi(live, trained), 4),
                    "records": traffic_windows.binned_records(merged),
                }
            )
    return pd.DataFrame(rows, columns=["day", "feature", "psi", "records"])


def volume_chart(days: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    """Records per day, stacked by the version that served them (a rollout shows as a hand-over).

    The y domain is given, not left to Vega, for the reason ``DAY_AXIS`` gives.
    """
    totals: dict[str, int] = defaultdict(int)
    for (_, day), merged in days.items():
        totals[day] += merged["records"]
    values = [
        {"day": day, "version": run_id, "records": m["records"], "requests": m["requests"]}
        for (run_id, day), m in days.items()
    ]
    return {
        "title": "Records answered per day",
        "height": 240,
        "data": {"values": values},
        "mark": "bar",
        "encoding": {
            "x": DAY_AXIS,
            "y": {
                "field": "records",
                "type": "quantitative",
                "stack": "zero",
                "scale": {"domain": [0, max(totals.values(), default=1)], "nice": True},
            },
            "color": {"field": "version", "type": "nominal", "title": "served version"},
            "tooltip": [
                {"field": "day"},
                {"field": "version"},
                {"field": "records", "type": "quantitative"},
                {"field": "requests", "type": "quantitative"},
            ],
        },
    }


def psi_chart(psi: pd.DataFrame, threshold: float) -> dict[str, Any]:
    """Drift per feature over time: one cell per feature and day, darker as PSI grows.

    The colour saturates at twice the drift threshold, and cells at or over it are
    outlined, so a drifted feature reads as a dark outlined run along its row.
    """
    values = psi.assign(drifted=psi["psi"] >= threshold).to_dict("records")
    return {
        "title": f"PSI against the training rows (drift at {threshold:g} and over, outlined)",
        "height": 80 + 26 * len(FEATURES),
        "data": {"values": values},
        "mark": {"type": "rect"},
        "encoding": {
            "x": DAY_AXIS,
            "y": {
                "field": "feature",
                "type": "nominal",
                "sort": list(FEATURES),
                "axis": {"labelOverlap": False},  # every feature named
            },
            "color": {
                "field": "psi",
                "type": "quantitative",
                "scale": {"scheme": "oranges", "domain": [0, 2 * threshold], "clamp": True},
            },
            "stroke": {
                "condition": {"test": "datum.drifted", "value": "#000000"},
                "value": "transparent",
            },
            "strokeWidth": {"value": 2},
            "tooltip": [
                {"field": "feature"},
                {"field": "day"},
                {"field": "psi", "type": "quantitative", "format": ".3f"},
                {"field": "records", "type": "quantitative"},
            ],
        },
    }
