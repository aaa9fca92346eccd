"""The feature set of the heart-disease model: names, roles, plausible values, the label.

Training, data validation and serving all read these definitions, so a column is
renamed, re-typed, re-ranged or re-interpreted in exactly one place.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

LABEL = "target"

# In the shipped data `target` 0 is heart disease and 1 its absence: the opposite of what
# the tutorial assumed. The same patients in UCI's processed.cleveland.data carry the
# angiographic diagnosis `num` (0 = absence), and every clinical marker agrees; the
# evidence is in datasets/README.md. A fork whose data codes 1 as disease changes this.
DISEASE_VALUE = 0

# What the API calls each class of the model (the tutorial's words): 1 is heart disease.
DIAGNOSES: dict[int, str] = {0: "clear", 1: "heart-disease"}

# What the classifier's class 1 stands for, recorded in every model file and metrics
# record, so a reader never has to guess which way a version's probabilities point.
LABEL_CODING: dict[str, Any] = {
    "column": LABEL,
    "disease_value": DISEASE_VALUE,
    "class_1": DIAGNOSES[1],
}

# Versions written before the coding was recorded (model format heartml-model/2) were
# fitted on `target` as it is, so their class 1 is `target` 1: no heart disease.
LEGACY_LABEL_CODING: dict[str, Any] = {
    "column": LABEL,
    "disease_value": DISEASE_VALUE,
    "class_1": DIAGNOSES[0],
}

# Continuous or binary measurements: median-imputed and standardised.
NUMERIC_FEATURES: tuple[str, ...] = (
    "age",
    "trestbps",
    "chol",
    "fbs",
    "thalach",
    "exang",
    "oldpeak",
)

# Counts: ordered, so median-imputed and standardised like a measurement (their effect is
# then monotone); a code that stands for "unknown" (FeatureSpec.unknown_code) is imputed as
# missing. One-hot codes for ca gave a model whose risk fell from 2 to 3 vessels.
COUNT_FEATURES: tuple[str, ...] = ("ca",)

# Coded categories: constant-imputed and one-hot encoded; unseen codes are ignored.
CATEGORICAL_FEATURES: tuple[str, ...] = ("sex", "cp", "restecg", "slope", "thal")

FEATURES: tuple[str, ...] = NUMERIC_FEATURES + COUNT_FEATURES + CATEGORICAL_FEATURES

# Column order of the dataset file, as published with the UCI Cleveland table.
DATASET_COLUMNS: tuple[str, ...] = (
    "age",
    "sex",
    "cp",
    "trestbps",
    "chol",
    "fbs",
    "restecg",
    "thalach",
    "exang",
    "oldpeak",
    "slope",
    "ca",
    "thal",
    LABEL,
)


def has_disease(target: Any) -> Any:
    """Return the model's class (1 = heart disease) for label values (a Series or a scalar)."""
    return (target == DISEASE_VALUE) * 1


def class_1_is_disease(coding: dict[str, Any]) -> bool:
    """Tell which way a recorded label coding points; refuse one this code does not know."""
    meaning = coding.get("class_1")
    if meaning not in DIAGNOSES.values():
        names = " or ".join(repr(name) for name in DIAGNOSES.values())
        raise ValueError(f"its label coding is missing or unknown (class_1 must be {names})")
    return meaning == DIAGNOSES[1]


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


@dataclass(frozen=True)
class Direction:
    """How a feature moves with heart disease in the shipped data, other things aside.

    ``sign`` is +1 when higher values go with more disease and -1 when with less;
    ``over`` is the span of values it holds for; ``evidence`` the class means behind it.
    Tests hold the served model to it, and validation refuses a dataset that
    contradicts most of these (the sign of an inverted label).
    """

    sign: int
    over: tuple[float, float]
    evidence: str


@dataclass(frozen=True)
class FeatureSpec:
    """What a valid value of one column looks like.

    Numeric columns have an inclusive plausible range (wide clinical limits, not the
    training data's extremes); coded columns have the set of codes they may take.
    """

    name: str
    description: str
    low: float | None = None
    high: float | None = None
    codes: frozenset[int] | None = None
    unknown_code: int | None = None
    direction: Direction | None = None

    def is_valid(self, value: float) -> bool:
        """Tell whether one non-missing value is plausible for this column."""
        if self.codes is not None:
            return float(value).is_integer() and int(value) in self.codes
        return self.low <= value <= self.high

    def limits(self) -> str:
        """Say in words what values are plausible, for error messages."""
        if self.codes is not None:
            return "one of " + ", ".join(str(code) for code in sorted(self.codes))
        return f"between {self.low:g} and {self.high:g}"

    def is_unknown(self, value: float | None) -> bool:
        """Tell whether the model will impute this value: missing, or the "unknown" code."""
        return value is None or (self.unknown_code is not None and value == self.unknown_code)

    def valid(self, values: np.ndarray) -> np.ndarray:
        """Tell, value by value, which non-missing values are plausible (one pass, no loop)."""
        import numpy as np  # here: steps that only move files never import numpy

        if self.codes is not None:
            return np.isin(values, np.array(sorted(self.codes), dtype=float))
        return (values >= self.low) & (values <= self.high)


_BINARY = frozenset({0, 1})

# Codes as published with the Kaggle form of the Cleveland table (ca=4 and thal=0 occur there).
SPECS: dict[str, FeatureSpec] = {
    spec.name: spec
    for spec in (
        FeatureSpec("age", "age in years", low=1, high=120),
        FeatureSpec("sex", "1 = male, 0 = female", codes=_BINARY),
        FeatureSpec("cp", "chest pain type, 0-3", codes=frozenset(range(4))),
        FeatureSpec("trestbps", "resting blood pressure, mm Hg", low=50, high=260),
        FeatureSpec("chol", "serum cholesterol, mg/dl", low=60, high=800),
        FeatureSpec("fbs", "fasting blood sugar > 120 mg/dl, 1 = true", codes=_BINARY),
        FeatureSpec("restecg", "resting ECG result, 0-2", codes=frozenset(range(3))),
        FeatureSpec(
            "thalach",
            "maximum heart rate achieved, bpm",
            low=40,
            high=250,
            direction=Direction(-1, (71, 202), "mean 139.1 with disease, 158.5 without"),
        ),
        FeatureSpec(
            "exang",
            "exercise-induced angina, 1 = yes",
            codes=_BINARY,
            direction=Direction(+1, (0, 1), "55% with disease, 14% without"),
        ),
        FeatureSpec(
            "oldpeak",
            "ST depression induced by exercise, mm",
            low=-5,
            high=10,
            direction=Direction(+1, (0, 6.2), "mean 1.59 with disease, 0.58 without"),
        ),
        FeatureSpec(
            "slope", "slope of the peak exercise ST segment, 0-2", codes=frozenset(range(3))
        ),
        # ca=4 (5 rows) is no vessel count of the UCI original (0-3, with 4 values missing):
        # the model reads it as unknown, and the direction of ca is stated over 0-3.
        FeatureSpec(
            "ca",
            "major vessels coloured by fluoroscopy, 0-3 (4 = unknown)",
            codes=frozenset(range(5)),
            unknown_code=4,
            direction=Direction(+1, (0, 3), "mean 1.17 with disease, 0.36 without"),
        ),
        FeatureSpec("thal", "thalassemia code, 0-3", codes=frozenset(range(4))),
        FeatureSpec(LABEL, "0 = heart disease, 1 = no heart disease", codes=_BINARY),
    )
}

# The features with a documented direction, for tests and the label check.
DIRECTIONS: dict[str, Direction] = {
    name: spec.direction for name, spec in SPECS.items() if spec.direction is not None
}

# Slices the gate scores separately: sex, and age bands with these lower edges (years).
# Bands of ten years round the data's median (56), with the tails pooled: under 45 and
# 65 and over each hold about a sixth of the shipped rows.
AGE_BAND_EDGES: tuple[int, ...] = (45, 55, 65)


def slice_masks(x: pd.DataFrame) -> dict[str, np.ndarray]:
    """Return each slice's name and a mask of the rows in it (rows with no value are in none)."""
    import numpy as np  # here: serving imports this module and never slices

    sex = x["sex"].to_numpy(dtype=float)
    age = x["age"].to_numpy(dtype=float)
    masks = {"sex female": sex == 0, "sex male": sex == 1}
    edges = [-np.inf, *AGE_BAND_EDGES, np.inf]
    for low, high in itertools.pairwise(edges):
        if low == -np.inf:
            name = f"age under {high}"
        elif high == np.inf:
            name = f"age {low} and over"
        else:
            name = f"age {low}-{high - 1}"
        masks[name] = (age >= low) & (age < high)
    return masks
