"""The workflow file itself: its `run:` steps, in order, against the emulator bucket.

Expressions get test values, and the deploy step is replaced by serving ``main.py``
with functions-framework under the environment the deploy script gives the function.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests
import yaml

from heartml.store import open_store
from tests.conftest import BUCKET, REPO, SAMPLE_RECORD, python_env, serve_function, stop_function

WORKFLOW = REPO / ".github" / "workflows" / "pipeline.yml"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def _load_workflow() -> dict:
    # PyYAML reads the key `on` as True; the test only needs jobs.
    return yaml.safe_load(WORKFLOW.read_text())


def _substitute(text: str, values: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression not in values:
            pytest.fail(f"pipeline.yml uses ${{{{ {expression} }}}}: give it a test value")
        return values[expression]

    return EXPRESSION.sub(replace, text)


def _checkout(tmp_path: Path) -> Path:
    """A copy of the repository as actions/checkout would leave it (tracked files only)."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.split(b"\0")
    target = tmp_path / "checkout"
    for name in filter(None, (f.decode() for f in files)):
        if (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)
    return target


def test_the_workflow_trains_archives_and_serves_from_the_bucket(gcs_emulator, tmp_path) -> None:
    prefix = f"wf-{uuid.uuid4().hex[:8]}"
    store_uri = f"gs://{BUCKET}/{prefix}"
    open_store(store_uri).write_bytes(
        "dataset.csv", (REPO / "datasets" / "default.csv").read_bytes()
    )
    values = {
        "vars.GCS_BUCKET": BUCKET,
        "vars.GCS_PREFIX || 'heart-disease'": prefix,
        "github.run_id": "4242",
        "github.run_attempt": "1",
        "vars.GCP_PROJECT_ID": "test-project",
        "vars.FUNCTION_NAME || 'heart-disease'": "heart-disease",
        "vars.FUNCTION_REGION || 'europe-west1'": "europe-west1",
        "vars.FUNCTION_MEMORY || '512Mi'": "512Mi",
        "vars.FUNCTION_SERVICE_ACCOUNT": "",
    }
    job = _load_workflow()["jobs"]["train-and-deploy"]
    job_env = {key: _substitute(str(value), values) for key, value in job["env"].items()}
    assert job_env["PIPELINE_STORE"] == store_uri

    checkout = _checkout(tmp_path)
    venv_bin = str(Path(sys.executable).parent)
    env = python_env(**job_env, PATH=f"{venv_bin}{os.pathsep}{os.environ['PATH']}")
    env.pop("PYTHONPATH")  # the steps must run from the checkout as they are, like on a runner
    ran = []
    for step in job["steps"]:
        if "run" not in step:
            continue
        if step.get("id") == "deploy":
            assert step["run"].strip() == "bash scripts/deploy_function.sh"
            break
        script = _substitute(step["run"], values)
        step_env = {
            **env,
            **{k: _substitute(str(v), values) for k, v in step.get("env", {}).items()},
        }
        result = subprocess.run(
            ["bash", "-e", "-c", script],
            cwd=checkout,
            env=step_env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, f"step {step.get('id')} failed:\n{result.stderr}"
        ran.append(step["id"])
    assert ran == ["install", "download", "train", "upload"]

    store = open_store(store_uri)
    assert store.list_keys("models/") == [
        "models/4242-1.joblib",
        "models/latest.joblib",
        "models/metrics/4242-1.json",
    ]
    metrics = json.loads(store.read_bytes("models/metrics/4242-1.json"))
    assert metrics["run_id"] == "4242-1"
    assert metrics["dataset"]["rows"] == 303
    assert store.read_bytes("models/latest.joblib") == store.read_bytes("models/4242-1.joblib")

    # The deploy gives the function exactly this store (see scripts/deploy_function.sh).
    function = serve_function(tmp_path, cwd=checkout, PIPELINE_STORE=store_uri)
    try:
        response = requests.post(function.url, json=SAMPLE_RECORD, timeout=10)
    finally:
        stop_function(function.process)
    assert response.status_code == 200
    assert response.json()["run_id"] == "4242-1"


@pytest.fixture
def recording_gcloud(tmp_path: Path) -> Path:
    """A ``gcloud`` that records its arguments: Google Cloud cannot be reached from here."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "gcloud"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path / "gcloud-args"}\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return tmp_path


def _deploy(recording_gcloud: Path, **env: str) -> subprocess.CompletedProcess[str]:
    path = f"{recording_gcloud / 'bin'}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(
        ["bash", str(REPO / "scripts" / "deploy_function.sh")],
        cwd=REPO,
        env={"PATH": path, "HOME": str(recording_gcloud), **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_deploy_script_asks_for_a_private_gen2_python312_function(recording_gcloud) -> None:
    result = _deploy(
        recording_gcloud,
        PIPELINE_STORE="gs://bucket/heart",
        GCP_PROJECT_ID="proj",
        PIPELINE_RUN_ID="77-1",
        FUNCTION_SERVICE_ACCOUNT="fn@proj.iam.gserviceaccount.com",
    )
    assert result.returncode == 0, result.stderr
    args = (recording_gcloud / "gcloud-args").read_text().splitlines()
    assert args[:3] == ["functions", "deploy", "heart-disease"]
    for expected in (
        "--gen2",
        "--project=proj",
        "--region=europe-west1",
        "--runtime=python312",
        "--entry-point=predict_handler",
        "--trigger-http",
        "--no-allow-unauthenticated",
        "--memory=512Mi",
        "--set-env-vars=PIPELINE_STORE=gs://bucket/heart,DEPLOYED_RUN_ID=77-1",
        "--service-account=fn@proj.iam.gserviceaccount.com",
    ):
        assert expected in args
    assert "--allow-unauthenticated" not in args


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GCP_PROJECT_ID": "p"}, "set PIPELINE_STORE"),
        ({"PIPELINE_STORE": "gs://b/p"}, "set GCP_PROJECT_ID"),
        ({"PIPELINE_STORE": "local-store", "GCP_PROJECT_ID": "p"}, "must be gs://"),
    ],
)
def test_the_deploy_script_refuses_incomplete_settings(recording_gcloud, env, message) -> None:
    result = _deploy(recording_gcloud, **env)
    assert result.returncode != 0
    assert message in result.stderr
    assert not (recording_gcloud / "gcloud-args").exists()
