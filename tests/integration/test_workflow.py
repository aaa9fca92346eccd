"""The workflow file itself: its `run:` steps, in order, against the emulator bucket.

Expressions get test values, and the deploy step is replaced by serving ``main.py``
with functions-framework under the environment the deploy script gives the function.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import yaml

from heartml.store import open_store
from tests.helpers import (
    BUCKET,
    DATASET,
    REPO,
    SAMPLE_RECORD,
    checkout_files,
    python_env,
    serve_function,
    stop_function,
)

WORKFLOW = REPO / ".github" / "workflows" / "pipeline.yml"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
STATUS_FUNCTIONS = ("success()", "failure()", "always()", "cancelled()")
TRAINING = "!inputs.rollback_to && !inputs.rollback_previous"


@dataclass
class Context:
    """What a workflow run's expressions can see, in this test's terms."""

    inputs: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    outcomes: dict[str, str] = field(default_factory=dict)

    def rolling_back(self) -> bool:
        return (
            bool(self.inputs.get("rollback_to")) or self.inputs.get("rollback_previous") == "true"
        )


# Every expression pipeline.yml uses, evaluated the way GitHub would for this test's runs.
# A new expression in the workflow fails the test until it is given a meaning here.
VALUES: dict[str, Callable[[Context], str]] = {
    "vars.GCS_BUCKET": lambda c: BUCKET,
    "vars.GCS_PREFIX || 'heart-disease'": lambda c: c.variables["GCS_PREFIX"],
    "github.run_id": lambda c: c.variables["run_id"],
    "github.run_attempt": lambda c: "1",
    "inputs.rollback_to": lambda c: c.inputs.get("rollback_to", ""),
    "inputs.rollback_previous": lambda c: c.inputs.get("rollback_previous", "false"),
    "vars.GATE_MIN_ROC_AUC": lambda c: c.variables.get("GATE_MIN_ROC_AUC", ""),
    "vars.GATE_MIN_ACCURACY": lambda c: "",
    "vars.GATE_MAX_ROC_AUC_DROP": lambda c: "",
    "vars.GATE_MAX_ACCURACY_DROP": lambda c: "",
    "vars.VALIDATE_FAIL_ON_DRIFT": lambda c: "",
    "vars.GCP_PROJECT_ID": lambda c: "test-project",
    "vars.GCP_WORKLOAD_IDENTITY_PROVIDER": lambda c: "",
    "vars.GCP_SERVICE_ACCOUNT": lambda c: "",
    "vars.FUNCTION_NAME || 'heart-disease'": lambda c: "heart-disease",
    "vars.FUNCTION_REGION || 'europe-west1'": lambda c: "europe-west1",
    "vars.FUNCTION_MEMORY || '512Mi'": lambda c: "512Mi",
    "vars.FUNCTION_SERVICE_ACCOUNT": lambda c: "",
    "steps.gate.outcome == 'success' && steps.upload.outcome == 'success'": lambda c: str(
        c.outcomes.get("gate") == "success" and c.outcomes.get("upload") == "success"
    ).lower(),
}
CONDITIONS: dict[str, Callable[[Context], bool]] = {
    "inputs.rollback_to || inputs.rollback_previous": Context.rolling_back,
    TRAINING: lambda c: not c.rolling_back(),
    "!cancelled() && (steps.gate.outcome == 'success' || steps.gate.outcome == 'failure')": (
        lambda c: c.outcomes.get("gate") in {"success", "failure"}
    ),
    f"!cancelled() && {TRAINING}": lambda c: not c.rolling_back(),
}


def _substitute(text: str, context: Context) -> str:
    def replace(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression not in VALUES:
            pytest.fail(f"pipeline.yml uses ${{{{ {expression} }}}}: give it a test value")
        return VALUES[expression](context)

    return EXPRESSION.sub(replace, text)


def _should_run(step: dict, context: Context) -> bool:
    failed = "failure" in context.outcomes.values()
    condition = step.get("if")
    if condition is None:
        return not failed
    expression = EXPRESSION.fullmatch(condition.strip())
    expression = expression.group(1) if expression else condition.strip()
    if expression not in CONDITIONS:
        pytest.fail(f"pipeline.yml has the condition {expression!r}: give it a meaning")
    # Without a status function GitHub adds an implicit success().
    implicit_success = not any(fn in expression for fn in STATUS_FUNCTIONS)
    return CONDITIONS[expression](context) and (not failed or not implicit_success)


@dataclass
class WorkflowRun:
    context: Context
    summary: str
    deploy_reached: bool
    stderr: dict[str, str]


def run_workflow(checkout: Path, context: Context) -> WorkflowRun:
    """Run pipeline.yml's `run:` steps in order, as a runner would (actions are skipped)."""
    job = yaml.safe_load(WORKFLOW.read_text())["jobs"]["train-and-deploy"]
    summary = checkout.parent / f"summary-{context.variables['run_id']}.md"
    venv_bin = str(Path(sys.executable).parent)
    env = python_env(PATH=f"{venv_bin}{os.pathsep}{os.environ['PATH']}")
    env.pop("PYTHONPATH")  # the steps must run from the checkout as they are, like on a runner
    env.update({k: _substitute(str(v), context) for k, v in job["env"].items()})
    env["GITHUB_STEP_SUMMARY"] = str(summary)
    deploy_reached, stderr = False, {}
    for step in job["steps"]:
        if "run" not in step:
            continue
        if not _should_run(step, context):
            context.outcomes[step["id"]] = "skipped"
            continue
        if step["id"] == "deploy":
            assert step["run"].strip() == "bash scripts/deploy_function.sh"
            deploy_reached = True
            break
        step_env = {
            **env,
            **{k: _substitute(str(v), context) for k, v in step.get("env", {}).items()},
        }
        result = subprocess.run(
            ["bash", "-e", "-c", _substitute(step["run"], context)],
            cwd=checkout,
            env=step_env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        context.outcomes[step["id"]] = "success" if result.returncode == 0 else "failure"
        stderr[step["id"]] = result.stderr
    text = summary.read_text() if summary.exists() else ""
    return WorkflowRun(context, text, deploy_reached, stderr)


def _context(prefix: str, run_id: str, **variables: str) -> Context:
    return Context(variables={"GCS_PREFIX": prefix, "run_id": run_id, **variables})


def _ask(checkout: Path, tmp_path: Path, store_uri: str) -> dict:
    """Do what the deploy does here: serve main.py with the store the deploy script sets."""
    function = serve_function(tmp_path, cwd=checkout, PIPELINE_STORE=store_uri)
    try:
        response = requests.post(function.url, json=SAMPLE_RECORD, timeout=10)
    finally:
        stop_function(function.process)
    assert response.status_code == 200
    return response.json()


@pytest.fixture(scope="module")
def first_run(gcs_emulator, tmp_path_factory) -> tuple[Path, str, WorkflowRun]:
    """One scheduled run on a fresh bucket prefix: the state the other runs start from."""
    tmp = tmp_path_factory.mktemp("workflow")
    checkout = checkout_files(tmp / "checkout")
    prefix = f"wf-{uuid.uuid4().hex[:8]}"
    open_store(f"gs://{BUCKET}/{prefix}").write_bytes("dataset.csv", DATASET.read_bytes())
    return checkout, prefix, run_workflow(checkout, _context(prefix, "4242"))


@pytest.fixture
def bucket_after_first_run(first_run) -> tuple[Path, str]:
    """A private copy of the bucket prefix as the first run left it."""
    checkout, prefix, _ = first_run
    source = open_store(f"gs://{BUCKET}/{prefix}")
    copy = f"{prefix}-{uuid.uuid4().hex[:6]}"
    target = open_store(f"gs://{BUCKET}/{copy}")
    for key in source.list_keys():
        target.write_bytes(key, source.read_bytes(key))
    return checkout, copy


def test_a_first_run_trains_gates_publishes_and_deploys(first_run, tmp_path) -> None:
    checkout, prefix, run = first_run
    assert run.context.outcomes == {
        "install": "success",
        "rollback": "skipped",
        "download": "success",
        "validate": "success",
        "train": "success",
        "gate": "success",
        "upload": "success",
        "report": "success",
    }, run.stderr
    assert run.deploy_reached
    store = open_store(f"gs://{BUCKET}/{prefix}")
    assert [k for k in store.list_keys("models/")] == [
        "models/4242-1.joblib",
        "models/latest.joblib",
        "models/latest.json",
        "models/metrics/4242-1.json",
    ]
    metrics = json.loads(store.read_bytes("models/metrics/4242-1.json"))
    assert metrics["gate"]["passed"] and metrics["gate"]["champion"] is None
    assert store.read_bytes("models/latest.joblib") == store.read_bytes("models/4242-1.joblib")
    assert "**Gate: passed.** Published to `latest`." in run.summary
    assert _ask(checkout, tmp_path, f"gs://{BUCKET}/{prefix}")["run_id"] == "4242-1"


def test_a_worse_candidate_is_archived_but_never_deployed(bucket_after_first_run) -> None:
    checkout, prefix = bucket_after_first_run
    store = open_store(f"gs://{BUCKET}/{prefix}")
    live = store.read_bytes("models/latest.joblib")
    run = run_workflow(checkout, _context(prefix, "4243", GATE_MIN_ROC_AUC="0.99"))

    assert run.context.outcomes["gate"] == "failure"
    assert "held back: roc_auc" in run.stderr["gate"]
    assert run.context.outcomes["upload"] == "success"
    assert not run.deploy_reached
    assert store.read_bytes("models/latest.joblib") == live
    held = json.loads(store.read_bytes("models/metrics/4243-1.json"))
    assert held["gate"]["passed"] is False
    assert held["gate"]["champion"]["run_id"] == "4242-1"
    assert "**Gate: held back.**" in run.summary
    assert "roc_auc 0.9167 < floor 0.99" in run.summary


def test_a_bad_dataset_stops_before_training(bucket_after_first_run) -> None:
    checkout, prefix = bucket_after_first_run
    store = open_store(f"gs://{BUCKET}/{prefix}")
    keys_before, live = store.list_keys("models/"), store.read_bytes("models/latest.joblib")
    one_class = b"\n".join(
        line
        for i, line in enumerate(DATASET.read_bytes().splitlines())
        if i == 0 or line.endswith(b",1")
    )
    store.write_bytes("dataset.csv", one_class)
    run = run_workflow(checkout, _context(prefix, "4244"))

    assert run.context.outcomes["validate"] == "failure"
    assert "only class 1 present" in run.stderr["validate"]
    for step in ("train", "gate", "upload"):
        assert run.context.outcomes[step] == "skipped"
    assert run.context.outcomes["report"] == "success"
    assert not run.deploy_reached
    assert store.list_keys("models/") == keys_before
    assert store.read_bytes("models/latest.joblib") == live
    assert "**Data checks: FAILED**" in run.summary


def test_a_dispatched_rollback_repoints_latest_and_redeploys(
    bucket_after_first_run, tmp_path
) -> None:
    checkout, prefix = bucket_after_first_run
    store_uri = f"gs://{BUCKET}/{prefix}"
    second = run_workflow(checkout, _context(prefix, "4245"))
    assert second.deploy_reached, second.stderr
    assert _ask(checkout, tmp_path, store_uri)["run_id"] == "4245-1"

    context = _context(prefix, "4246")
    context.inputs = {"rollback_to": "4242-1"}
    rollback = run_workflow(checkout, context)
    assert rollback.context.outcomes["rollback"] == "success", rollback.stderr
    assert rollback.context.outcomes["train"] == "skipped"
    assert rollback.deploy_reached
    store = open_store(store_uri)
    assert store.read_bytes("models/latest.joblib") == store.read_bytes("models/4242-1.joblib")
    assert _ask(checkout, tmp_path, store_uri)["run_id"] == "4242-1"


def test_the_workflow_installs_the_gcloud_version_the_deploy_is_tested_with(tmp_path) -> None:
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["train-and-deploy"]["steps"]
    setup = [s for s in steps if s.get("uses", "").startswith("google-github-actions/setup-gcloud")]
    assert len(setup) == 1
    pinned = setup[0].get("with", {}).get("version", "")
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned), pinned  # not "latest", not a range
    if shutil.which("gcloud"):  # the CLI the tests here run is the one the workflow installs
        env = {**os.environ, "CLOUDSDK_CONFIG": str(tmp_path)}
        out = subprocess.run(["gcloud", "--version"], capture_output=True, text=True, env=env)
        assert f"Google Cloud SDK {pinned}" in out.stdout
