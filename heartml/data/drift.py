"""Drift of a new dataset from the live model's training data: which features moved.

Validation measures it before training (``validation.validate``); a fixed-seed sample
of each side keeps the tests' cost flat however large the datasets grow.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from heartml.data.dataset import read_dataset
from heartml.errors import PipelineError
from heartml.features import FEATURES, SPECS
from heartml.store import registry
from heartml.store.backends import open_store

log = logging.getLogger("heartml.validation")  # drift's lines were validation's before

DRIFT_SAMPLE_SEED = 0


def live_reference(store_uri: str, rows: int) -> tuple[pd.DataFrame, str] | None:
    """The rows of the live model's training data the drift tests compare, and its run id."""
    try:
        store = open_store(store_uri)
        live = registry.live_training_dataset(store)
        if live is None:
            return None
        run_id, live_data = live
        reference = sample(read_dataset(live_data, "the live model's dataset"), rows)
    except PipelineError as exc:
        log.warning("drift not measured: %s", exc)
        return None
    return reference, run_id


def sample(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """Return at most ``rows`` rows of ``frame``, the same ones on every run."""
    return frame.iloc[sample_positions(len(frame), rows)]


def sample_positions(length: int, rows: int) -> np.ndarray:
    """At most ``rows`` of ``length`` positions, in order, drawn with a fixed seed."""
    if length <= rows:
        return np.arange(length)
    picked = np.random.default_rng(DRIFT_SAMPLE_SEED).choice(length, rows, replace=False)
    return np.sort(picked)


def drift(
    reference: dict[str, pd.Series], current: dict[str, pd.Series], p_value: float
) -> dict[str, Any]:
    """Compare each feature's distribution: Kolmogorov-Smirnov or chi-squared.

    Numeric features get the two-sample KS test; coded ones a chi-squared test of
    homogeneity over their codes (Evidently's defaults for small tables).
    """
    from scipy import stats

    features = {}
    for name in FEATURES:
        ref, cur = reference[name].dropna(), current[name].dropna()
        if ref.empty or cur.empty:
            continue
        if SPECS[name].codes is None:
            test, p = "ks", float(stats.ks_2samp(ref, cur).pvalue)
        else:
            counts = pd.concat(
                [ref.value_counts(), cur.value_counts()], axis=1, keys=["ref", "cur"]
            ).fillna(0)
            if len(counts) < 2:
                test, p = "chi2", 1.0
            else:
                test, p = "chi2", float(stats.chi2_contingency(counts.T.to_numpy()).pvalue)
        features[name] = {"test": test, "p_value": p, "drifted": p < p_value}
    drifted = [name for name, result in features.items() if result["drifted"]]
    return {
        "p_value_threshold": p_value,
        "rows_compared": {"reference": _rows(reference), "current": _rows(current)},
        "features": features,
        "drifted": drifted,
    }


def _rows(columns: dict[str, pd.Series]) -> int:
    return max((len(values) for values in columns.values()), default=0)
