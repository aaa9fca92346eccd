#!/usr/bin/env bash
# Deploy main.py as a private 2nd-gen HTTP Cloud Function that serves one pinned version.
#
#   bash scripts/deploy_function.sh            deploy, pinned to SERVED_RUN_ID / SERVED_MODEL_SHA256
#   bash scripts/deploy_function.sh --create   the owner's one-time creation, before any model
#                                              (it answers 503 until a run promotes and redeploys)
#
# The pin comes from the run that promoted the version (steps.upload or steps.rollback print
# it), never from the bucket: the function serves exactly those bytes, checked by sha256.
# Every setting comes from the environment (the workflow sets them from repository variables).
set -euo pipefail

: "${PIPELINE_STORE:?set PIPELINE_STORE to the gs://BUCKET/PREFIX the model is published in}"
: "${GCP_PROJECT_ID:?set GCP_PROJECT_ID to the Google Cloud project to deploy into}"
FUNCTION_NAME="${FUNCTION_NAME:-heart-disease}"
FUNCTION_REGION="${FUNCTION_REGION:-europe-west1}"
FUNCTION_MEMORY="${FUNCTION_MEMORY:-512Mi}"

case "$PIPELINE_STORE" in
  gs://*) ;;
  *) echo "deploy: PIPELINE_STORE must be gs://BUCKET/PREFIX, got '$PIPELINE_STORE'" >&2; exit 1 ;;
esac

env_vars="PIPELINE_STORE=${PIPELINE_STORE}"
if [[ "${1:-}" == "--create" ]]; then
  echo "deploy: creating $FUNCTION_NAME with no pinned model (it serves none until a run deploys one)"
elif [[ -n "${1:-}" ]]; then
  echo "deploy: unknown argument '$1' (the only one is --create)" >&2; exit 1
else
  : "${SERVED_RUN_ID:?set SERVED_RUN_ID to the run id to serve (steps.upload or steps.rollback prints it)}"
  : "${SERVED_MODEL_SHA256:?set SERVED_MODEL_SHA256 to the sha256 of the model file of that version}"
  if [[ ! "$SERVED_MODEL_SHA256" =~ ^[0-9a-f]{64}$ ]]; then
    echo "deploy: SERVED_MODEL_SHA256 must be 64 lower-case hex digits" >&2; exit 1
  fi
  if [[ ! "$SERVED_RUN_ID" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ ]]; then
    echo "deploy: SERVED_RUN_ID must be letters, digits, '.', '_' or '-'" >&2; exit 1
  fi
  # A new pin is a new revision: new instances serve exactly that version, old ones keep theirs.
  env_vars+=",SERVED_RUN_ID=${SERVED_RUN_ID},SERVED_MODEL_SHA256=${SERVED_MODEL_SHA256}"
fi

location=(--project="$GCP_PROJECT_ID" --region="$FUNCTION_REGION")
args=(
  functions deploy "$FUNCTION_NAME" --gen2 "${location[@]}"
  --runtime=python312
  --source=.
  --entry-point=predict_handler
  --trigger-http
  --memory="$FUNCTION_MEMORY"
  --set-env-vars="$env_vars"
  --quiet
)
# Neither --allow-unauthenticated nor --no-allow-unauthenticated: a new 2nd-gen function is
# private, and on an existing one either flag makes gcloud set the Cloud Run service's IAM
# policy, which the deployer (roles/cloudfunctions.developer) is not allowed to do.
if [[ -n "${FUNCTION_SERVICE_ACCOUNT:-}" ]]; then
  args+=(--service-account="$FUNCTION_SERVICE_ACCOUNT")
fi
if [[ -n "${FUNCTION_BUILD_SERVICE_ACCOUNT:-}" ]]; then
  args+=(--build-service-account="projects/${GCP_PROJECT_ID}/serviceAccounts/${FUNCTION_BUILD_SERVICE_ACCOUNT}")
fi

gcloud "${args[@]}"
url="$(gcloud functions describe "$FUNCTION_NAME" --gen2 "${location[@]}" --format='value(serviceConfig.uri)')"
echo "deploy: $FUNCTION_NAME serves ${SERVED_RUN_ID:-no pinned model} at $url"
if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
  echo "url=$url" >>"$GITHUB_OUTPUT"
fi
