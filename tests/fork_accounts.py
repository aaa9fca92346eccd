"""The accounts and grants README.md's fork guide creates, as the stand-in of Google's APIs
knows them: the deploy tests and the workflow test share them from here."""

from __future__ import annotations

from tests.google_apis import PROJECT, GoogleApis

DEPLOYER_EMAIL = f"heart-deployer@{PROJECT}.iam.gserviceaccount.com"
DEPLOYER = f"serviceAccount:{DEPLOYER_EMAIL}"
RUNTIME_SA = f"heart-function@{PROJECT}.iam.gserviceaccount.com"
BUILD_SA = f"heart-builder@{PROJECT}.iam.gserviceaccount.com"
OWNER_EMAIL = "owner@example.com"
OWNER = f"user:{OWNER_EMAIL}"
EVENTS_SA = f"heart-events@{PROJECT}.iam.gserviceaccount.com"
TRIGGER_SA = f"heart-trigger@{PROJECT}.iam.gserviceaccount.com"
FUNCTION = f"projects/{PROJECT}/locations/europe-west1/functions/heart-disease"
SERVICE = f"projects/{PROJECT}/locations/europe-west1/services/heart-disease"


def grant_documented_deployer_roles(apis: GoogleApis) -> None:
    """Exactly the deployer's grants in README.md's fork guide, step 3 (tests/integration/test_gcloud_deploy.py checks the
    guide says so)."""
    apis.project.roles[DEPLOYER] = {"roles/cloudfunctions.developer"}
    for account in (RUNTIME_SA, BUILD_SA):
        apis.project.resource_roles[f"projects/{PROJECT}/serviceAccounts/{account}"] = {
            DEPLOYER: {"roles/iam.serviceAccountUser"}
        }
