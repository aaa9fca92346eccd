"""The Cloud Function, served by functions-framework over real HTTP."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import joblib
import pandas as pd
import pytest
import requests

from heartml import registry
from heartml.artifacts import read_artifacts
from heartml.store import open_store
from tests.conftest import SAMPLE_RECORD, ServedFunction, serve_function, stop_function


@pytest.fixture
def published_store(gcs_uri: str, trained_artifacts: Path) -> str:
    """An emulator bucket with the fixture model published as latest."""
    model_bytes, metrics = read_artifacts(trained_artifacts)
    registry.publish(open_store(gcs_uri), model_bytes, metrics)
    return gcs_uri


@pytest.fixture
def served(tmp_path: Path, published_store: str) -> Iterator[ServedFunction]:
    function = serve_function(tmp_path, PIPELINE_STORE=published_store)
    yield function
    stop_function(function.process)


def test_a_posted_record_gets_the_tutorial_answer_from_latest(served, trained_artifacts) -> None:
    response = requests.post(served.url, json=SAMPLE_RECORD, timeout=10)
    assert response.status_code == 200
    body = response.json()
    pipeline = joblib.load(trained_artifacts / "pipeline.joblib")["pipeline"]
    expected = pipeline.predict_proba(pd.DataFrame([SAMPLE_RECORD]).astype(float))[0, 1]
    assert body["probability"] == pytest.approx(expected, abs=1e-12)
    assert body["diagnosis"] == ("heart-disease" if expected > 0.5 else "clear")
    assert body["run_id"] == "fixture-run"
    assert "loaded model run_id=fixture-run from gs://" in served.log()


def test_a_bad_record_gets_400_naming_the_field(served) -> None:
    response = requests.post(served.url, json={**SAMPLE_RECORD, "chol": "high"}, timeout=10)
    assert response.status_code == 400
    assert response.json() == {
        "error": {"field": "chol", "message": "must be a number or null, got a string"}
    }


def test_a_store_without_a_model_answers_503_with_the_reason(tmp_path, gcs_uri) -> None:
    function = serve_function(tmp_path, PIPELINE_STORE=gcs_uri)
    try:
        response = requests.post(function.url, json=SAMPLE_RECORD, timeout=10)
    finally:
        stop_function(function.process)
    assert response.status_code == 503
    assert "models/latest.joblib does not exist" in response.json()["error"]["message"]
    assert "Traceback" not in response.text


def test_a_model_from_another_scikit_learn_is_not_served(
    tmp_path, gcs_uri, trained_artifacts
) -> None:
    payload = joblib.load(trained_artifacts / "pipeline.joblib")
    payload["metadata"]["versions"]["scikit-learn"] = "1.0.2"
    buffer = io.BytesIO()
    joblib.dump(payload, buffer)
    open_store(gcs_uri).write_bytes(registry.LATEST_MODEL_KEY, buffer.getvalue())

    function = serve_function(tmp_path, PIPELINE_STORE=gcs_uri)
    try:
        response = requests.post(function.url, json=SAMPLE_RECORD, timeout=10)
    finally:
        stop_function(function.process)
    assert response.status_code == 503
    assert "trained with scikit-learn 1.0.2" in response.json()["error"]["message"]
    assert "model not loaded: refusing" in function.log()


def test_without_a_store_it_serves_the_local_artifact(tmp_path, trained_artifacts) -> None:
    workdir = tmp_path / "checkout"
    shutil.copytree(trained_artifacts, workdir / "artifacts")
    function = serve_function(tmp_path, cwd=workdir, PIPELINE_STORE="")
    try:
        response = requests.post(function.url, json=SAMPLE_RECORD, timeout=10)
    finally:
        stop_function(function.process)
    assert response.status_code == 200
    assert response.json()["run_id"] == "fixture-run"
