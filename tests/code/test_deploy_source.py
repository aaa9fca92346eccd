"""The function's source upload is an allowlist, checked with gcloud's own file lister.

It holds what ``main.py`` reaches (its imports, read from the source), and no more.

``gcloud functions deploy --source=.`` uploads what ``.gcloudignore`` lets through. The
checkout on a runner holds far more than the function needs, among it the credentials
file google-github-actions/auth writes into the workspace; none of that may ship.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from heartml.store import registry
from heartml.store.backends import open_store
from tests.helpers import (
    DATASET,
    RUNNER_LEFTOVERS,
    SAMPLE_RECORD,
    checkout_files,
    function_source_files,
)

GCLOUD = shutil.which("gcloud")
pytestmark = pytest.mark.skipif(GCLOUD is None, reason="the Google Cloud CLI is not installed")


def _listed_for_upload(tree: Path, config: Path) -> set[str]:
    env = {**os.environ, "CLOUDSDK_CONFIG": str(config)}
    for prop in ("core/disable_usage_reporting", "component_manager/disable_update_check"):
        subprocess.run(
            [GCLOUD, "config", "set", prop, "true", "--quiet"], env=env, capture_output=True
        )
    out = subprocess.run(
        [GCLOUD, "meta", "list-files-for-upload", str(tree)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return {Path(line).as_posix() for line in out.stdout.split()}


def test_only_the_function_and_its_package_are_uploaded(tmp_path) -> None:
    tree = tmp_path / "checkout"
    checkout_files(tree)
    for name, content in RUNNER_LEFTOVERS.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text(content)

    listed = _listed_for_upload(tree, tmp_path / "gcloud-config")

    # What main.py reaches, and nothing else: no training, data or view wing, no dashboard.
    assert sorted(listed) == function_source_files()
    assert not any(
        name.startswith(("heartml/model/", "heartml/views/", "heartml/data/")) for name in listed
    )
    assert not any(name.startswith("gha-creds") for name in listed)


def test_the_function_answers_from_a_folder_holding_only_the_uploaded_files(
    tmp_path, trained_artifacts
) -> None:
    tree = tmp_path / "checkout"
    checkout_files(tree)
    clean = tmp_path / "uploaded"
    for name in _listed_for_upload(tree, tmp_path / "gcloud-config"):
        (clean / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(tree / name, clean / name)
    store_dir = tmp_path / "store"
    model = (trained_artifacts / "pipeline.joblib").read_bytes()
    metrics = json.loads((trained_artifacts / "metrics.json").read_text())
    registry.publish(open_store(store_dir), model, metrics, DATASET.read_bytes())

    code = (
        "import functions_framework, json, sys\n"
        "app = functions_framework.create_app(target='predict_handler', source='main.py')\n"
        "answer = app.test_client().post('/', json=json.loads(sys.argv[1]))\n"
        "print(answer.status_code, json.dumps(answer.get_json()))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "FUNCTION_TARGET"}}
    env["PIPELINE_STORE"] = str(store_dir)
    result = subprocess.run(
        [sys.executable, "-c", code, json.dumps(SAMPLE_RECORD)],
        cwd=clean,
        env=env,
        capture_output=True,
        text=True,
    )
    # The function's JSON log lines come before it (and the last traffic window after).
    printed = [line for line in result.stdout.splitlines() if not line.startswith("{")]
    status, body = printed[-1].split(" ", 1)
    assert status == "200", result.stderr
    assert json.loads(body)["run_id"] == metrics["run_id"]
