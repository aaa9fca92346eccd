"""A pickle planted in the bucket never runs: not at cold start, not in any step, not in the dashboard.

Whoever can write the bucket prefix can replace any object in it. Here every key that
code reads gets a pickle whose ``__reduce__`` creates a marker file when unpickled:
``latest.joblib``, an archived version, the inner pipeline of an otherwise well-formed
model file (with forged metrics and a forged ``latest.json`` naming it), and the live
version's archived dataset. Then every reader runs; the marker must never appear, and
each refusal is one line that says why.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import uuid
from pathlib import Path

import joblib
import pytest
import requests
from streamlit.testing.v1 import AppTest

from heartml.features import CONTRACT, LABEL_CODING
from heartml.ops import traffic_windows
from heartml.serving import traffic_monitor
from heartml.serving.served_model import installed_sklearn
from heartml.store import registry
from heartml.store.backends import Store, open_store
from heartml.store.model_file import MODEL_FORMAT, metrics_json
from tests.helpers import (
    BUCKET,
    REPO,
    SAMPLE_RECORD,
    call_step,
    publish_once,
    serve_function,
    stop_function,
)

FORGED_RUN = "forged-2"


class Planted:
    """Unpickling this opens (creates) the marker file: proof that code from the bucket ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (str(self.marker), "w"))


def planted_pickle(marker: Path) -> bytes:
    return pickle.dumps(Planted(marker))


def forged_model_file(marker: Path) -> bytes:
    """A model file of the right shape whose inner pipeline is the planted pickle."""
    payload = {
        "format": MODEL_FORMAT,
        "metadata": {
            "run_id": FORGED_RUN,
            "versions": {"scikit-learn": installed_sklearn()},
            "label_coding": dict(LABEL_CODING),
            "contract": CONTRACT.to_record(),
        },
        "linear": None,  # so a reader that wants predictions must unpickle the pipeline
        "pipeline": planted_pickle(marker),
    }
    buffer = io.BytesIO()
    joblib.dump(payload, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module", params=["bucket", "folder"])
def good_store(request, gcs_emulator, tmp_path_factory) -> tuple[str, dict, Path]:
    """A bucket prefix, or a folder, holding one honestly trained and promoted version.

    A folder is no more trusted than a bucket: it may be shared, mounted or synced, and
    its own pointer is no reference held outside it.
    """
    work = tmp_path_factory.mktemp("good")
    if request.param == "bucket":
        uri = f"gs://{BUCKET}/planted-{uuid.uuid4().hex[:8]}"
    else:
        uri = str(work / "store")
    metrics = publish_once(uri, work, "good-1")
    return uri, metrics, work


@pytest.fixture
def planted(good_store, tmp_path) -> tuple[Store, dict, Path, Path]:
    """A copy of the good prefix with a planted pickle at every key code reads."""
    source_uri, good_metrics, work = good_store
    source, store = open_store(source_uri), open_store(f"{source_uri}-{uuid.uuid4().hex[:6]}")
    for key in source.list_keys():
        store.write_bytes(key, source.read_bytes(key))
    marker = tmp_path / "MARKER"
    hostile = planted_pickle(marker)
    forged = forged_model_file(marker)
    dataset_sha = good_metrics["dataset"]["sha256"]
    store.write_bytes(registry.LATEST_MODEL_KEY, hostile)
    store.write_bytes(registry.model_key("good-1"), hostile)
    store.write_bytes(registry.dataset_key(dataset_sha), hostile)
    store.write_bytes(registry.model_key(FORGED_RUN), forged)
    forged_metrics = {
        **{k: good_metrics[k] for k in ("acc", "val_acc", "roc_auc", "dataset")},
        "run_id": FORGED_RUN,
        "timestamp": "2099-01-01T00:00:00Z",
        "model_sha256": hashlib.sha256(forged).hexdigest(),
        "gate": {"passed": True, "reasons": []},
    }
    store.write_bytes(registry.metrics_key(FORGED_RUN), metrics_json(forged_metrics))
    pointer = {"run_id": FORGED_RUN, "model_sha256": forged_metrics["model_sha256"]}
    store.write_bytes(registry.LATEST_POINTER_KEY, json.dumps(pointer).encode())
    candidate = tmp_path / "artifacts"
    dataset = str(work / "datasets" / "default.csv")
    trained = call_step("train", "--path", dataset, "--out", str(candidate), "--run-id", "new-3")
    assert trained.returncode == 0, trained.stderr
    return store, good_metrics, marker, candidate


def test_the_planted_pickle_does_run_when_unpickled(tmp_path) -> None:
    """The control: the payload is live, so its absence below means it was never loaded."""
    marker = tmp_path / "MARKER"
    joblib.load(io.BytesIO(planted_pickle(marker)))
    assert marker.exists()
    marker.unlink()
    pipeline = joblib.load(io.BytesIO(forged_model_file(marker)))["pipeline"]
    assert not marker.exists()
    pickle.loads(pipeline)
    assert marker.exists()


def _cold_start(tmp_path: Path, store: Store, **pin: str) -> tuple[requests.Response, str]:
    function = serve_function(tmp_path, PIPELINE_STORE=store.uri, **pin)
    try:
        return requests.post(function.url, json=SAMPLE_RECORD, timeout=10), function.log()
    finally:
        stop_function(function.process)


def test_a_cold_start_unpinned_refuses_the_forged_version_without_running_it(
    planted, tmp_path
) -> None:
    store, _, marker, _ = planted
    response, log = _cold_start(tmp_path, store)
    assert response.status_code == 503
    assert "refusing to unpickle the pipeline" in response.json()["error"]["message"]
    assert sum("model not loaded" in line for line in log.splitlines()) == 1
    assert not marker.exists()


def test_a_cold_start_pinned_to_the_good_version_refuses_both_planted_copies(
    planted, tmp_path
) -> None:
    store, good, marker, _ = planted
    response, _ = _cold_start(
        tmp_path, store, SERVED_RUN_ID="good-1", SERVED_MODEL_SHA256=good["model_sha256"]
    )
    assert response.status_code == 503
    message = response.json()["error"]["message"]
    assert "models/good-1.joblib: its sha256 is not that of the pinned version good-1" in message
    assert not marker.exists()


def test_the_gate_refuses_the_champion_in_one_line_and_judges_on_floors(planted) -> None:
    store, _, marker, candidate = planted
    result = call_step(
        "gate",
        "--artifacts",
        str(candidate),
        "--reports",
        str(candidate / "reports"),
        PIPELINE_STORE=store.uri,
    )
    assert result.returncode == 0, result.stderr
    verdict = json.loads((candidate / "metrics.json").read_text())["gate"]
    assert verdict["champion"] is None
    [note] = [n for n in verdict["notes"] if "not comparable" in n]
    assert "refusing to unpickle the pipeline" in note and "judged on floors alone" in note
    assert not marker.exists()


def test_validation_reads_the_planted_dataset_reference_as_text_only(planted, tmp_path) -> None:
    store, _, marker, _ = planted
    dataset = tmp_path / "dataset.csv"
    dataset.write_bytes(store.read_bytes(registry.DATASET_KEY))
    result = call_step(
        "validate", "--path", str(dataset), "--reports", str(tmp_path), PIPELINE_STORE=store.uri
    )
    assert result.returncode == 0, result.stderr
    assert not marker.exists()


def test_history_report_rollback_and_upload_read_no_model(planted, tmp_path) -> None:
    store, _, marker, candidate = planted
    assert call_step("history", "--store", store.uri).returncode == 0
    rollback = call_step("rollback", "--to", "good-1", PIPELINE_STORE=store.uri)
    assert rollback.returncode == 1
    assert "does not match metrics" in rollback.stderr
    gate = call_step("gate", "--artifacts", str(candidate), PIPELINE_STORE=store.uri)
    assert gate.returncode == 0, gate.stderr
    dataset = tmp_path / "dataset.csv"
    dataset.write_bytes(store.read_bytes(registry.DATASET_KEY))
    upload = call_step(
        "upload", "--artifacts", str(candidate), "--path", str(dataset), PIPELINE_STORE=store.uri
    )
    assert upload.returncode == 0, upload.stderr
    report = call_step(
        "report", "--artifacts", str(candidate), "--reports", str(tmp_path / "reports")
    )
    assert report.returncode == 0, report.stderr
    assert not marker.exists()


def test_the_dashboard_shows_the_store_without_loading_a_model(planted, monkeypatch) -> None:
    store, _, marker, _ = planted
    monkeypatch.setenv("PIPELINE_STORE", store.uri)
    app = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=60)
    app.run()
    assert not app.exception, app.exception
    assert app.subheader[0].value == f"Promoted: {FORGED_RUN}"
    assert not marker.exists()


def test_the_monitor_refuses_the_forged_live_model_in_one_line(planted, tmp_path) -> None:
    store, _, marker, _ = planted
    window = {
        "format": traffic_monitor.FORMAT, "run_id": FORGED_RUN, "instance": "i-1",
        "start": "2026-12-01T08:00:00Z", "end": "2026-12-01T08:10:00Z", "reason": "due",
        "requests": 1, "records": 1, "count_only": True, "errors": {},
    }  # fmt: skip
    sink = open_store(tmp_path / "sink")
    traffic_windows.collect(
        [json.dumps({"logger": "heartml.monitoring", "monitoring": window})], sink
    )
    result = call_step(
        "monitor", "--from", sink.uri, "--since", "2026-11-01",
        "--report-dir", str(tmp_path / "out"), PIPELINE_STORE=store.uri,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "refusing to unpickle the pipeline" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists()
