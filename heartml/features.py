"""The feature set of the heart-disease model: names, roles and the label.

Training, validation and serving all read these definitions, so a column is
renamed or re-typed in exactly one place.
"""

from __future__ import annotations

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
