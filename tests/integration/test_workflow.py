"""The workflow file itself: its `run:` steps, in order, against the emulator bucket.

Expressions are evaluated as GitHub would for each test run (``vars.X || 'default'``
included; an unset variable is empty). The deploy step runs for real: the real gcloud
deploys the checkout to the loopback stand-in of Google's APIs with the deployer's
documented roles (tests/google_apis.py), and the function URL it reports is routed to
functions-framework serving ``main.py`` with exactly the environment the deploy gave the
function, so the check step that follows proves what was pinned. Actions (``uses:``)
are skipped; the identity token they would mint is a test value.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import yaml

from heartml.store.backends import open_store
from tests.fork_accounts import (
    BUILD_SA,
    DEPLOYER,
    DEPLOYER_EMAIL,
    FUNCTION,
    RUNTIME_SA,
    grant_documented_deployer_roles,
)
from tests.google_apis import PROJECT, GoogleApis, gcloud_config, google_apis
from tests.helpers import (
    BUCKET,
    DATASET,
    REPO,
    SAMPLE_RECORD,
    ServedFunction,
    checkout_files,
    python_env,
    serve_function,
    stop_function,
)
from tests.markdown import read

pytestmark = pytest.mark.skipif(
    shutil.which("gcloud") is None, reason="the deploy step needs the Google Cloud CLI"
)

WORKFLOW = REPO / ".github" / "workflows" / "pipeline.yml"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
OPERAND = re.compile(r"vars\.(\w+)|steps\.([\w-]+)\.outputs\.(\w+)|'([^']*)'")
STATUS_FUNCTIONS = ("success()", "failure()", "always()", "cancelled()")
TRAINING = "!inputs.rollback_to && !inputs.rollback_previous"
ID_TOKEN = "test-identity-token"


@dataclass
class Context:
    """What a workflow run's expressions can see, in this test's terms."""

    inputs: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)  # repository variables (vars.X)
    run_id: str = ""
    outcomes: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)

    def rolling_back(self) -> bool:
        return (
            bool(self.inputs.get("rollback_to")) or self.inputs.get("rollback_previous") == "true"
        )


# The expressions pipeline.yml uses that are not a chain of vars, step outputs and literals.
# A new expression in the workflow fails the test until it is given a meaning here.
VALUES: dict[str, Callable[[Context], str]] = {
    "github.run_id": lambda c: c.run_id,
    "github.run_attempt": lambda c: "1",
    "toJSON(vars)": lambda c: json.dumps(c.variables),
    "inputs.rollback_to": lambda c: c.inputs.get("rollback_to", ""),
    "inputs.rollback_previous": lambda c: c.inputs.get("rollback_previous", "false"),
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


def _or_chain(expression: str, context: Context) -> str | None:
    """``a || b || 'default'`` as GitHub evaluates it: the first operand that is not empty."""
    values = []
    for operand in (o.strip() for o in expression.split("||")):
        match = OPERAND.fullmatch(operand)
        if match is None:
            return None
        variable, step, output, literal = match.groups()
        if variable:
            values.append(context.variables.get(variable, ""))
        elif step:
            values.append(context.outputs.get(step, {}).get(output, ""))
        else:
            values.append(literal)
    return next((v for v in values if v), values[-1])


def _substitute(text: str, context: Context) -> str:
    def replace(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression in VALUES:
            return VALUES[expression](context)
        value = _or_chain(expression, context)
        if value is None:
            pytest.fail(f"pipeline.yml uses ${{{{ {expression} }}}}: give it a meaning")
        return value

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
    stderr: dict[str, str]
    deployed_env: dict[str, str] | None = None  # what the deploy gave the function
    health: dict | None = None  # the deployed function's GET and answer, after the run
    answer: dict | None = None

    @property
    def deploy_reached(self) -> bool:
        return self.context.outcomes.get("deploy") == "success"


def _outputs(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def run_workflow(checkout: Path, context: Context, cloud: GoogleApis) -> WorkflowRun:
    """Run pipeline.yml's `run:` steps in order, as a runner would (actions are skipped)."""
    job = yaml.safe_load(WORKFLOW.read_text())["jobs"]["train-and-deploy"]
    work = checkout.parent / f"run-{context.run_id}-{uuid.uuid4().hex[:6]}"
    work.mkdir()
    summary = work / "summary.md"
    venv_bin = str(Path(sys.executable).parent)
    env = python_env(PATH=f"{venv_bin}{os.pathsep}{os.environ['PATH']}", **cloud.env)
    env.update({k: _substitute(str(v), context) for k, v in job["env"].items()})
    env["GITHUB_STEP_SUMMARY"] = str(summary)
    context.outputs["id-token"] = {"id_token": ID_TOKEN}
    run = WorkflowRun(context, "", {})
    function: ServedFunction | None = None
    try:
        for step in job["steps"]:
            if "run" not in step:
                continue
            if not _should_run(step, context):
                context.outcomes[step["id"]] = "skipped"
                continue
            output = work / f"output-{step['id']}"
            step_env = {
                **env,
                **{k: _substitute(str(v), context) for k, v in step.get("env", {}).items()},
                "GITHUB_OUTPUT": str(output),
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
            context.outputs[step["id"]] = _outputs(output)
            run.stderr[step["id"]] = result.stderr
            if step["id"] == "deploy" and result.returncode == 0:
                # The run.app URL the deploy printed, routed to the function as deployed.
                run.deployed_env = cloud.project.functions[FUNCTION]["serviceConfig"][
                    "environmentVariables"
                ]
                function = serve_function(work, cwd=checkout, **run.deployed_env)
                context.outputs["deploy"]["url"] = function.url
        if function is not None:
            run.health = requests.get(function.url, timeout=10).json()
            run.answer = requests.post(function.url, json=SAMPLE_RECORD, timeout=10).json()
    finally:
        if function is not None:
            stop_function(function.process)
    run.summary = summary.read_text() if summary.exists() else ""
    return run


def _context(prefix: str, run_id: str, **variables: str) -> Context:
    """A run with the repository variables a fork sets (README); the rest are unset."""
    return Context(
        run_id=run_id,
        variables={
            "GCS_BUCKET": BUCKET,
            "GCS_PREFIX": prefix,
            "GCP_PROJECT_ID": PROJECT,
            "FUNCTION_SERVICE_ACCOUNT": RUNTIME_SA,
            "FUNCTION_BUILD_SERVICE_ACCOUNT": BUILD_SA,
            **variables,
        },
    )


@pytest.fixture(scope="module")
def cloud(tmp_path_factory) -> Iterator[GoogleApis]:
    """The stand-in of Google's APIs, holding the deployer's documented roles only."""
    with google_apis(DEPLOYER) as apis:
        grant_documented_deployer_roles(apis)
        apis.env = gcloud_config(tmp_path_factory.mktemp("gcloud"), apis.port, DEPLOYER_EMAIL)
        yield apis


@pytest.fixture(scope="module")
def first_run(gcs_emulator, cloud, tmp_path_factory) -> tuple[Path, str, WorkflowRun]:
    """One scheduled run on a fresh bucket prefix: the state the other runs start from."""
    tmp = tmp_path_factory.mktemp("workflow")
    checkout = checkout_files(tmp / "checkout")
    prefix = f"wf-{uuid.uuid4().hex[:8]}"
    open_store(f"gs://{BUCKET}/{prefix}").write_bytes("dataset.csv", DATASET.read_bytes())
    return checkout, prefix, run_workflow(checkout, _context(prefix, "4242"), cloud)


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


def test_a_first_run_trains_gates_publishes_deploys_the_pin_and_proves_it(first_run) -> None:
    _, prefix, run = first_run
    assert run.context.outcomes == {
        "install": "success",
        "rollback": "skipped",
        "download": "success",
        "validate": "success",
        "train": "success",
        "gate": "success",
        "upload": "success",
        "report": "success",
        "deploy": "success",
        "check-deploy": "success",
    }, run.stderr
    store = open_store(f"gs://{BUCKET}/{prefix}")
    assert [k for k in store.list_keys("models/")] == [
        "models/4242-1.joblib",
        "models/cards/4242-1.json",
        "models/cards/4242-1.md",
        "models/latest.joblib",
        "models/latest.json",
        "models/metrics/4242-1.json",
    ]
    metrics = json.loads(store.read_bytes("models/metrics/4242-1.json"))
    assert metrics["gate"]["passed"] and metrics["gate"]["champion"] is None
    assert store.read_bytes("models/latest.joblib") == store.read_bytes("models/4242-1.joblib")
    assert "**Gate: passed.** Published to `latest`." in run.summary
    assert "<details><summary>Model card</summary>" in run.summary
    # The pin is the upload step's own output, equal to what the archive records.
    assert run.deployed_env == {
        "PIPELINE_STORE": f"gs://{BUCKET}/{prefix}",
        "SERVED_RUN_ID": "4242-1",
        "SERVED_MODEL_SHA256": metrics["model_sha256"],
    }
    assert "serves 4242-1" in run.stderr["check-deploy"]
    assert run.answer["run_id"] == "4242-1"
    assert run.health["model"]["sha256"] == metrics["model_sha256"]
    assert run.health["promoted"]["run_id"] == "4242-1" and run.health["promoted"]["is_served"]


def test_a_worse_candidate_is_archived_but_never_deployed(bucket_after_first_run, cloud) -> None:
    """The floor is raised in the project file, as a pull request would raise it."""
    checkout, prefix = bucket_after_first_run
    store = open_store(f"gs://{BUCKET}/{prefix}")
    live = store.read_bytes("models/latest.joblib")
    project_file = checkout / "project.toml"
    shipped = project_file.read_text()
    assert "min_roc_auc = 0.80\n" in shipped
    project_file.write_text(shipped.replace("min_roc_auc = 0.80\n", "min_roc_auc = 0.99\n"))
    try:
        run = run_workflow(checkout, _context(prefix, "4243"), cloud)
    finally:
        project_file.write_text(shipped)

    assert run.context.outcomes["gate"] == "failure"
    assert "held back: roc_auc" in run.stderr["gate"]
    assert run.context.outcomes["upload"] == "success"
    assert not run.deploy_reached
    assert store.read_bytes("models/latest.joblib") == live
    held = json.loads(store.read_bytes("models/metrics/4243-1.json"))
    assert held["gate"]["passed"] is False
    assert held["gate"]["champion"]["run_id"] == "4242-1"
    assert "**Gate: held back.**" in run.summary
    assert f"roc_auc {held['roc_auc']:.4f} < floor 0.99" in read(run.summary)


def test_a_threshold_set_as_a_repository_variable_stops_the_run_naming_its_file_key(
    bucket_after_first_run, cloud
) -> None:
    checkout, prefix = bucket_after_first_run
    store = open_store(f"gs://{BUCKET}/{prefix}")
    keys_before = store.list_keys("models/")
    run = run_workflow(checkout, _context(prefix, "4250", GATE_MIN_ROC_AUC="0.99"), cloud)

    assert run.context.outcomes["download"] == "failure"
    assert run.stderr["download"].splitlines() == [
        "error: GATE_MIN_ROC_AUC is set as a repository "
        "variable: thresholds live in the project file, so set gate.min_roc_auc in "
        "project.toml and delete the variable"
    ]
    for step in ("validate", "train", "gate", "upload"):
        assert run.context.outcomes[step] == "skipped"
    assert not run.deploy_reached
    assert store.list_keys("models/") == keys_before


def test_a_bad_dataset_stops_before_training(bucket_after_first_run, cloud) -> None:
    checkout, prefix = bucket_after_first_run
    store = open_store(f"gs://{BUCKET}/{prefix}")
    keys_before, live = store.list_keys("models/"), store.read_bytes("models/latest.joblib")
    one_class = b"\n".join(
        line
        for i, line in enumerate(DATASET.read_bytes().splitlines())
        if i == 0 or line.endswith(b",1")
    )
    store.write_bytes("dataset.csv", one_class)
    run = run_workflow(checkout, _context(prefix, "4244"), cloud)

    assert run.context.outcomes["validate"] == "failure"
    assert "only class 1 present" in run.stderr["validate"]
    for step in ("train", "gate", "upload"):
        assert run.context.outcomes[step] == "skipped"
    assert run.context.outcomes["report"] == "success"
    assert not run.deploy_reached
    assert store.list_keys("models/") == keys_before
    assert store.read_bytes("models/latest.joblib") == live
    assert "**Data checks: FAILED**" in run.summary


def test_a_dispatched_rollback_repoints_latest_and_redeploys_pinned_to_it(
    bucket_after_first_run, cloud
) -> None:
    checkout, prefix = bucket_after_first_run
    store = open_store(f"gs://{BUCKET}/{prefix}")
    second = run_workflow(checkout, _context(prefix, "4245"), cloud)
    assert second.context.outcomes["check-deploy"] == "success", second.stderr
    assert second.answer["run_id"] == "4245-1"

    context = _context(prefix, "4246")
    context.inputs = {"rollback_to": "4242-1"}
    rollback = run_workflow(checkout, context, cloud)
    assert rollback.context.outcomes["rollback"] == "success", rollback.stderr
    assert rollback.context.outcomes["train"] == "skipped"
    assert rollback.context.outcomes["check-deploy"] == "success", rollback.stderr
    assert store.read_bytes("models/latest.joblib") == store.read_bytes("models/4242-1.joblib")
    first = json.loads(store.read_bytes("models/metrics/4242-1.json"))
    assert rollback.deployed_env["SERVED_RUN_ID"] == "4242-1"
    assert rollback.deployed_env["SERVED_MODEL_SHA256"] == first["model_sha256"]
    assert rollback.answer["run_id"] == "4242-1"


def test_the_function_keeps_serving_its_pin_when_latest_changes_without_a_deploy(
    bucket_after_first_run, cloud, tmp_path
) -> None:
    """A laptop rollback, or a deploy that failed after promoting, changes latest.joblib only."""
    checkout, prefix = bucket_after_first_run
    store = open_store(f"gs://{BUCKET}/{prefix}")
    deployed = run_workflow(checkout, _context(prefix, "4247"), cloud)
    assert deployed.context.outcomes["check-deploy"] == "success", deployed.stderr
    rolled = subprocess.run(
        [sys.executable, "-m", "steps.rollback", "--to", "4242-1"],
        cwd=checkout,
        env=python_env(PIPELINE_STORE=store.uri),
        capture_output=True,
        text=True,
        check=False,
    )
    assert rolled.returncode == 0, rolled.stderr
    # A new instance of the deployed revision starts now, with the revision's environment.
    function = serve_function(tmp_path, cwd=checkout, **deployed.deployed_env)
    try:
        health = requests.get(function.url, timeout=10).json()
        answer = requests.post(function.url, json=SAMPLE_RECORD, timeout=10).json()
    finally:
        stop_function(function.process)
    assert answer["run_id"] == "4247-1"
    assert health["model"]["file"].endswith("models/4247-1.joblib")
    assert health["model"]["notes"] == [
        "models/latest.joblib is not the pinned version 4247-1: serving models/4247-1.joblib"
    ]
    assert health["promoted"]["run_id"] == "4242-1" and not health["promoted"]["is_served"]


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
