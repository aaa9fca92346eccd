#!/usr/bin/env bash
# The whole loop on one machine with no cloud account: a folder stands in for the bucket,
# functions-framework stands in for Cloud Functions. Run it through `make local`.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-.venv/bin/python}"
export PIPELINE_STORE="${PIPELINE_STORE:-local-store}"
PORT="${PORT:-8080}"

echo "== store: $PIPELINE_STORE"
rm -f reports/validation.json reports/gate.json
"$PYTHON" -m steps.upload_dataset --source datasets/default.csv --if-missing
"$PYTHON" -m steps.download --dest datasets/default.csv
if ! "$PYTHON" -m steps.validate --path datasets/default.csv; then
  "$PYTHON" -m steps.report
  echo "== stopped: the dataset failed validation (reports/summary.md); the live model stays" >&2
  exit 1
fi
"$PYTHON" -m steps.train --path=datasets/default.csv --out artifacts
if ! "$PYTHON" -m steps.gate --artifacts artifacts; then
  "$PYTHON" -m steps.upload --artifacts artifacts --path datasets/default.csv # archived, not live
  "$PYTHON" -m steps.report
  echo "== stopped: the gate held the candidate back (reports/summary.md); the live model stays" >&2
  exit 1
fi
"$PYTHON" -m steps.upload --artifacts artifacts --path datasets/default.csv
"$PYTHON" -m steps.report --published

echo "== serving main.py:predict_handler on http://127.0.0.1:$PORT"
"$(dirname "$PYTHON")/functions-framework" --target predict_handler --source main.py \
  --host 127.0.0.1 --port "$PORT" >"${TMPDIR:-/tmp}/heartml-function.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT

# Poll until the server answers (importing scikit-learn takes a couple of seconds).
for _ in $(seq 120); do
  curl --silent --output /dev/null "http://127.0.0.1:$PORT/" && break
  kill -0 "$server" 2>/dev/null || { cat "${TMPDIR:-/tmp}/heartml-function.log" >&2; exit 1; }
  sleep 0.5
done

echo "== POST datasets/sample_request.json"
curl --silent --show-error --fail-with-body -H 'Content-Type: application/json' \
  --data @datasets/sample_request.json "http://127.0.0.1:$PORT/"
echo
