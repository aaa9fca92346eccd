"""The feature set of the heart-disease model: names, roles, plausible values, the label.

Training, data validation and serving all read these definitions, so a column is
renamed, re-typed or re-ranged in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass

LABEL = "target"

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

# Coded categories: constant-imputed and one-hot encoded; unseen codes are ignored.
CATEGORICAL_FEATURES: tuple[str, ...] = ("sex", "cp", "restecg", "ca", "slope", "thal")

FEATURES: tuple[str, ...] = NUMERIC_FEATURES + CATEGORICAL_FEATURES

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

# What a prediction of each class is called in the API (the tutorial's words).
DIAGNOSES: dict[int, str] = {0: "clear", 1: "heart-disease"}


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

    def is_valid(self, value: float) -> bool:
        """Tell whether one non-missing value is plausible for this column."""
        if self.codes is not None:
            return float(value).is_integer() and int(value) in self.codes
        return self.low <= value <= self.high


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
        FeatureSpec("thalach", "maximum heart rate achieved, bpm", low=40, high=250),
        FeatureSpec("exang", "exercise-induced angina, 1 = yes", codes=_BINARY),
        FeatureSpec("oldpeak", "ST depression induced by exercise, mm", low=-5, high=10),
        FeatureSpec(
            "slope", "slope of the peak exercise ST segment, 0-2", codes=frozenset(range(3))
        ),
        FeatureSpec("ca", "major vessels coloured by fluoroscopy, 0-4", codes=frozenset(range(5))),
        FeatureSpec("thal", "thalassemia code, 0-3", codes=frozenset(range(4))),
        FeatureSpec(LABEL, "1 = heart disease, 0 = clear", codes=_BINARY),
    )
}
