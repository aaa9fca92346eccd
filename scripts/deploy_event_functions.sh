#!/usr/bin/env bash
# One-off, by the project owner: deploy the two Cloud Storage event consumers of main.py
# (see README, "Events").
#   on_dataset_uploaded  -> GitHub repository_dispatch "dataset-updated" (retrain)
#   on_metrics_uploaded  -> Slack incoming webhook (alerts)
# They run as their own account (EVENTS_SERVICE_ACCOUNT: reads the bucket, writes only under
# events/); Eventarc calls them as TRIGGER_SERVICE_ACCOUNT, which gets run.invoker on these two
# functions alone. Secrets come from Secret Manager as references, never from this script.
set -euo pipefail

: "${GCP_PROJECT_ID:?set GCP_PROJECT_ID}"
: "${PIPELINE_STORE:?set PIPELINE_STORE to gs://BUCKET/PREFIX}"
: "${GITHUB_REPOSITORY:?set GITHUB_REPOSITORY to owner/repo}"
: "${EVENTS_SERVICE_ACCOUNT:?set EVENTS_SERVICE_ACCOUNT (the consumers run as it)}"
: "${TRIGGER_SERVICE_ACCOUNT:?set TRIGGER_SERVICE_ACCOUNT (invokes the functions for Eventarc)}"
REGION="${FUNCTION_REGION:-europe-west1}"
GITHUB_TOKEN_SECRET="${GITHUB_TOKEN_SECRET:-github-dispatch-token}"
SLACK_WEBHOOK_SECRET="${SLACK_WEBHOOK_SECRET:-slack-webhook-url}"

case "$PIPELINE_STORE" in
  gs://*) bucket="${PIPELINE_STORE#gs://}"; bucket="${bucket%%/*}" ;;
  *) echo "deploy: PIPELINE_STORE must be gs://BUCKET/PREFIX" >&2; exit 1 ;;
esac

# A Cloud Storage trigger must live where the bucket's events originate (a region such as
# europe-west1, or a multi-region such as eu), which need not be the function's region.
bucket_location="$(gcloud storage buckets describe "gs://$bucket" --project="$GCP_PROJECT_ID" \
  --format='value(location)' | tr '[:upper:]' '[:lower:]')"
if [[ -z "$bucket_location" ]]; then
  echo "deploy: cannot read the location of gs://$bucket" >&2; exit 1
fi

location=(--project="$GCP_PROJECT_ID" --region="$REGION")
common=(
  --gen2 "${location[@]}" --runtime=python312 --source=.
  --memory=256Mi --quiet
  --trigger-event-filters="type=google.cloud.storage.object.v1.finalized"
  --trigger-event-filters="bucket=$bucket"
  --trigger-location="$bucket_location"
  --trigger-service-account="$TRIGGER_SERVICE_ACCOUNT"
  --service-account="$EVENTS_SERVICE_ACCOUNT"
  --set-env-vars="PIPELINE_STORE=$PIPELINE_STORE,GITHUB_REPOSITORY=$GITHUB_REPOSITORY"
  --retry
)

gcloud functions deploy heart-dataset-updated "${common[@]}" \
  --entry-point=on_dataset_uploaded \
  --set-secrets="GITHUB_TOKEN=${GITHUB_TOKEN_SECRET}:latest"

gcloud functions deploy heart-metrics-uploaded "${common[@]}" \
  --entry-point=on_metrics_uploaded \
  --set-secrets="SLACK_WEBHOOK_URL=${SLACK_WEBHOOK_SECRET}:latest"

for function in heart-dataset-updated heart-metrics-uploaded; do
  gcloud functions add-invoker-policy-binding "$function" "${location[@]}" \
    --member="serviceAccount:$TRIGGER_SERVICE_ACCOUNT" >/dev/null
done
echo "deploy: event consumers deployed; Eventarc invokes them as $TRIGGER_SERVICE_ACCOUNT"
