"""The step scripts against a local folder and the emulator bucket.

Most cases call each step's ``main`` in-process for speed; the unreachable-store
case and the workflow test run them as subprocesses, exactly as a user does.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from heartml.data.dataset import read_dataset
from heartml.errors import IntegrityError
from heartml.store import registry
from heartml.store.backends import open_store
from heartml.store.model_file import sha256_bytes
from heartml.store.run_folder import read_artifacts
from tests.cases import BROKEN
from tests.dashboard.seed import seed_history
from tests.helpers import DATASET, call_step, free_port, legacy_model, publish_once, run_step


def test_the_loop_lands_every_object_where_the_layout_says(store_uri: str, tmp_path: Path) -> None:
    metrics = publish_once(store_uri, tmp_path, "run-1")
    store = open_store(store_uri)
    assert store.list_keys() == [
        "dataset.csv",
        f"datasets/{sha256_bytes(DATASET.read_bytes())}.csv",
        "models/cards/run-1.json",
        "models/cards/run-1.md",
        "models/latest.joblib",
        "models/latest.json",
        "models/metrics/run-1.json",
        "models/run-1.joblib",
    ]
    pointer = json.loads(store.read_bytes("models/latest.json"))
    assert pointer["run_id"] == "run-1"
    # The live version's record names its model card, and the card is the gate's.
    assert (
        pointer["model_card"]
        == metrics["model_card"]
        == {
            "json": "models/cards/run-1.json",
            "markdown": "models/cards/run-1.md",
        }
    )
    card = json.loads(store.read_bytes("models/cards/run-1.json"))
    assert card["run_id"] == "run-1" and card["gate"]["passed"] is True
    assert card["scores"]["roc_auc"]["value"] == metrics["gate"]["candidate"]["roc_auc"]
    assert card["data"]["sha256"] == sha256_bytes(DATASET.read_bytes())
    assert store.read_bytes("models/cards/run-1.md").startswith(b"# Model card: run-1\n")
    assert metrics["gate"]["passed"] is True
    assert store.read_bytes("dataset.csv") == DATASET.read_bytes()
    assert store.read_bytes("models/latest.joblib") == store.read_bytes("models/run-1.joblib")
    assert json.loads(store.read_bytes("models/metrics/run-1.json")) == metrics
    assert (tmp_path / "datasets" / "default.csv").read_bytes() == DATASET.read_bytes()


def test_a_second_run_archives_beside_the_first_and_takes_latest(
    store_uri: str, tmp_path: Path
) -> None:
    publish_once(store_uri, tmp_path / "a", "run-1")
    publish_once(store_uri, tmp_path / "b", "run-2")
    store = open_store(store_uri)
    assert store.list_keys("models/metrics/") == [
        "models/metrics/run-1.json",
        "models/metrics/run-2.json",
    ]
    assert store.read_bytes("models/latest.joblib") == store.read_bytes("models/run-2.joblib")
    assert store.read_bytes("models/run-1.joblib") != store.read_bytes("models/run-2.joblib")
    # The second card is compared with the first, the live one when it was gated.
    card = json.loads(store.read_bytes("models/cards/run-2.json"))
    assert card["live_run_id"] == "run-1"
    changed = {d["field"] for d in card["differences_from_live"]}
    assert "dataset sha256" not in changed and "commit" not in changed
    assert "## Against the live card (run-1)" in store.read_bytes("models/cards/run-2.md").decode()


def test_an_archived_version_is_never_overwritten(store_uri: str, tmp_path: Path) -> None:
    publish_once(store_uri, tmp_path / "a", "same-id")
    store = open_store(store_uri)
    archived = store.read_bytes("models/same-id.joblib")
    metrics = store.read_bytes("models/metrics/same-id.json")

    # Retrain under the same run id (another seed, so other bytes) and try to publish.
    work = tmp_path / "b"
    retrain = ("--path", str(DATASET), "--out", str(work), "--run-id", "same-id", "--seed", "7")
    assert call_step("train", *retrain).returncode == 0
    call_step("gate", "--artifacts", str(work), PIPELINE_STORE=store_uri)
    assert (work / "pipeline.joblib").read_bytes() != archived
    assert "gate" in json.loads((work / "metrics.json").read_text())
    result = call_step(
        "upload", "--artifacts", str(work), "--path", str(DATASET), PIPELINE_STORE=store_uri
    )

    assert result.returncode == 1
    assert "already exists and is never overwritten" in result.stderr
    assert store.read_bytes("models/same-id.joblib") == archived
    assert store.read_bytes("models/metrics/same-id.json") == metrics
    assert store.read_bytes("models/latest.joblib") == archived


def _one_line_reason(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if " ERROR steps: " in line]
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr
    return errors[0]


def test_download_without_a_dataset_fails_with_the_key_and_publishes_nothing(
    store_uri, tmp_path
) -> None:
    result = call_step("download", "--dest", str(tmp_path / "d.csv"), PIPELINE_STORE=store_uri)
    assert result.returncode == 1
    assert "dataset.csv does not exist" in _one_line_reason(result.stderr)
    assert not (tmp_path / "d.csv").exists()
    assert open_store(store_uri).list_keys() == []


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "is empty"), (b"not,a\nheart,table\n", "lacks column(s)"), (None, "does not exist")],
)
def test_a_bad_dataset_never_replaces_the_live_model(store_uri, tmp_path, content, reason) -> None:
    publish_once(store_uri, tmp_path / "good", "good-run")
    store = open_store(store_uri)
    live = store.read_bytes("models/latest.joblib")
    keys_before = store.list_keys()

    bad = tmp_path / "bad.csv"
    if content is not None:
        bad.write_bytes(content)
    result = call_step(
        "train", "--path", str(bad), "--out", str(tmp_path / "bad-artifacts"), "--run-id", "bad-run"
    )
    assert result.returncode == 1
    assert reason in _one_line_reason(result.stderr)
    assert not (tmp_path / "bad-artifacts").exists()

    # What the workflow would run next has nothing to publish, and says so.
    upload = call_step(
        "upload", "--artifacts", str(tmp_path / "bad-artifacts"), PIPELINE_STORE=store_uri
    )
    assert upload.returncode == 1
    assert "run steps.train first" in _one_line_reason(upload.stderr)
    assert store.read_bytes("models/latest.joblib") == live
    assert store.list_keys() == keys_before


def test_an_unreachable_store_fails_every_step_in_one_line(trained_artifacts, tmp_path) -> None:
    env = {
        "PIPELINE_STORE": "gs://nowhere/heart",
        "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{free_port()}",
        "PIPELINE_STORE_TIMEOUT": "2",
    }
    download = run_step("download", "--dest", str(tmp_path / "d.csv"), **env)
    upload = run_step(
        "upload", "--artifacts", str(trained_artifacts), "--path", str(DATASET), **env
    )
    for result, action in ((download, "cannot read"), (upload, "cannot check")):
        assert result.returncode == 1
        assert f"{action} gs://nowhere/heart/" in _one_line_reason(result.stderr)
    assert not (tmp_path / "d.csv").exists()


def test_upload_refuses_a_model_that_does_not_match_its_metrics(store_uri, artifacts_copy) -> None:
    model = artifacts_copy / "pipeline.joblib"
    model.write_bytes(model.read_bytes() + b"tampered")
    result = call_step(
        "upload", "--artifacts", str(artifacts_copy), "--path", str(DATASET),
        PIPELINE_STORE=store_uri,
    )  # fmt: skip
    assert result.returncode == 1
    assert "does not match metrics" in _one_line_reason(result.stderr)
    assert open_store(store_uri).list_keys() == []


def test_a_failed_promotion_leaves_the_previous_latest(store_uri, tmp_path, artifacts_copy) -> None:
    """If the archived copy is corrupted before promotion, latest keeps the old version."""
    publish_once(store_uri, tmp_path / "good", "good-run")
    store = open_store(store_uri)
    live = store.read_bytes("models/latest.joblib")
    metrics = json.loads((artifacts_copy / "metrics.json").read_text())
    store.write_bytes(registry.model_key("fixture-run"), b"half-written")
    store.write_bytes(registry.metrics_key("fixture-run"), json.dumps(metrics).encode())
    with pytest.raises(IntegrityError):
        registry.promote(store, "fixture-run", reason="test")
    assert store.read_bytes("models/latest.joblib") == live
    shutil.rmtree(artifacts_copy)


@pytest.mark.parametrize("case", [*BROKEN, "wrong delimiter", "empty file"])
def test_each_broken_dataset_in_the_bucket_stops_at_validate(
    case, gcs_uri, tmp_path, trained_artifacts
) -> None:
    store = open_store(gcs_uri)
    registry.publish(store, *read_artifacts(trained_artifacts))
    live = store.read_bytes("models/latest.joblib")
    if case == "wrong delimiter":
        content, reason = DATASET.read_bytes().replace(b",", b";"), "looks ';'-separated"
    elif case == "empty file":
        content, reason = b"", "is empty"
    else:
        frame, reason = BROKEN[case]
        content = frame.to_csv(index=False).encode()
    store.write_bytes("dataset.csv", content)
    keys = store.list_keys()

    local = tmp_path / "default.csv"
    assert call_step("download", "--dest", str(local), PIPELINE_STORE=gcs_uri).returncode == 0
    result = call_step(
        "validate", "--path", str(local), "--reports", str(tmp_path), PIPELINE_STORE=gcs_uri
    )

    assert result.returncode == 1
    assert reason in _one_line_reason(result.stderr)
    assert store.list_keys() == keys
    assert store.read_bytes("models/latest.joblib") == live


def test_a_live_version_split_before_the_hash_rule_is_not_compared(
    store_uri, artifacts_copy
) -> None:
    """A pre-fix version was split by a seeded shuffle: it may have trained on these rows."""
    legacy_bytes, _ = legacy_model(read_dataset(DATASET))
    legacy_metrics = {
        "run_id": "legacy-run",
        "model_sha256": hashlib.sha256(legacy_bytes).hexdigest(),
        "gate": {"passed": True},
    }
    registry.publish(open_store(store_uri), legacy_bytes, legacy_metrics)
    args = ["--artifacts", str(artifacts_copy)]
    result = call_step(
        "gate", *args, "--reports", str(artifacts_copy / "reports"), PIPELINE_STORE=store_uri
    )
    assert result.returncode == 0, result.stderr
    verdict = json.loads((artifacts_copy / "metrics.json").read_text())["gate"]
    assert verdict["champion"] is None and verdict["comparison"] is None
    assert verdict["notes"] == [
        "live model not comparable (live legacy-run was split before rows were assigned by "
        "content hash, so it may have trained on these evaluation rows); judged on floors alone"
    ]


def test_history_lists_each_version_with_its_label_coding(local_uri) -> None:
    run_ids = seed_history(open_store(local_uri), 3, pre_fix=1)
    result = run_step("history", "--store", local_uri)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert "label coding" in header
    assert [row.split()[0] for row in rows] == run_ids
    assert "pre-fix, turned round" in rows[0]
    assert all(" current " in row for row in rows[1:])


def test_history_on_a_misspelt_store_says_it_holds_no_pipeline(store_uri, capsys) -> None:
    result = call_step("history", "--store", store_uri + "-typo")
    assert result.returncode == 1
    assert f"{store_uri}-typo holds no pipeline" in result.stderr
    assert capsys.readouterr().out == ""


def test_history_on_a_store_with_data_but_no_version_says_what_to_run(store_uri, capsys) -> None:
    assert (
        call_step("upload_dataset", "--store", store_uri, "--source", str(DATASET)).returncode == 0
    )
    result = call_step("history", "--store", store_uri)
    assert result.returncode == 0, result.stderr
    assert "has a dataset but no versions yet: run `make retrain`" in capsys.readouterr().out


def test_validate_measures_drift_against_the_live_models_archived_dataset(
    store_uri, tmp_path
) -> None:
    publish_once(store_uri, tmp_path / "first", "run-1")
    shifted = tmp_path / "shifted.csv"
    frame = read_dataset(DATASET)
    frame.assign(age=frame["age"] + 15).to_csv(shifted, index=False)
    reports = tmp_path / "reports"
    result = call_step(
        "validate", "--path", str(shifted), "--reports", str(reports), PIPELINE_STORE=store_uri
    )
    assert result.returncode == 0, result.stderr
    drift = json.loads((reports / "validation.json").read_text())["drift"]
    assert drift["drifted"] == ["age"]
    assert drift["reference_run_id"] == "run-1"  # what it moved from, named


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("tampered", "evaluation.npy is not the evaluation set of run fixture-run"),
        ("absent", "no evaluation rows at"),
    ],
)
def test_the_gate_refuses_rows_that_are_not_the_candidates_held_out_rows(
    artifacts_copy, tmp_path, change, reason
) -> None:
    evaluation = artifacts_copy / "evaluation.npy"
    if change == "tampered":  # one label turned round: the scores would no longer be honest
        rows = np.load(evaluation, allow_pickle=False)
        rows[0, -1] = 1 - rows[0, -1]
        np.save(evaluation, rows, allow_pickle=False)
    else:
        evaluation.unlink()
    before = (artifacts_copy / "metrics.json").read_bytes()
    args = ["--artifacts", str(artifacts_copy), "--store", str(tmp_path / "s")]
    result = call_step("gate", *args, "--reports", str(tmp_path / "r"))
    assert result.returncode == 1
    assert reason in result.stderr
    assert (artifacts_copy / "metrics.json").read_bytes() == before  # no verdict recorded
    assert not (tmp_path / "r").exists()
