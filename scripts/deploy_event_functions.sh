#!/usr/bin/env bash
# One-off: deploy the two Cloud Storage event consumers of main.py (see README, "Events").
#   on_dataset_uploaded  -> GitHub repository_dispatch "dataset-updated" (retrain)
#   on_metrics_uploaded  -> Slack incoming webhook (alerts)
# Secrets come from Secret Manager as environment variables, never from this script.
set -euo pipefail

: "${GCP_PROJECT_ID:?set GCP_PROJECT_ID}"
: "${PIPELINE_STORE:?set PIPELINE_STORE to gs://BUCKET/PREFIX}"
: "${GITHUB_REPOSITORY:?set GITHUB_REPOSITORY to owner/repo}"
: "${TRIGGER_SERVICE_ACCOUNT:?set TRIGGER_SERVICE_ACCOUNT (invokes the functions for Eventarc)}"
REGION="${FUNCTION_REGION:-europe-west1}"
GITHUB_TOKEN_SECRET="${GITHUB_TOKEN_SECRET:-github-dispatch-token}"
SLACK_WEBHOOK_SECRET="${SLACK_WEBHOOK_SECRET:-slack-webhook-url}"

case "$PIPELINE_STORE" in
  gs://*) bucket="${PIPELINE_STORE#gs://}"; bucket="${bucket%%/*}" ;;
  *) echo "deploy: PIPELINE_STORE must be gs://BUCKET/PREFIX" >&2; exit 1 ;;
esac

common=(
  --gen2 --project="$GCP_PROJECT_ID" --region="$REGION" --runtime=python312 --source=.
  --memory=256Mi --quiet
  --trigger-event-filters="type=google.cloud.storage.object.v1.finalized"
  --trigger-event-filters="bucket=$bucket"
  --trigger-service-account="$TRIGGER_SERVICE_ACCOUNT"
  --retry
)
if [[ -n "${FUNCTION_SERVICE_ACCOUNT:-}" ]]; then
  common+=(--service-account="$FUNCTION_SERVICE_ACCOUNT")
fi

gcloud functions deploy heart-dataset-updated "${common[@]}" \
  --entry-point=on_dataset_uploaded \
  --set-env-vars="PIPELINE_STORE=$PIPELINE_STORE,GITHUB_REPOSITORY=$GITHUB_REPOSITORY" \
  --set-secrets="GITHUB_TOKEN=${GITHUB_TOKEN_SECRET}:latest"

gcloud functions deploy heart-metrics-uploaded "${common[@]}" \
  --entry-point=on_metrics_uploaded \
  --set-env-vars="PIPELINE_STORE=$PIPELINE_STORE,GITHUB_REPOSITORY=$GITHUB_REPOSITORY" \
  --set-secrets="SLACK_WEBHOOK_URL=${SLACK_WEBHOOK_SECRET}:latest"
