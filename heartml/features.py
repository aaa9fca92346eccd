"""The data contract as the steps use it: the project file's columns, roles and label.

Everything here follows ``project.toml`` (``heartml.project`` reads and checks it): a
column is renamed, re-typed, re-ranged or re-interpreted there, in one place. The served
function reads none of it from the file: a model file records the contract it was
trained on.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from heartml import project
from heartml.contract import Contract, Direction, FeatureSpec

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["Direction", "FeatureSpec"]

PROJECT = project.current()
LABEL = PROJECT.label.column
# The label's value(s) that are the model's class 1 (the file's label.positive).
POSITIVE_VALUES: tuple[Any, ...] = PROJECT.label.positive
DISEASE_VALUE = POSITIVE_VALUES[0] if len(POSITIVE_VALUES) == 1 else list(POSITIVE_VALUES)

# What the API calls each class of the model: class 1 is the label's positive value(s).
DIAGNOSES: dict[int, str] = {0: PROJECT.label.negative_answer, 1: PROJECT.label.positive_answer}

# What the classifier's class 1 stands for, recorded in every model file and metrics
# record, so a reader never has to guess which way a version's probabilities point.
LABEL_CODING: dict[str, Any] = {
    "column": LABEL,
    "disease_value": DISEASE_VALUE,
    "class_1": DIAGNOSES[1],
}

# Versions written before the coding was recorded (model format heartml-model/2) were
# fitted on the label as it is, so their class 1 is the other answer.
LEGACY_LABEL_CODING: dict[str, Any] = {
    "column": LABEL,
    "disease_value": DISEASE_VALUE,
    "class_1": DIAGNOSES[0],
}

_FEATURE_SPECS = tuple(c for c in PROJECT.columns if c.role != "ignored" and c.name != LABEL)
# Measurements and binary flags: median-imputed and standardised.
NUMERIC_FEATURES: tuple[str, ...] = tuple(
    c.name for c in _FEATURE_SPECS if c.role == "numeric" and c.unknown_code is None
)
# Ordered codes with an "unknown" code (FeatureSpec.unknown_code): median-imputed and
# standardised like a measurement (their effect is then monotone), the unknown code as missing.
COUNT_FEATURES: tuple[str, ...] = tuple(
    c.name for c in _FEATURE_SPECS if c.role == "numeric" and c.unknown_code is not None
)
# Coded categories: constant-imputed and one-hot encoded; unseen codes are ignored.
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(
    c.name for c in _FEATURE_SPECS if c.role == "categorical"
)

FEATURES: tuple[str, ...] = NUMERIC_FEATURES + COUNT_FEATURES + CATEGORICAL_FEATURES

# Column order of the dataset file, as the project file lists it.
DATASET_COLUMNS: tuple[str, ...] = tuple(c.name for c in PROJECT.columns)


def has_disease(target: Any) -> Any:
    """Return the model's class (1 = the positive class) for label values (a Series or a scalar)."""
    if hasattr(target, "isin"):
        return target.isin(POSITIVE_VALUES) * 1
    return int(target in POSITIVE_VALUES)


def class_1_is_disease(coding: dict[str, Any]) -> bool:
    """Tell which way a recorded label coding points; refuse one this project does not know."""
    return CONTRACT.class_1_is_positive(coding)


def label_coding_of(metrics: dict[str, Any]) -> dict[str, Any]:
    """Return a version's label coding from its metrics; records without one are pre-fix."""
    coding = metrics.get("label_coding", LEGACY_LABEL_CODING)
    return coding if isinstance(coding, dict) else {}


def label_note(coding: dict[str, Any]) -> str:
    """Say in a few words how a version's answers relate to its classifier, for tables."""
    try:
        return "current" if class_1_is_disease(coding) else "pre-fix, turned round"
    except ValueError:
        return "unknown"


SPECS: dict[str, FeatureSpec] = {spec.name: spec for spec in PROJECT.columns}

# What every model trained here is built for, recorded in its file (the function reads that).
CONTRACT = Contract(
    features=tuple(SPECS[name] for name in FEATURES),
    label=LABEL,
    positive=POSITIVE_VALUES,
    answers=DIAGNOSES,
    means=PROJECT.label.means,
)

# The features with a documented direction, for tests and the label check.
DIRECTIONS: dict[str, Direction] = {
    name: spec.direction for name, spec in SPECS.items() if spec.direction is not None
}


def slice_masks(x: pd.DataFrame) -> dict[str, np.ndarray]:
    """Return each slice's name and a mask of the rows in it (rows with no value are in none).

    A coded column gives one slice per named code ("<column> <name>"); a numeric one gives
    bands between its edges ("<column> under 45", "<column> 45-54", "<column> 65 and over").
    """
    import numpy as np  # here: serving imports this module and never slices

    masks: dict[str, np.ndarray] = {}
    for piece in PROJECT.slices:
        values = x[piece.column].to_numpy(dtype=float)
        if piece.names is not None:
            for code, name in piece.names.items():
                masks[f"{piece.column} {name}"] = values == code
            continue
        whole = all(float(edge).is_integer() for edge in piece.edges)
        edges = [-np.inf, *piece.edges, np.inf]
        for low, high in itertools.pairwise(edges):
            masks[f"{piece.column} {_band(low, high, whole)}"] = (values >= low) & (values < high)
    return masks


def _band(low: float, high: float, whole: bool) -> str:
    """Name a band: whole-number edges as "45-54", others as "1.5 to under 2.5"."""
    if low == -float("inf"):
        return f"under {high:g}"
    if high == float("inf"):
        return f"{low:g} and over"
    return f"{low:g}-{high - 1:g}" if whole else f"{low:g} to under {high:g}"
