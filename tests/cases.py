"""Test data shared between test modules: the shipped dataset and one broken copy per check."""

from __future__ import annotations

import pandas as pd

from heartml.dataset import read_dataset
from tests.helpers import DATASET

GOOD = read_dataset(DATASET)


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
    # The export UCI's num > 0 gives: 1 = heart disease, the other way from heartml/features.py.
    "label coded the other way": (
        GOOD.assign(target=1 - GOOD["target"]),
        "target: looks inverted: taking target=0 as heart disease (heartml/features.py), "
        "4 of 4 documented markers point the other way",
    ),
}
