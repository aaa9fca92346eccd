"""What an answer means: P(heart disease), pointing the way the data and UCI's diagnoses point.

The tutorial read `target` 1 as heart disease; in this data it is the absence of it.
These tests pin the meaning to evidence that does not depend on that label: UCI's
angiographic diagnoses of the same patients, and the clinical markers' directions.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from heartml.data.dataset import read_dataset
from heartml.features import (
    CONTRACT,
    DATASET_COLUMNS,
    DIAGNOSES,
    DIRECTIONS,
    DISEASE_VALUE,
    FEATURES,
    LABEL,
    SPECS,
    has_disease,
)
from heartml.model import behaviour
from heartml.serving import api, served_model
from tests.helpers import DATASET, SAMPLE_RECORD, legacy_model

# UCI Machine Learning Repository, "Heart Disease" (Janosi, Steinbrunn, Pfisterer, Detrano,
# 1988, CC BY 4.0), processed.cleveland.data records 1-4. Columns: age, sex, cp, trestbps,
# chol, fbs, restecg, thalach, exang, oldpeak, slope, ca, thal, num (0 = no disease, 1-4 = disease).
UCI_CLEVELAND = {
    1: "63.0,1.0,1.0,145.0,233.0,1.0,2.0,150.0,0.0,2.3,3.0,0.0,6.0,0",
    2: "67.0,1.0,4.0,160.0,286.0,0.0,2.0,108.0,1.0,1.5,2.0,3.0,3.0,2",
    3: "67.0,1.0,4.0,120.0,229.0,0.0,2.0,129.0,1.0,2.6,2.0,2.0,7.0,1",
    4: "37.0,1.0,3.0,130.0,250.0,0.0,0.0,187.0,0.0,3.5,3.0,0.0,3.0,0",
}
UCI_COLUMNS = (*DATASET_COLUMNS[:-1], "num")  # the same order, UCI's num for the label
# The columns the Kaggle form kept as UCI wrote them (it recoded cp, restecg, slope and thal).
UNCHANGED = ("age", "sex", "trestbps", "chol", "fbs", "thalach", "exang", "oldpeak", "ca")

UCI_CASES = [
    case for case in behaviour.behaviour_cases() if "uci_cleveland_record" in case.evidence
]


def _uci(record: int) -> dict[str, float]:
    return dict(zip(UCI_COLUMNS, map(float, UCI_CLEVELAND[record].split(",")), strict=True))


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return read_dataset(DATASET)


@pytest.fixture(scope="module")
def current(trained_artifacts) -> served_model.LoadedModel:
    """The model exactly as the function loads it (fast path)."""
    return served_model.model_from_bytes(
        (trained_artifacts / "pipeline.joblib").read_bytes(), "new", verified=True
    )


@pytest.fixture(scope="module")
def served_models(current, frame) -> dict[str, served_model.LoadedModel]:
    """Every way a version is served: new and pre-fix files, fast path and pipeline."""
    legacy = served_model.model_from_bytes(legacy_model(frame)[0], "legacy", verified=True)
    return {
        "new, fast path": current,
        "new, pipeline": dataclasses.replace(current, scorer=None),
        "pre-fix, fast path": legacy,
        "pre-fix, pipeline": dataclasses.replace(legacy, scorer=None),
    }


def _answer(model: served_model.LoadedModel, record: dict) -> dict:
    return api.predict(model, api.parse_request(record, CONTRACT))


def test_the_four_uci_records_are_these_rows_and_their_diagnosis_is_the_label_read_right() -> None:
    lines = DATASET.read_text(encoding="utf-8-sig").splitlines()
    header = lines[0].split(",")
    assert len(UCI_CASES) == 4
    for case in UCI_CASES:
        uci = _uci(case.evidence["uci_cleveland_record"])
        assert uci["num"] == case.evidence["num"]
        row = dict(zip(header, map(float, lines[case.line - 1].split(",")), strict=True))
        assert {k: row[k] for k in UNCHANGED} == {k: uci[k] for k in UNCHANGED}
        # num > 0 is disease; in this file that patient's target is DISEASE_VALUE.
        assert (uci["num"] > 0) == (row[LABEL] == DISEASE_VALUE)
        assert case.answer == DIAGNOSES[int(uci["num"] > 0)]


def test_each_documented_direction_is_what_the_shipped_data_shows(frame) -> None:
    disease = has_disease(frame[LABEL]).astype(bool)
    assert disease.sum() == 138  # UCI Cleveland: 139 with disease, 164 without
    for name, direction in DIRECTIONS.items():
        values = frame[name]
        inside = values.between(*direction.over)
        gap = values[inside & disease].mean() - values[inside & ~disease].mean()
        assert np.sign(gap) == direction.sign, (name, gap)


@pytest.mark.parametrize(
    "variant", ["new, fast path", "new, pipeline", "pre-fix, fast path", "pre-fix, pipeline"]
)
def test_uci_records_are_answered_as_uci_diagnosed(served_models, variant) -> None:
    model = served_models[variant]
    for case in UCI_CASES:
        answer = _answer(model, case.record)
        expected = DIAGNOSES[int(case.evidence["num"] > 0)]
        assert answer["diagnosis"] == expected, (case.name, answer)


@pytest.mark.parametrize(
    "variant", ["new, fast path", "new, pipeline", "pre-fix, fast path", "pre-fix, pipeline"]
)
def test_the_tutorials_example_patient_is_clear_with_a_low_probability(
    served_models, variant
) -> None:
    answer = _answer(served_models[variant], SAMPLE_RECORD)
    assert answer["diagnosis"] == "clear"
    assert answer["probability"] < 0.3


def test_a_pre_fix_version_answers_the_complement_of_its_class_1(frame) -> None:
    data, pipeline = legacy_model(frame)
    model = served_model.model_from_bytes(data, "legacy", verified=True)
    assert model.label_coding["class_1"] == "clear"
    x = frame[list(FEATURES)].astype(float)
    p_clear = pipeline.predict_proba(x)[:, 1]
    assert np.allclose(model.probabilities(x.to_numpy().tolist()), 1 - p_clear, rtol=0, atol=1e-12)
    assert np.allclose(model.predict_proba(x)[:, 1], 1 - p_clear, rtol=0, atol=1e-12)


def _grid(name: str) -> np.ndarray:
    low, high = DIRECTIONS[name].over
    if SPECS[name].codes is not None:
        return np.arange(low, high + 1)
    return np.linspace(low, high, 7)


@pytest.mark.parametrize("variant", ["new, fast path", "new, pipeline"])
@pytest.mark.parametrize("name", list(DIRECTIONS))
def test_p_disease_moves_with_each_marker_for_every_patient(
    served_models, frame, variant, name
) -> None:
    """Every row of the data as the patient, only ``name`` changed across its span."""
    model = served_models[variant]
    rows = frame[list(FEATURES)].to_numpy(dtype=float)
    column = FEATURES.index(name)
    curves = []
    for value in _grid(name):
        varied = rows.copy()
        varied[:, column] = value
        curves.append(model.probabilities(varied.tolist()))
    steps = np.diff(np.array(curves), axis=0) * DIRECTIONS[name].sign
    assert steps.min() > 0, f"{name}: P(heart disease) moves against the data for some patient"
