"""The deploy scripts, run with the real gcloud against a loopback stand-in of Google's APIs.

The stand-in (tests/google_apis.py) holds the roles README.md's fork guide grants, and
refuses with 403 what those roles do not allow, as Google does: a deploy that needs
more than the documented roles fails here.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fork_accounts import (
    BUILD_SA,
    DEPLOYER,
    DEPLOYER_EMAIL,
    EVENTS_SA,
    FUNCTION,
    OWNER,
    OWNER_EMAIL,
    RUNTIME_SA,
    SERVICE,
    TRIGGER_SA,
    grant_documented_deployer_roles,
)
from tests.google_apis import PROJECT, PROJECT_NUMBER, GoogleApis, gcloud_config, google_apis
from tests.helpers import REPO, RUNNER_LEFTOVERS, checkout_files, function_source_files

pytestmark = pytest.mark.skipif(
    shutil.which("gcloud") is None, reason="the Google Cloud CLI is not installed here"
)

PIN = {"SERVED_RUN_ID": "4242-1", "SERVED_MODEL_SHA256": "ab" * 32}
SETTINGS = {
    "PIPELINE_STORE": "gs://heart-bucket/heart-disease",
    "GCP_PROJECT_ID": PROJECT,
    "FUNCTION_SERVICE_ACCOUNT": RUNTIME_SA,
    "FUNCTION_BUILD_SERVICE_ACCOUNT": BUILD_SA,
}


def test_the_fork_guide_grants_the_deployer_exactly_these_roles() -> None:
    guide = (REPO / "README.md").read_text()
    assert '--member="serviceAccount:$DEPLOYER" --role=roles/cloudfunctions.developer' in guide
    assert 'for SA in "$RUNTIME" "$BUILDER"; do   # the deployer may deploy' in guide
    assert '--member="serviceAccount:$DEPLOYER" --role=roles/iam.serviceAccountUser' in guide
    granted = {
        line.split("--role=")[1].split()[0]
        for line in guide.splitlines()
        if '"serviceAccount:$DEPLOYER"' in line and "--role=" in line
    }
    # Nothing more: the bucket role is for the steps, not the deploy the stand-in checks.
    assert granted == {
        "roles/storage.objectUser",
        "roles/cloudfunctions.developer",
        "roles/iam.serviceAccountUser",
    }


@pytest.fixture
def deployer(tmp_path) -> GoogleApis:
    with google_apis(DEPLOYER) as apis:
        grant_documented_deployer_roles(apis)
        apis.env = gcloud_config(tmp_path / "gcloud", apis.port, DEPLOYER_EMAIL)
        yield apis


def run_script(
    apis: GoogleApis, tmp_path: Path, script: str, *args: str, cwd: Path = REPO, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run a deploy script from the repository root (or a workspace), as the workflow does."""
    output = tmp_path / "github-output"
    return subprocess.run(
        ["bash", str(cwd / "scripts" / script), *args],
        cwd=cwd,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "GITHUB_OUTPUT": str(output),
            **apis.env,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def calls_without_service_checks(apis: GoogleApis) -> list[str]:
    # gcloud's Service Usage probes vary with its cache; every other call is asserted.
    return [c for c in apis.summaries() if not c.startswith("GET serviceusage")]


FIRST_DEPLOY = [
    f"GET cloudfunctions /v2/{FUNCTION} -> 404",
    f"GET cloudfunctions /v2/projects/{PROJECT}/locations/europe-west1/runtimes -> 200",
    f"POST cloudfunctions /v2/projects/{PROJECT}/locations/europe-west1"
    "/functions:generateUploadUrl -> 200",
    "PUT storage /upload/upload-1 -> 200",
    f"GET cloudresourcemanager /v1/projects/{PROJECT} -> 200",
    f"POST cloudfunctions /v2/projects/{PROJECT}/locations/europe-west1/functions -> 200",
    f"GET cloudfunctions /v2/projects/{PROJECT}/locations/europe-west1/operations/op-1 -> 200",
    f"GET cloudfunctions /v2/projects/{PROJECT}/locations/europe-west1/operations/op-1 -> 200",
    f"GET cloudfunctions /v2/{FUNCTION} -> 200",
    f"GET cloudfunctions /v2/{FUNCTION} -> 200",  # the script's describe, for the URL
]


def test_first_deploy_and_redeploy_succeed_with_the_deployers_documented_roles(
    deployer, tmp_path
) -> None:
    first = run_script(deployer, tmp_path, "deploy_function.sh", **SETTINGS, **PIN)
    assert first.returncode == 0, first.stderr
    assert calls_without_service_checks(deployer) == FIRST_DEPLOY
    [created] = deployer.bodies("POST", r"/functions$")
    assert created["buildConfig"]["runtime"] == "python312"
    assert created["buildConfig"]["entryPoint"] == "predict_handler"
    assert (
        created["buildConfig"]["serviceAccount"] == f"projects/{PROJECT}/serviceAccounts/{BUILD_SA}"
    )
    assert created["serviceConfig"]["serviceAccountEmail"] == RUNTIME_SA
    assert created["serviceConfig"]["environmentVariables"] == {
        "PIPELINE_STORE": "gs://heart-bucket/heart-disease",
        **PIN,
    }
    assert created["serviceConfig"]["availableMemory"] == "512Mi"
    assert "eventTrigger" not in created
    assert (tmp_path / "github-output").read_text() == (
        "url=https://heart-disease-123456789012.europe-west1.run.app\n"
    )

    deployer.calls.clear()
    second_pin = {"SERVED_RUN_ID": "4243-1", "SERVED_MODEL_SHA256": "cd" * 32}
    redeploy = run_script(deployer, tmp_path, "deploy_function.sh", **SETTINGS, **second_pin)
    assert redeploy.returncode == 0, redeploy.stderr
    summaries = calls_without_service_checks(deployer)
    assert summaries[0] == f"GET cloudfunctions /v2/{FUNCTION} -> 200"
    assert f"PATCH cloudfunctions /v2/{FUNCTION} -> 200" in summaries
    assert not any("IamPolicy" in c or "-> 4" in c for c in summaries[1:]), summaries
    [updated] = deployer.bodies("PATCH", "/functions/heart-disease$")
    assert updated["serviceConfig"]["environmentVariables"]["SERVED_RUN_ID"] == "4243-1"
    assert updated["serviceConfig"]["environmentVariables"]["SERVED_MODEL_SHA256"] == "cd" * 32
    # Private: nothing ever granted anyone the right to call it.
    assert deployer.project.resource_roles[SERVICE] == {}


def test_the_flag_the_script_dropped_fails_every_redeploy_after_the_revision_is_live(
    deployer, tmp_path
) -> None:
    """Why the script passes no --no-allow-unauthenticated: with it, redeploys exit 1."""
    assert run_script(deployer, tmp_path, "deploy_function.sh", **SETTINGS, **PIN).returncode == 0
    deployer.calls.clear()
    args = [
        "functions", "deploy", "heart-disease", "--gen2", "--region=europe-west1",
        "--runtime=python312", "--source=.", "--entry-point=predict_handler", "--trigger-http",
        "--no-allow-unauthenticated", "--quiet",
    ]  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **deployer.env}
    result = subprocess.run(
        ["gcloud", *args], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert "run.services.getIamPolicy' denied" in result.stderr
    patched = [c for c in deployer.summaries() if c.startswith("PATCH")]
    assert patched == [f"PATCH cloudfunctions /v2/{FUNCTION} -> 200"]  # already live


def test_the_uploaded_source_is_the_allowlist(deployer, tmp_path) -> None:
    workspace = checkout_files(tmp_path / "workspace")
    for name, text in RUNNER_LEFTOVERS.items():  # the credentials file among them
        (workspace / name).parent.mkdir(parents=True, exist_ok=True)
        (workspace / name).write_text(text)
    deployed = run_script(
        deployer, tmp_path, "deploy_function.sh", cwd=workspace, **SETTINGS, **PIN
    )
    assert deployed.returncode == 0, deployed.stderr
    assert deployer.uploaded_files() == [function_source_files()]


def test_the_owners_one_time_creation_pins_nothing(deployer, tmp_path) -> None:
    result = run_script(deployer, tmp_path, "deploy_function.sh", "--create", **SETTINGS)
    assert result.returncode == 0, result.stderr
    [created] = deployer.bodies("POST", r"/functions$")
    assert created["serviceConfig"]["environmentVariables"] == {
        "PIPELINE_STORE": "gs://heart-bucket/heart-disease"
    }


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({**SETTINGS, "PIPELINE_STORE": ""}, "set PIPELINE_STORE"),
        ({**SETTINGS, "GCP_PROJECT_ID": ""}, "set GCP_PROJECT_ID"),
        ({**SETTINGS, "PIPELINE_STORE": "local-store", **PIN}, "must be gs://"),
        (SETTINGS, "set SERVED_RUN_ID"),
        ({**SETTINGS, **PIN, "SERVED_MODEL_SHA256": "abc"}, "64 lower-case hex digits"),
        ({**SETTINGS, **PIN, "SERVED_RUN_ID": "../x"}, "SERVED_RUN_ID must be"),
    ],
)
def test_the_deploy_script_refuses_incomplete_settings(deployer, tmp_path, env, message) -> None:
    result = run_script(deployer, tmp_path, "deploy_function.sh", **env)
    assert result.returncode != 0
    assert message in result.stderr
    assert deployer.calls == []


@pytest.fixture
def owner(tmp_path) -> GoogleApis:
    with google_apis(OWNER) as apis:
        apis.project.roles[OWNER] = {"roles/owner"}
        apis.project.buckets["heart-bucket"] = "EU"
        apis.env = gcloud_config(tmp_path / "gcloud", apis.port, OWNER_EMAIL)
        yield apis


def test_the_event_consumers_deploy_in_the_buckets_location_as_their_own_account(
    owner, tmp_path
) -> None:
    result = run_script(
        owner,
        tmp_path,
        "deploy_event_functions.sh",
        GCP_PROJECT_ID=PROJECT,
        PIPELINE_STORE="gs://heart-bucket/heart-disease",
        GITHUB_REPOSITORY="owner/repo",
        EVENTS_SERVICE_ACCOUNT=EVENTS_SA,
        TRIGGER_SERVICE_ACCOUNT=TRIGGER_SA,
    )
    assert result.returncode == 0, result.stderr
    assert "GET storage /storage/v1/b/heart-bucket -> 200" in owner.summaries()
    created = owner.bodies("POST", r"/functions$")
    assert [body["buildConfig"]["entryPoint"] for body in created] == [
        "on_dataset_uploaded",
        "on_metrics_uploaded",
    ]
    for body, secret, key in zip(
        created,
        ("github-dispatch-token", "slack-webhook-url"),
        ("GITHUB_TOKEN", "SLACK_WEBHOOK_URL"),
        strict=True,
    ):
        trigger = body["eventTrigger"]
        assert trigger["triggerRegion"] == "eu"  # the bucket's location, not the function's
        assert trigger["eventType"] == "google.cloud.storage.object.v1.finalized"
        assert trigger["eventFilters"] == [{"attribute": "bucket", "value": "heart-bucket"}]
        assert trigger["serviceAccountEmail"] == TRIGGER_SA
        assert trigger["retryPolicy"] == "RETRY_POLICY_RETRY"
        service = body["serviceConfig"]
        assert service["serviceAccountEmail"] == EVENTS_SA
        # A secret reference, never a value: the function reads it from Secret Manager.
        assert service["secretEnvironmentVariables"] == [
            {"key": key, "projectId": PROJECT_NUMBER, "secret": secret, "version": "latest"}
        ]
        assert service["environmentVariables"] == {
            "PIPELINE_STORE": "gs://heart-bucket/heart-disease",
            "GITHUB_REPOSITORY": "owner/repo",
        }
    # The trigger's account may invoke these two services and nothing else.
    trigger_member = f"serviceAccount:{TRIGGER_SA}"
    for name in ("heart-dataset-updated", "heart-metrics-uploaded"):
        service = f"projects/{PROJECT}/locations/europe-west1/services/{name}"
        assert owner.project.resource_roles[service] == {trigger_member: {"roles/run.invoker"}}
    assert trigger_member not in owner.project.roles
