"""Test data shared between test modules: the shipped dataset and one broken copy per check."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from heartml.data.dataset import read_dataset
from heartml.features import FEATURES
from tests.helpers import DATASET

GOOD = read_dataset(DATASET)

# Noise added to each measurement of a resampled row (uniform, half-width), rounded to one
# decimal so that rows stay distinct; clipped to the plausible ranges validation accepts.
NOISE = {
    "age": (2.0, 1, 120),
    "trestbps": (5.0, 50, 260),
    "chol": (10.0, 60, 800),
    "thalach": (5.0, 40, 250),
    "oldpeak": (0.5, -5, 10),
}


def resampled(rows: int, seed: int, source: pd.DataFrame = GOOD) -> pd.DataFrame:
    """``rows`` distinct rows drawn from ``source`` with noise on each measurement.

    Larger data like the shipped rows, for what 303 rows cannot show: slices big enough
    to judge, a gate comparison narrow enough to decide, the loop's cost at a million rows.
    """
    rng = np.random.default_rng(seed)
    frame = source.iloc[rng.integers(0, len(source), int(rows * 1.01) + 100)]
    frame = frame.reset_index(drop=True)
    for column, (spread, low, high) in NOISE.items():
        noisy = frame[column] + rng.uniform(-spread, spread, len(frame))
        frame[column] = noisy.clip(low, high).round(1)
    frame = frame.drop_duplicates().iloc[:rows].reset_index(drop=True)
    if len(frame) < rows:
        raise ValueError(f"could not draw {rows} distinct rows")
    return frame


def traffic_records(shifted: bool, seed: int) -> list[dict]:
    """300 of the shipped rows drawn again, or a shifted mix of them: older, higher cholesterol.

    Drawn as they are: noise (as in ``tests.cases.resampled``) would itself move oldpeak,
    whose zeros are a third of the data, and the monitor rightly calls that drift.
    """
    frame = GOOD[list(FEATURES)].sample(n=300, replace=True, random_state=seed)
    if shifted:
        frame = frame.assign(
            age=(frame["age"] + 15).clip(upper=95), chol=(frame["chol"] + 70).clip(upper=560)
        )
    return json.loads(frame.to_json(orient="records"))


def with_values(column: str, rows: slice, value: object) -> pd.DataFrame:
    """The shipped data with ``value`` written into ``column`` at ``rows``."""
    frame = GOOD.copy().astype(object)
    frame.loc[rows, column] = value
    return frame


BROKEN = {
    "renamed column": (GOOD.rename(columns={"chol": "cholesterol"}), "missing column(s): chol"),
    "label with other values": (
        with_values("target", slice(0, 4), 2),
        "target: 5 value(s) outside the codes {0, 1}",
    ),
    "one class only": (GOOD[GOOD["target"] == 1], "only class 1 present"),
    "out-of-range values": (
        with_values("trestbps", slice(0, 2), 900),
        "trestbps: 3 value(s) outside [50, 260]",
    ),
    "unknown category code": (
        with_values("cp", slice(0, 0), 7),
        "cp: 1 value(s) outside the codes {0, 1, 2, 3}",
    ),
    "too few rows": (GOOD.head(40), "40 rows, at least 100 needed"),
    "all-missing column": (
        with_values("thalach", slice(None), None),
        "thalach: all values missing",
    ),
    "too many missing": (
        with_values("chol", slice(0, 60), None),
        "chol: 20.1% missing, at most 10%",
    ),
    "text in a numeric column": (
        with_values("age", slice(0, 1), "sixty"),
        "age: 2 value(s) are not numbers",
    ),
    "missing label": (with_values("target", slice(0, 0), None), "target: 0.3% missing, at most 0%"),
    # The export UCI's num > 0 gives: 1 = heart disease, the other way from project.toml.
    "label coded the other way": (
        GOOD.assign(target=1 - GOOD["target"]),
        "target: looks inverted: taking target=0 as heart disease (project.toml label.positive), "
        "4 of 4 documented markers point the other way",
    ),
}
