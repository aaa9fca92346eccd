"""Request parsing, model loading and the fast path, without a server."""

from __future__ import annotations

import io
import math
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline

from heartml.data.dataset import read_dataset
from heartml.errors import ModelLoadError, RequestError
from heartml.features import CONTRACT, FEATURES, LABEL_CODING, SPECS
from heartml.model import training
from heartml.serving import api, fast_path, served_model
from heartml.store.model_file import MODEL_FORMAT
from tests.helpers import DATASET, REPO, SAMPLE_RECORD


@pytest.fixture(scope="module")
def model(trained_artifacts) -> served_model.LoadedModel:
    return served_model.model_from_bytes(
        (trained_artifacts / "pipeline.joblib").read_bytes(), "x", verified=True
    )


def test_a_complete_record_parses_to_floats_in_feature_order() -> None:
    values = api.parse_record(SAMPLE_RECORD, CONTRACT)
    assert values == [float(SAMPLE_RECORD[name]) for name in FEATURES]


def test_null_is_accepted_because_the_pipeline_imputes_it() -> None:
    values = api.parse_record({**SAMPLE_RECORD, "chol": None}, CONTRACT)
    assert values[FEATURES.index("chol")] is None


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ([SAMPLE_RECORD], "body", "an array"),
        ("text", "body", "a string"),
        (None, "body", "got null"),
        ({k: v for k, v in SAMPLE_RECORD.items() if k != "thal"}, "thal", "is required"),
        ({**SAMPLE_RECORD, "age": "63"}, "age", "a string"),
        ({**SAMPLE_RECORD, "sex": True}, "sex", "a boolean"),
        ({**SAMPLE_RECORD, "chol": math.nan}, "chol", "finite"),
        ({**SAMPLE_RECORD, "chol": -math.inf}, "chol", "finite"),
        ({**SAMPLE_RECORD, "chol": 10**400}, "chol", "finite"),
        ({**SAMPLE_RECORD, "ca": [1]}, "ca", "an array"),
        ({**SAMPLE_RECORD, "ca": {"v": 1}}, "ca", "an object"),
        ({**SAMPLE_RECORD, "cholesterol": 200}, "cholesterol", "not a feature"),
        ({"instances": []}, "instances", "is empty"),
        ({"instances": {}}, "instances", "an object"),
        ({"instances": [SAMPLE_RECORD, {**SAMPLE_RECORD, "age": None, "oldpeak": "x"}]},
         "instances[1].oldpeak", "a string"),
        ({"instances": [SAMPLE_RECORD, 7]}, "instances[1]", "got int"),
        ({"instances": [SAMPLE_RECORD], "extra": 1}, "extra", "not allowed"),
        ({"instances": [SAMPLE_RECORD], "parameters": [1]}, "parameters", "must be an object"),
    ],
)  # fmt: skip
def test_bad_requests_name_the_field_and_the_problem(body, field, problem) -> None:
    with pytest.raises(RequestError) as caught:
        api.parse_request(body, CONTRACT)
    assert caught.value.field == field
    assert problem in caught.value.problem
    assert caught.value.status == 400


def test_a_batch_over_the_limit_is_refused() -> None:
    with pytest.raises(RequestError) as caught:
        api.parse_request({"instances": [SAMPLE_RECORD] * (api.MAX_BATCH + 1)}, CONTRACT)
    assert (caught.value.field, caught.value.status) == ("instances", 400)
    assert "1001 records; at most 1000" in caught.value.problem


def test_batch_and_single_answers_share_one_shape(model) -> None:
    single = api.predict(model, api.parse_request(SAMPLE_RECORD, CONTRACT))
    batch = api.predict(model, api.parse_request({"instances": [SAMPLE_RECORD] * 3}, CONTRACT))
    envelope = {"predictions", "run_id", "trained_at"}
    prediction = {"diagnosis", "probability", "out_of_range", "imputed"}
    assert set(batch) == envelope and set(single) == envelope | prediction
    assert single["run_id"] == batch["run_id"] == "fixture-run"
    assert single["predictions"] == [{k: single[k] for k in prediction}]
    assert [p["probability"] for p in batch["predictions"]] == [single["probability"]] * 3


def test_plausible_values_outside_training_are_answered_and_flagged(model) -> None:
    # Within the clinical limits validation uses, beyond what this model was trained on.
    odd = {**SAMPLE_RECORD, "chol": 700, "age": 18}
    answer = api.predict(model, api.parse_request(odd, CONTRACT))
    assert answer["out_of_range"] == ["age", "chol"]
    assert 0 <= answer["probability"] <= 1
    assert api.predict(model, api.parse_request(SAMPLE_RECORD, CONTRACT))["out_of_range"] == []


@pytest.mark.parametrize(
    ("field", "value", "limit"),
    [("chol", 2330, "between 60 and 800"), ("age", 150, "between 1 and 120"),
     ("age", -5, "between 1 and 120"), ("cp", 7, "one of 0, 1, 2, 3"),
     ("sex", 0.5, "one of 0, 1")],
)  # fmt: skip
def test_impossible_values_are_refused_naming_the_field_and_the_limit(field, value, limit) -> None:
    with pytest.raises(RequestError) as caught:
        api.parse_request({**SAMPLE_RECORD, field: value}, CONTRACT)
    assert caught.value.field == field
    assert limit in caught.value.problem and SPECS[field].description in caught.value.problem


def test_the_limits_are_the_ones_validation_holds_training_data_to() -> None:
    from heartml.data import validation

    assert validation.SPECS is SPECS  # one definition, imported by both


def test_imputed_features_are_listed_and_too_many_are_refused(model) -> None:
    answer = api.predict(
        model, api.parse_request({**SAMPLE_RECORD, "chol": None, "ca": 4}, CONTRACT)
    )
    assert answer["imputed"] == ["chol", "ca"]  # null, and ca's "unknown" code
    three = {**SAMPLE_RECORD, "chol": None, "thal": None, "oldpeak": None}
    assert api.predict(model, api.parse_request(three, CONTRACT))["imputed"] == [
        "chol",
        "oldpeak",
        "thal",
    ]
    with pytest.raises(RequestError) as caught:
        api.parse_request({name: None for name in FEATURES}, CONTRACT)
    assert caught.value.field == "age"
    assert "13 of 13 features are missing or unknown" in caught.value.problem
    assert "at most 25% may be imputed" in caught.value.problem
    # The share is the caller's setting (SERVE_MAX_MISSING_SHARE).
    api.parse_request({**three, "age": None}, CONTRACT, max_missing_share=0.5)


def test_every_problem_is_reported_at_once_led_by_the_first() -> None:
    with pytest.raises(RequestError) as caught:
        api.parse_request({"age": 63}, CONTRACT)
    missing = [f for f in FEATURES if f != "age"]
    assert caught.value.field == missing[0]
    assert [field for field, _ in caught.value.problems] == missing
    with pytest.raises(RequestError) as caught:
        api.parse_request(
            {**{k: v for k, v in SAMPLE_RECORD.items() if k != "age"}, "Age": 63}, CONTRACT
        )
    assert caught.value.problems == [
        ("age", "is required (a number, or null if unknown)"),
        ("Age", "is not a feature of this model (did you mean age?)"),
    ]


def test_a_batch_of_bad_records_lists_its_problems_up_to_a_bound() -> None:
    with pytest.raises(RequestError) as caught:
        api.parse_request({"instances": [{"age": 1000}] * 10}, CONTRACT)
    problems = caught.value.problems
    assert len(problems) == api.MAX_PROBLEMS
    assert problems[0][0] == "instances[0].age" and "between 1 and 120" in problems[0][1]
    assert problems[-1] == ("instances", f"and {10 * 13 - api.MAX_PROBLEMS + 1} more problems")


@pytest.mark.parametrize("shape", ["dataframe_records", "dataframe_split", "inputs"])
def test_other_servers_request_shapes_are_pointed_to_instances(shape) -> None:
    with pytest.raises(RequestError) as caught:
        api.parse_request({shape: [SAMPLE_RECORD]}, CONTRACT)
    assert caught.value.field == shape
    assert "request shape" in caught.value.problem and '"instances"' in caught.value.problem


def test_unused_parameters_are_answered_with_a_note(model) -> None:
    body = {"instances": [SAMPLE_RECORD], "parameters": {"threshold": 0.3}}
    answer = api.predict(model, api.parse_request(body, CONTRACT))
    assert answer["notes"] == ["parameters.threshold is not used: the only parameter is explain"]
    assert "notes" not in api.predict(model, api.parse_request(SAMPLE_RECORD, CONTRACT))


def _rows_with_holes() -> np.ndarray:
    """Every dataset row, then every row again with one feature missing in turn."""
    rows = read_dataset(DATASET)[list(FEATURES)].to_numpy(dtype=float)
    holes = rows.copy()
    holes[np.arange(len(rows)), np.arange(len(rows)) % len(FEATURES)] = np.nan
    return np.vstack([rows, holes])


def test_the_fast_path_matches_predict_proba_on_every_row(model) -> None:
    assert model.scorer is not None
    rows = _rows_with_holes()
    expected = model.pipeline.predict_proba(pd.DataFrame(rows, columns=list(FEATURES)))[:, 1]
    batch = np.array(model.probabilities(rows.tolist()))
    one_by_one = np.array(
        [model.probabilities([[None if np.isnan(v) else v for v in row]])[0] for row in rows]
    )
    assert np.max(np.abs(batch - expected)) <= 1e-9
    assert np.max(np.abs(one_by_one - expected)) <= 1e-9


def test_a_model_the_fast_path_does_not_understand_is_served_by_its_pipeline() -> None:
    frame = read_dataset(DATASET)
    params = training.TrainParams()
    forest = training.build_pipeline(params)
    forest.steps[-1] = ("classifier", RandomForestClassifier(n_estimators=20, random_state=0))
    train_x, _, train_y, _ = training.split(frame, params)
    forest.fit(train_x, train_y)
    assert fast_path.export(forest, list(FEATURES)) is None

    metadata = {
        "run_id": "forest",
        "versions": training.runtime_versions(),
        "label_coding": LABEL_CODING,
        "contract": CONTRACT.to_record(),
    }
    loaded = served_model.model_from_bytes(
        training.serialise_model(forest, metadata, None), "forest", verified=True
    )
    assert loaded.scorer is None
    rows = _rows_with_holes()
    expected = forest.predict_proba(pd.DataFrame(rows, columns=list(FEATURES)))[:, 1]
    assert np.allclose(loaded.probabilities(rows.tolist()), expected, rtol=0, atol=1e-12)
    with pytest.raises(RequestError) as caught:
        api.predict(loaded, api.parse_request(SAMPLE_RECORD, CONTRACT, explain=True))
    assert (caught.value.field, caught.value.status) == ("explain", 400)
    assert "not available for this model" in caught.value.problem


def _logit(p: float) -> float:
    return math.log(p) - math.log1p(-p)


def _explained(model, rows: np.ndarray, *, batch: bool) -> list[dict]:
    records = [[None if np.isnan(v) else float(v) for v in row] for row in rows]
    if batch:
        body = {"instances": [dict(zip(FEATURES, r, strict=True)) for r in records[:1000]]}
        body["parameters"] = {"explain": True}
        return api.predict(model, api.parse_request(body, CONTRACT, 1.0))["predictions"]
    return [
        api.predict(
            model, api.parse_request(dict(zip(FEATURES, r, strict=True)), CONTRACT, 1.0, True)
        )
        for r in records
    ]


@pytest.mark.parametrize("batch", [False, True])
def test_baseline_plus_contributions_is_the_logit_on_every_row(model, batch) -> None:
    rows = _rows_with_holes()
    answers = _explained(model, rows, batch=batch)
    assert len(answers) == (min(len(rows), 1000) if batch else len(rows))
    worst = 0.0
    for answer in answers:
        explanation = answer["explanation"]
        total = explanation["baseline"] + sum(
            c["contribution"] for c in explanation["contributions"]
        )
        worst = max(worst, abs(total - _logit(answer["probability"])))
        shares = explanation["contributions"]
        # One entry per original feature, sorted by magnitude, imputed ones marked and worth 0.
        assert sorted(c["feature"] for c in shares) == sorted(FEATURES)
        assert [abs(c["contribution"]) for c in shares] == sorted(
            (abs(c["contribution"]) for c in shares), reverse=True
        )
        for c in shares:
            assert c["imputed"] == (c["feature"] in answer["imputed"])
            if c["imputed"]:
                assert c["contribution"] == 0.0
    assert worst <= 1e-9, worst


def test_a_pre_fix_model_explains_the_log_odds_of_heart_disease() -> None:
    from tests.helpers import legacy_model

    data, _ = legacy_model(read_dataset(DATASET))
    legacy = served_model.model_from_bytes(data, "legacy", verified=True)
    assert legacy.scorer is not None and legacy.label_coding["class_1"] == "clear"
    for answer in _explained(legacy, _rows_with_holes()[:50], batch=False):
        explanation = answer["explanation"]
        total = explanation["baseline"] + sum(
            c["contribution"] for c in explanation["contributions"]
        )
        assert abs(total - _logit(answer["probability"])) <= 1e-9


def test_a_contribution_points_the_way_the_feature_moves_the_risk(model) -> None:
    # Exercise-induced angina goes with heart disease in the data (features.DIRECTIONS).
    with_angina = {**SAMPLE_RECORD, "exang": 1}
    answer = api.predict(model, api.parse_request(with_angina, CONTRACT, explain=True))
    exang = next(c for c in answer["explanation"]["contributions"] if c["feature"] == "exang")
    assert exang["contribution"] > 0 and exang["value"] == 1


def test_unexplained_answers_carry_no_explanation(model) -> None:
    answer = api.predict(model, api.parse_request({"instances": [SAMPLE_RECORD]}, CONTRACT))
    assert "explanation" not in answer["predictions"][0]


@pytest.mark.parametrize(
    ("query", "expected"),
    [(None, False), ("true", True), ("1", True), ("false", False), ("", False)],
)
def test_a_single_record_asks_for_an_explanation_in_the_query_string(query, expected) -> None:
    assert api.parse_explain_query(query) is expected


def test_a_malformed_explain_is_refused_by_name() -> None:
    with pytest.raises(RequestError) as caught:
        api.parse_explain_query("please")
    assert caught.value.field == "explain"
    with pytest.raises(RequestError) as caught:
        api.parse_request(
            {"instances": [SAMPLE_RECORD], "parameters": {"explain": "yes"}}, CONTRACT
        )
    assert caught.value.field == "parameters.explain"


@pytest.mark.parametrize(
    "pipeline",
    [
        DummyClassifier(),
        Pipeline([("only", DummyClassifier())]),
    ],
)
def test_export_declines_other_structures(pipeline) -> None:
    assert fast_path.export(pipeline, list(FEATURES)) is None


def _file(payload: object) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(payload, buffer)
    return buffer.getvalue()


def test_a_model_from_another_scikit_learn_is_refused(trained_artifacts) -> None:
    payload = joblib.load(trained_artifacts / "pipeline.joblib")
    payload["metadata"]["versions"]["scikit-learn"] = "0.23.2"
    with pytest.raises(ModelLoadError, match=r"trained with scikit-learn 0\.23\.2, running"):
        served_model.model_from_bytes(_file(payload), "old.joblib", verified=True)


@pytest.mark.parametrize(
    "payload",
    [
        DummyClassifier(),  # a bare estimator, as the tutorial saved
        {"format": "heartml-model/1", "pipeline": None, "metadata": {}},
        {"format": MODEL_FORMAT, "metadata": {"versions": {"scikit-learn": "x"}}},
    ],
)
def test_files_not_written_by_steps_train_are_refused(payload) -> None:
    with pytest.raises(ModelLoadError, match="refusing"):
        served_model.model_from_bytes(_file(payload), "foreign.joblib", verified=True)


@pytest.mark.parametrize("coding", [None, {"class_1": "sick"}, "heart-disease"])
def test_a_current_file_without_a_known_label_coding_is_refused(trained_artifacts, coding) -> None:
    payload = joblib.load(trained_artifacts / "pipeline.joblib")
    payload["metadata"]["label_coding"] = coding
    with pytest.raises(ModelLoadError, match="label coding is missing or unknown"):
        served_model.model_from_bytes(_file(payload), "unknown-coding.joblib", verified=True)


def test_a_corrupt_file_is_refused_with_a_reason() -> None:
    with pytest.raises(ModelLoadError, match=r"cannot read corrupt\.joblib"):
        served_model.model_from_bytes(b"definitely not a pickle", "corrupt.joblib", verified=True)


def test_loading_a_fast_path_model_imports_neither_scikit_learn_nor_pandas(
    trained_artifacts,
) -> None:
    code = (
        "import sys; from heartml.serving import served_model; "
        f"m = served_model.load_trained({str(trained_artifacts)!r}); "
        "m.probabilities([[1.0] * 13]); "
        "print('sklearn' in sys.modules, 'pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.stdout.split() == ["False", "False"], out.stderr


def test_a_counts_unknown_code_is_answered_as_a_missing_value(model) -> None:
    unknown = {**SAMPLE_RECORD, "ca": 4}
    missing = {**SAMPLE_RECORD, "ca": None}
    three = {**SAMPLE_RECORD, "ca": 3}
    fast = [
        api.predict(model, api.parse_request(r, CONTRACT))["probability"]
        for r in (unknown, missing, three)
    ]
    frame = pd.DataFrame([unknown, missing, three], dtype=float)
    pipeline = model.pipeline.predict_proba(frame)[:, 1]
    assert fast[0] == pytest.approx(fast[1], abs=1e-12) and fast[0] != pytest.approx(fast[2])
    assert np.allclose(fast, pipeline, rtol=0, atol=1e-12)


def test_openapi_states_the_same_limits_as_the_features_module() -> None:
    import yaml

    record = yaml.safe_load((REPO / "openapi.yaml").read_text())["components"]["schemas"]["Record"]
    for name in FEATURES:
        prop, spec = record["properties"][name], SPECS[name]
        if spec.codes is not None:
            assert prop["enum"] == [*sorted(spec.codes), None], name
        else:
            assert (prop["minimum"], prop["maximum"]) == (spec.low, spec.high), name
