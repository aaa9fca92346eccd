#!/usr/bin/env bash
# Deploy main.py as a private 2nd-gen HTTP Cloud Function that serves the store's latest model.
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

args=(
  functions deploy "$FUNCTION_NAME"
  --gen2
  --project="$GCP_PROJECT_ID"
  --region="$FUNCTION_REGION"
  --runtime=python312
  --source=.
  --entry-point=predict_handler
  --trigger-http
  --no-allow-unauthenticated
  --memory="$FUNCTION_MEMORY"
  # A changed variable makes a new revision, so new instances load the new latest.joblib.
  --set-env-vars="PIPELINE_STORE=${PIPELINE_STORE},DEPLOYED_RUN_ID=${PIPELINE_RUN_ID:-manual}"
  --quiet
)
if [[ -n "${FUNCTION_SERVICE_ACCOUNT:-}" ]]; then
  args+=(--service-account="$FUNCTION_SERVICE_ACCOUNT")
fi

gcloud "${args[@]}"
