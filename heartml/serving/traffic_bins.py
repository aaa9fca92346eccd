"""The bins the traffic monitor counts each feature in, fixed by the training rows.

Computed at training (``training_bins``) and kept in the model file, so every instance
of a version bins alike and the monitor can compare live counts with training's. A
file's bins are checked before it serves (``bins_problem``); an older file's are
rebuilt from its feature ranges.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

from heartml.contract import Contract

# The bins every window counts beside a feature's own.
MISSING, IMPUTED, OUT_OF_RANGE = "missing", "imputed", "out_of_range"
QUANTILE_BINS = 10
PROBABILITY_BINS = 10


def training_bins(train_x: Any, contract: Contract) -> dict[str, dict[str, Any]]:
    """Each feature's bins from the training rows: codes, or interior decile edges and range.

    Computed at training and kept in the model file (``metadata["monitoring_bins"]``),
    so every instance of a version bins alike and the reader can name the bins.
    """
    import numpy as np  # here: training calls this, serving only reads the result

    bins: dict[str, dict[str, Any]] = {}
    for spec in contract.features:
        name = spec.name
        column = train_x[name].to_numpy(dtype=float)
        values = column[~np.isnan(column)]
        if spec.codes is not None:
            codes = sorted(float(v) for v in np.unique(values))
            if spec.unknown_code is not None:
                codes = [c for c in codes if c != spec.unknown_code]
            bins[name] = {"codes": codes}
        else:
            quantiles = np.quantile(values, np.linspace(0, 1, QUANTILE_BINS + 1)[1:-1])
            bins[name] = {
                "edges": sorted({float(q) for q in quantiles}),
                "min": float(values.min()),
                "max": float(values.max()),
            }
        bins[name]["training_counts"] = _reference_counts(bins[name], column, spec.unknown_code)
    return bins


def _reference_counts(spec: dict[str, Any], column: Any, unknown: int | None) -> dict[str, int]:
    """The training rows counted on the very bins the function counts live traffic on.

    Vectorised twin of ``Monitor._binner`` (a test holds the two equal), so a million
    training rows cost milliseconds.
    """
    import numpy as np

    missing = np.isnan(column)
    counts = {MISSING: int(missing.sum())}
    values = column[~missing]
    if "codes" in spec:
        imputed = values == unknown if unknown is not None else np.zeros(len(values), bool)
        counts[IMPUTED] = int(imputed.sum())
        known = np.isin(values, spec["codes"])
        counts[OUT_OF_RANGE] = int((~known & ~imputed).sum())
        for code in spec["codes"]:
            counts[f"{code:g}"] = int((values == code).sum())
    else:
        outside = (values < spec["min"]) | (values > spec["max"])
        counts[OUT_OF_RANGE] = int(outside.sum())
        index = np.searchsorted(spec["edges"], values[~outside], side="right")
        for i, n in enumerate(np.bincount(index, minlength=len(spec["edges"]) + 1)):
            counts[f"q{i}"] = int(n)
    return {label: n for label, n in counts.items() if n}


def answer_reference(p_disease: Any) -> dict[str, Any]:
    """The training rows' answers: the probability histogram and the predicted-positive share."""
    import numpy as np

    p = np.asarray(p_disease, dtype=float)
    bins = np.minimum((p * PROBABILITY_BINS).astype(int), PROBABILITY_BINS - 1)
    return {
        "probability": np.bincount(bins, minlength=PROBABILITY_BINS).tolist(),
        "positive_share": float(np.mean(p > 0.5)),
    }


def reference(bins: dict[str, dict[str, Any]], answers: dict[str, Any] | None) -> dict[str, Any]:
    """What live traffic is compared with, without the edges: kept in ``metrics.json``.

    The dashboard reads metrics only, never a model file; the training counts on the
    function's bins and the training answers are all it needs to show drift per day.
    """
    return {
        "training_counts": {
            name: dict(spec.get("training_counts") or {}) for name, spec in bins.items()
        },
        "answers": answers,
    }


def bins_from_ranges(ranges: dict[str, Any], names: Collection[str]) -> dict[str, dict[str, Any]]:
    """Bins for a version trained before ``monitoring_bins``: ten equal steps of its range."""
    bins: dict[str, dict[str, Any]] = {}
    for name in names:
        seen = ranges.get(name) or {}
        if "codes" in seen:
            bins[name] = {"codes": [float(c) for c in seen["codes"]]}
        elif "min" in seen and "max" in seen:
            low, high = float(seen["min"]), float(seen["max"])
            step = (high - low) / QUANTILE_BINS
            edges = sorted({low + step * i for i in range(1, QUANTILE_BINS)})
            bins[name] = {"edges": edges, "min": low, "max": high}
        else:
            bins[name] = {"edges": [], "min": float("-inf"), "max": float("inf")}
    return bins


def bins_problem(bins: Any, names: Collection[str]) -> str | None:
    """What makes a model file's ``monitoring_bins`` unusable, or None when it is sound.

    A model file is store content: its bins are read by the function and the monitor,
    so they are checked like any other record before either relies on their shape.
    """
    if not isinstance(bins, dict):
        return "monitoring_bins is not an object"
    for name, spec in bins.items():
        if name not in names or not isinstance(spec, dict):
            return "monitoring_bins names something that is not a feature"
        points = spec.get("codes", spec.get("edges"))
        numbers = isinstance(points, list) and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in points
        )
        bounds = "codes" in spec or all(
            isinstance(spec.get(k), int | float) and math.isfinite(spec[k]) for k in ("min", "max")
        )
        counts = spec.get("training_counts", {})
        whole = isinstance(counts, dict) and all(
            type(n) is int and 0 <= n < 2**53 for n in counts.values()
        )
        if not (numbers and len(points) <= 1000 and bounds and whole):
            return f"monitoring_bins of {name} are malformed"
    return None


def bins_of(metadata: dict[str, Any], names: Collection[str]) -> dict[str, dict[str, Any]]:
    """A model file's bins: its training bins, or, for an older version, ones from its ranges.

    The function bins live traffic and the monitor reads it back with this same answer.
    """
    ranges = metadata.get("feature_ranges") or {}
    return metadata.get("monitoring_bins") or bins_from_ranges(ranges, names)


def bin_names(spec: dict[str, Any]) -> list[str]:
    """The names a feature's counts are kept under, in order (the reader's columns)."""
    if "codes" in spec:
        named = [f"{c:g}" for c in spec["codes"]]
    else:
        named = [f"q{i}" for i in range(len(spec["edges"]) + 1)]
    return [*named, MISSING, IMPUTED, OUT_OF_RANGE]
