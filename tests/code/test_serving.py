"""Request parsing and model loading, without a server."""

from __future__ import annotations

import io
import math

import joblib
import pytest
from sklearn.dummy import DummyClassifier

from heartml import serving
from heartml.artifacts import MODEL_FORMAT
from heartml.errors import ModelLoadError
from heartml.features import FEATURES
from tests.conftest import SAMPLE_RECORD


def test_a_complete_record_parses_to_floats() -> None:
    record = serving.parse_record(SAMPLE_RECORD)
    assert list(record) == list(FEATURES)
    assert record["oldpeak"] == 2.3 and isinstance(record["age"], float)


def test_null_is_accepted_because_the_pipeline_imputes_it() -> None:
    assert serving.parse_record({**SAMPLE_RECORD, "chol": None})["chol"] is None


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ([SAMPLE_RECORD], "body", "an array"),
        ("text", "body", "a string"),
        ({k: v for k, v in SAMPLE_RECORD.items() if k != "thal"}, "thal", "is required"),
        ({**SAMPLE_RECORD, "age": "63"}, "age", "a string"),
        ({**SAMPLE_RECORD, "sex": True}, "sex", "a boolean"),
        ({**SAMPLE_RECORD, "chol": math.nan}, "chol", "finite"),
        ({**SAMPLE_RECORD, "chol": math.inf}, "chol", "finite"),
        ({**SAMPLE_RECORD, "ca": [1]}, "ca", "an array"),
    ],
)
def test_bad_records_name_the_field_and_the_problem(body, field, problem) -> None:
    with pytest.raises(serving.RequestError) as caught:
        serving.parse_record(body)
    assert caught.value.field == field
    assert problem in caught.value.problem


def _pickle(payload: object) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(payload, buffer)
    return buffer.getvalue()


def test_a_model_file_from_steps_train_loads(trained_artifacts) -> None:
    model = serving.model_from_bytes((trained_artifacts / "pipeline.joblib").read_bytes(), "x")
    assert model.run_id == "fixture-run"
    answer = serving.predict_one(model, serving.parse_record(SAMPLE_RECORD))
    assert answer["diagnosis"] in {"clear", "heart-disease"}
    assert 0.0 <= answer["probability"] <= 1.0


def test_a_model_from_another_scikit_learn_is_refused(trained_artifacts) -> None:
    payload = joblib.load(trained_artifacts / "pipeline.joblib")
    payload["metadata"]["versions"]["scikit-learn"] = "0.23.2"
    with pytest.raises(ModelLoadError, match=r"trained with scikit-learn 0\.23\.2, running"):
        serving.model_from_bytes(_pickle(payload), "old.joblib")


@pytest.mark.parametrize(
    "payload",
    [
        DummyClassifier(),  # a bare estimator, as the tutorial saved
        {"format": "something-else", "pipeline": None, "metadata": {}},
        {"format": MODEL_FORMAT, "pipeline": "not a model", "metadata": {}},
    ],
)
def test_files_not_written_by_steps_train_are_refused(payload) -> None:
    with pytest.raises(ModelLoadError, match="refusing"):
        serving.model_from_bytes(_pickle(payload), "foreign.joblib")


def test_a_corrupt_file_is_refused_with_a_reason() -> None:
    with pytest.raises(ModelLoadError, match="cannot unpickle"):
        serving.model_from_bytes(b"definitely not a pickle", "corrupt.joblib")
