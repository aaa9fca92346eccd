"""The prediction API, served by functions-framework over real HTTP from the emulator bucket."""

from __future__ import annotations

import hashlib
import io
import json
import math
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import requests

from heartml.data.dataset import read_dataset
from heartml.features import FEATURES, LABEL_CODING
from heartml.serving import served_model
from heartml.store import registry
from heartml.store.backends import open_store
from heartml.store.run_folder import read_artifacts
from tests.contract import check_response
from tests.helpers import (
    DATASET,
    REPO,
    SAMPLE_RECORD,
    ServedFunction,
    legacy_model,
    serve_function,
    stop_function,
)


@pytest.fixture(scope="module")
def served(gcs_emulator, tmp_path_factory, trained_artifacts) -> Iterator[ServedFunction]:
    """One function for the module, serving the fixture model published in the bucket."""
    uri = f"gs://heartml-test/api-{id(tmp_path_factory)}"
    registry.publish(open_store(uri), *read_artifacts(trained_artifacts))
    function = serve_function(tmp_path_factory.mktemp("api"), PIPELINE_STORE=uri)
    yield function
    stop_function(function.process)


@pytest.fixture(scope="module")
def pipeline(trained_artifacts):
    return served_model.load_trained(trained_artifacts).pipeline


def post(served: ServedFunction, body: object = None, **kwargs) -> requests.Response:
    if body is not None:
        kwargs["json"] = body
    return requests.post(served.url, timeout=10, **kwargs)


def test_one_record_gets_the_tutorial_answer_and_the_model_identity(served, pipeline) -> None:
    response = post(served, SAMPLE_RECORD)
    assert response.status_code == 200
    body = response.json()
    check_response("POST", 200, body)
    expected = pipeline.predict_proba(pd.DataFrame([SAMPLE_RECORD]).astype(float))[0, 1]
    assert body["probability"] == pytest.approx(expected, abs=1e-9)
    # The tutorial's example patient: UCI Cleveland record 1, diagnosed without disease.
    assert body["diagnosis"] == "clear" and body["probability"] < 0.3
    assert body["run_id"] == "fixture-run" and body["trained_at"].endswith("Z")
    assert body["out_of_range"] == []


def test_every_row_of_the_dataset_matches_predict_proba_through_the_api(served, pipeline) -> None:
    frame = read_dataset(DATASET)[list(FEATURES)]
    records = json.loads(frame.to_json(orient="records"))
    records += [{**r, FEATURES[i % 13]: None} for i, r in enumerate(records)]  # one hole each
    response = post(served, {"instances": records[:1000]})
    assert response.status_code == 200
    body = response.json()
    check_response("POST", 200, body)
    expected = pipeline.predict_proba(pd.DataFrame(records[:1000], dtype=float))[:, 1]
    got = np.array([p["probability"] for p in body["predictions"]])
    assert np.max(np.abs(got - expected)) <= 1e-9
    assert body["run_id"] == "fixture-run" and set(body) == {"predictions", "run_id", "trained_at"}
    holes = [[f for f in FEATURES if r[f] is None or (f == "ca" and r[f] == 4)] for r in records]
    assert [p["imputed"] for p in body["predictions"]] == holes[:1000]


def test_a_plausible_value_outside_training_is_answered_and_flagged(served) -> None:
    response = post(served, {**SAMPLE_RECORD, "chol": 790, "age": 18})
    assert response.status_code == 200
    assert response.json()["out_of_range"] == ["age", "chol"]


def test_an_imputed_feature_is_named_in_the_answer(served) -> None:
    response = post(served, {**SAMPLE_RECORD, "thalach": None, "ca": 4})
    assert response.status_code == 200
    body = response.json()
    check_response("POST", 200, body)
    assert body["imputed"] == body["predictions"][0]["imputed"] == ["thalach", "ca"]


def test_every_problem_of_a_request_is_listed_the_first_as_field(served) -> None:
    body = post(served, {"age": 63}).json()
    check_response("POST", 400, body)
    missing = [f for f in FEATURES if f != "age"]
    assert body["error"]["field"] == missing[0]
    assert [p["field"] for p in body["error"]["problems"]] == missing


def test_unused_parameters_are_named_in_the_answer(served) -> None:
    response = post(served, {"instances": [SAMPLE_RECORD], "parameters": {"confidence": 0.9}})
    assert response.status_code == 200
    check_response("POST", 200, response.json())
    assert response.json()["notes"] == [
        "parameters.confidence is not used: the only parameter is explain"
    ]


def test_a_single_record_is_explained_when_the_query_asks(served) -> None:
    response = requests.post(served.url + "?explain=true", json=SAMPLE_RECORD, timeout=10)
    assert response.status_code == 200
    body = response.json()
    check_response("POST", 200, body)
    explanation = body["explanation"]
    total = explanation["baseline"] + sum(c["contribution"] for c in explanation["contributions"])
    p = body["probability"]
    assert abs(total - (math.log(p) - math.log1p(-p))) <= 1e-9
    assert body["predictions"][0]["explanation"] == explanation


def test_a_batch_is_explained_through_vertex_parameters(served) -> None:
    body = {
        "instances": [SAMPLE_RECORD, {**SAMPLE_RECORD, "chol": None}],
        "parameters": {"explain": True},
    }
    response = post(served, body)
    assert response.status_code == 200
    check_response("POST", 200, response.json())
    second = response.json()["predictions"][1]["explanation"]["contributions"]
    assert next(c for c in second if c["feature"] == "chol") == {
        "feature": "chol",
        "value": None,
        "contribution": 0.0,
        "imputed": True,
    }


@pytest.mark.parametrize("path", ["/invocations", "/v1/models/heart:predict", "/predict/"])
def test_only_the_root_is_served_any_other_path_gets_a_json_404(served, path) -> None:
    for method in ("GET", "POST"):
        response = requests.request(
            method, served.url.rstrip("/") + path, json=SAMPLE_RECORD, timeout=10
        )
        assert response.status_code == 404, (method, path)
        check_response(method if method == "POST" else "POST", 404, response.json())
        assert response.json()["error"]["field"] == "path"


def test_get_reports_health_and_the_live_models_metadata(served, trained_artifacts) -> None:
    response = requests.get(served.url, timeout=10)
    assert response.status_code == 200
    body = response.json()
    check_response("GET", 200, body)
    metrics = json.loads((trained_artifacts / "metrics.json").read_text())
    assert body["status"] == "ok"
    assert body["model"]["run_id"] == "fixture-run"
    assert body["model"]["dataset_sha256"] == metrics["dataset"]["sha256"]
    assert body["model"]["metrics"]["roc_auc"] == metrics["roc_auc"]
    assert body["model"]["label_coding"] == LABEL_CODING == metrics["label_coding"]
    assert body["model"]["fast_path"] is True
    assert body["limits"] == {"max_batch": 1000, "max_body_bytes": 1_048_576}


def test_a_version_trained_before_the_label_fix_is_served_the_right_way_round(
    tmp_path, gcs_uri
) -> None:
    data, pipeline = legacy_model(read_dataset(DATASET))
    open_store(gcs_uri).write_bytes(registry.LATEST_MODEL_KEY, data)
    # Deployed before latest.json existed: the revision's pin is the only record.
    function = serve_function(
        tmp_path,
        PIPELINE_STORE=gcs_uri,
        SERVED_RUN_ID="legacy-run",
        SERVED_MODEL_SHA256=hashlib.sha256(data).hexdigest(),
    )
    try:
        answer = post(function, SAMPLE_RECORD).json()
        health = requests.get(function.url, timeout=10).json()
    finally:
        stop_function(function.process)
    p_clear = pipeline.predict_proba(pd.DataFrame([SAMPLE_RECORD]).astype(float))[0, 1]
    assert answer["diagnosis"] == "clear"
    assert answer["probability"] == pytest.approx(1 - p_clear, abs=1e-9)
    assert answer["probability"] < 0.3
    check_response("GET", 200, health)
    assert health["model"]["run_id"] == "legacy-run"
    assert health["model"]["label_coding"]["class_1"] == "clear"


BAD_REQUESTS = {
    "malformed JSON": ({"data": b'{"age": 63,', "headers": {"Content-Type": "application/json"}},
                       400, "body", "not valid JSON"),
    "wrong content type": ({"data": b"age=63", "headers": {"Content-Type": "text/plain"}},
                           415, "Content-Type", "application/json"),
    "empty body": ({"data": b"", "headers": {"Content-Type": "application/json"}}, 400, "body", "empty"),
    "oversized body": ({"data": b" " * 1_048_577, "headers": {"Content-Type": "application/json"}},
                       413, "body", "larger than"),
    "list where an object belongs": ({"json": [SAMPLE_RECORD]}, 400, "body", "an array"),
    "a string": ({"json": {**SAMPLE_RECORD, "age": "63"}}, 400, "age", "a string"),
    "NaN": ({"data": json.dumps({**SAMPLE_RECORD, "chol": math.nan}).encode(),
             "headers": {"Content-Type": "application/json"}}, 400, "chol", "finite"),
    "Infinity": ({"data": json.dumps({**SAMPLE_RECORD, "trestbps": math.inf}).encode(),
                  "headers": {"Content-Type": "application/json"}}, 400, "trestbps", "finite"),
    "a boolean": ({"json": {**SAMPLE_RECORD, "exang": False}}, 400, "exang", "a boolean"),
    "a missing feature": ({"json": {k: v for k, v in SAMPLE_RECORD.items() if k != "ca"}},
                          400, "ca", "is required"),
    "an unknown feature": ({"json": {**SAMPLE_RECORD, "target": 1}}, 400, "target", "not a feature"),
    "empty batch": ({"json": {"instances": []}}, 400, "instances", "is empty"),
    "batch over the limit": ({"json": {"instances": [SAMPLE_RECORD] * 1001}}, 400, "instances", "at most 1000"),
    "a bad record in a batch": ({"json": {"instances": [SAMPLE_RECORD, {**SAMPLE_RECORD, "sex": None, "cp": "x"}]}},
                                400, "instances[1].cp", "a string"),
    # Impossible values: refused at the limits validation holds training data to.
    "chol 2330": ({"json": {**SAMPLE_RECORD, "chol": 2330}}, 400, "chol", "must be between 60 and 800"),
    "age 150": ({"json": {**SAMPLE_RECORD, "age": 150}}, 400, "age", "must be between 1 and 120"),
    "age -5": ({"json": {**SAMPLE_RECORD, "age": -5}}, 400, "age", "must be between 1 and 120"),
    "cp 7": ({"json": {**SAMPLE_RECORD, "cp": 7}}, 400, "cp", "must be one of 0, 1, 2, 3"),
    "all null": ({"json": dict.fromkeys(SAMPLE_RECORD)}, 400, "age", "13 of 13 features are missing"),
    "a capitalised feature": ({"json": {**{k: v for k, v in SAMPLE_RECORD.items() if k != "age"}, "Age": 63}},
                              400, "age", "is required"),
    "MLflow dataframe_records": ({"json": {"dataframe_records": [SAMPLE_RECORD]}}, 400, "dataframe_records", "use"),
    "MLflow dataframe_split": ({"json": {"dataframe_split": {"columns": ["age"], "data": [[63]]}}},
                               400, "dataframe_split", "MLflow's request shape"),
    "MLflow inputs": ({"json": {"inputs": [SAMPLE_RECORD]}}, 400, "inputs", '{"instances"'),
    "explain not a boolean": ({"json": {"instances": [SAMPLE_RECORD], "parameters": {"explain": "yes"}}},
                              400, "parameters.explain", "true or false"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_input_gets_a_4xx_naming_the_field(served, case) -> None:
    kwargs, status, field, words = BAD_REQUESTS[case]
    response = post(served, **kwargs)
    assert response.status_code == status
    body = response.json()
    check_response("POST", status, body)
    assert body["error"]["field"] == field
    assert words in body["error"]["message"]
    assert "Traceback" not in response.text


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_get_405_with_allow(served, method) -> None:
    response = requests.request(method, served.url, json=SAMPLE_RECORD, timeout=10)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD, POST"
    assert response.json()["error"]["field"] == "method"


def test_each_request_logs_one_json_line_without_patient_values(served) -> None:
    marker = {**SAMPLE_RECORD, "chol": 271.137, "trestbps": 133.917}
    before = len(served.log().splitlines())
    assert post(served, marker).status_code == 200
    assert post(served, {**marker, "age": "sixty-three"}).status_code == 400
    assert post(served, {**marker, "chol": 2331.713}).status_code == 400  # implausible
    lines = served.log().splitlines()[before:]
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    requests_logged = [e for e in entries if e.get("logger") == "main.requests"]
    assert [(e["severity"], e["httpRequest"]["status"]) for e in requests_logged] == [
        ("INFO", 200),
        ("WARNING", 400),
        ("WARNING", 400),
    ]
    for entry in requests_logged:
        assert entry["model_run_id"] == "fixture-run"
        assert entry["httpRequest"]["latency"].endswith("s")
        assert entry["httpRequest"]["requestMethod"] == "POST"
    assert requests_logged[1]["message"] == "POST 400 age: must be a number or null, got a string"
    text = "\n".join(lines)
    for value in ("271.137", "133.917", "sixty-three", "2331.713", "2331"):
        assert value not in text


def test_a_store_without_a_model_reports_unavailable(tmp_path, gcs_uri) -> None:
    function = serve_function(tmp_path, PIPELINE_STORE=gcs_uri)
    try:
        health = requests.get(function.url, timeout=10)
        prediction = post(function, SAMPLE_RECORD)
    finally:
        stop_function(function.process)
    assert health.status_code == 503 and prediction.status_code == 503
    check_response("GET", 503, health.json())
    check_response("POST", 503, prediction.json())
    assert "no model has been promoted in gs://" in prediction.json()["error"]["message"]


def test_a_model_from_another_scikit_learn_is_not_served(
    tmp_path, gcs_uri, trained_artifacts
) -> None:
    payload = joblib.load(trained_artifacts / "pipeline.joblib")
    payload["metadata"]["versions"]["scikit-learn"] = "1.0.2"
    buffer = io.BytesIO()
    joblib.dump(payload, buffer)
    open_store(gcs_uri).write_bytes(registry.LATEST_MODEL_KEY, buffer.getvalue())

    function = serve_function(
        tmp_path,
        PIPELINE_STORE=gcs_uri,
        SERVED_RUN_ID=payload["metadata"]["run_id"],
        SERVED_MODEL_SHA256=hashlib.sha256(buffer.getvalue()).hexdigest(),
    )
    try:
        response = post(function, SAMPLE_RECORD)
    finally:
        stop_function(function.process)
    assert response.status_code == 503
    assert "trained with scikit-learn 1.0.2" in response.json()["error"]["message"]
    assert "model not loaded: refusing" in function.log()


def test_without_a_store_it_serves_what_is_live_in_the_local_store(
    tmp_path, trained_artifacts
) -> None:
    """As in the cloud: never the last candidate in artifacts/, which may be held back."""
    workdir = tmp_path / "checkout"
    registry.publish(open_store(str(workdir / "local-store")), *read_artifacts(trained_artifacts))
    candidate = shutil.copytree(trained_artifacts, workdir / "artifacts")
    metrics = json.loads((candidate / "metrics.json").read_text())
    (candidate / "metrics.json").write_text(json.dumps({**metrics, "run_id": "held-back-run"}))
    function = serve_function(tmp_path, cwd=workdir, PIPELINE_STORE="")
    try:
        response = post(function, SAMPLE_RECORD)
        health = requests.get(function.url, timeout=10).json()
    finally:
        stop_function(function.process)
    assert response.status_code == 200
    assert response.json()["run_id"] == "fixture-run"
    assert health["promoted"]["run_id"] == "fixture-run" and health["promoted"]["is_served"]


def test_without_a_store_or_a_local_loop_it_says_what_to_run(tmp_path) -> None:
    function = serve_function(tmp_path, cwd=tmp_path, PIPELINE_STORE="")
    try:
        response = post(function, SAMPLE_RECORD)
    finally:
        stop_function(function.process)
    assert response.status_code == 503
    message = response.json()["error"]["message"]
    assert "no model has been promoted in local-store yet" in message and "make local" in message


@pytest.fixture
def served_imputing_any_share(gcs_uri, tmp_path, trained_artifacts) -> Iterator[ServedFunction]:
    """The fixture model served with SERVE_MAX_MISSING_SHARE=1.

    A schema cannot say "at most 3 of 13 features null", so with the default a schema-valid
    record could be refused; the share rule has its own tests above.
    """
    registry.publish(open_store(gcs_uri), *read_artifacts(trained_artifacts))
    function = serve_function(tmp_path, PIPELINE_STORE=gcs_uri, SERVE_MAX_MISSING_SHARE="1")
    yield function
    stop_function(function.process)


def test_schemathesis_finds_no_5xx_and_no_response_outside_the_contract(
    served_imputing_any_share, tmp_path
) -> None:
    """Fuzz the served function from openapi.yaml: fixed seed, bounded examples."""
    cli = Path(sys.executable).with_name("schemathesis")
    url = served_imputing_any_share.url.rstrip("/")
    result = subprocess.run(
        [
            str(cli), "run", str(REPO / "openapi.yaml"), "--url", url,
            "--checks", "all", "--max-examples", "60", "--seed", "20261127",
            "--no-color", "--report-dir", str(tmp_path),
        ],
        capture_output=True, text=True, timeout=300, check=False,
        cwd=tmp_path,  # its crash cache goes to ./.schemathesis: keep it out of the checkout
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:]
    assert "generated" in result.stdout and "passed" in result.stdout


def test_under_load_mixed_requests_get_no_5xx_and_well_formed_answers(served) -> None:
    """A few seconds at concurrency 32 on loopback, good and bad requests interleaved."""
    bodies = [
        (SAMPLE_RECORD, 200),
        ({"instances": [SAMPLE_RECORD] * 20}, 200),
        ({**SAMPLE_RECORD, "age": "x"}, 400),
        ({"instances": []}, 400),
        ([1, 2], 400),
        ({**SAMPLE_RECORD, "chol": None}, 200),
    ]
    deadline = time.monotonic() + 3.0
    lock, seen = threading.Lock(), []

    def worker(index: int) -> None:
        session = requests.Session()
        i = index
        while time.monotonic() < deadline and i < index + 2000:
            body, expected = bodies[i % len(bodies)]
            response = session.post(served.url, json=body, timeout=10)
            check_response("POST", response.status_code, response.json())
            with lock:
                seen.append((response.status_code, expected))
            i += 1

    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(worker, range(32)))
    assert len(seen) > 100
    assert all(status == expected for status, expected in seen), {s for s in seen if s[0] != s[1]}
