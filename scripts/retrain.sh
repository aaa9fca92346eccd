#!/usr/bin/env bash
# One run of the pipeline on this machine, exactly the workflow's steps: `make retrain`.
# Exits 1 when the dataset fails validation or the gate holds the candidate back; the live
# model stays either way. The store is $PIPELINE_STORE (default: the folder local-store).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-.venv/bin/python}"
export PIPELINE_STORE="${PIPELINE_STORE:-local-store}"
# The run's working folder: the downloaded dataset, the candidate, the reports. Emptied first,
# so a report never describes an earlier run; nothing tracked is ever written.
ARTIFACTS=artifacts
DATASET="$ARTIFACTS/dataset.csv"
REPORTS=reports
find "$ARTIFACTS" -mindepth 1 ! -name README.md -exec rm -rf {} +
rm -rf "$REPORTS"

echo "== store: $PIPELINE_STORE"
"$PYTHON" -m steps.upload_dataset --source datasets/default.csv --if-missing
"$PYTHON" -m steps.download --dest "$DATASET"
if ! "$PYTHON" -m steps.validate --path "$DATASET"; then
  "$PYTHON" -m steps.report
  echo "== stopped: the dataset failed validation ($REPORTS/summary.md); the live model stays" >&2
  exit 1
fi
"$PYTHON" -m steps.train --path "$DATASET" --artifacts "$ARTIFACTS"
if ! "$PYTHON" -m steps.gate --artifacts "$ARTIFACTS"; then
  "$PYTHON" -m steps.upload --artifacts "$ARTIFACTS" --path "$DATASET" # archived, not live
  "$PYTHON" -m steps.report
  echo "== stopped: the gate held the candidate back ($REPORTS/summary.md); the live model stays" >&2
  exit 1
fi
"$PYTHON" -m steps.upload --artifacts "$ARTIFACTS" --path "$DATASET"
"$PYTHON" -m steps.report --published
