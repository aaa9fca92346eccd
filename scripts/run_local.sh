#!/usr/bin/env bash
# The whole loop on one machine with no cloud account: a folder stands in for the bucket,
# functions-framework stands in for Cloud Functions. Run it through `make local`: one run of
# the pipeline (scripts/retrain.sh), then the live model served and asked for one prediction.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-.venv/bin/python}"
export PIPELINE_STORE="${PIPELINE_STORE:-local-store}"
PORT="${PORT:-8080}"

PYTHON="$PYTHON" bash scripts/retrain.sh

echo "== serving main.py:predict_handler on http://127.0.0.1:$PORT (the live model in $PIPELINE_STORE)"
log="$(mktemp "${TMPDIR:-/tmp}/heartml-function.XXXXXX.log")"
"$(dirname "$PYTHON")/functions-framework" --target predict_handler --source main.py \
  --host 127.0.0.1 --port "$PORT" >"$log" 2>&1 &
server=$!
# On the way out, stop the function (it emits its traffic window on SIGTERM) and collect
# that window into $MONITOR_STORE as a sink would, so the dashboard's Live traffic has it.
finish() {
  { kill "$server" && wait "$server"; } 2>/dev/null || true
  "$PYTHON" -m steps.collect_logs "$log" || true
  rm -f "$log"
}
trap finish EXIT

# Poll until the server answers (importing scikit-learn takes a couple of seconds).
for _ in $(seq 120); do
  curl --silent --output /dev/null "http://127.0.0.1:$PORT/" && break
  kill -0 "$server" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.5
done

echo "== POST datasets/sample_request.json"
curl --silent --show-error --fail-with-body -H 'Content-Type: application/json' \
  --data @datasets/sample_request.json "http://127.0.0.1:$PORT/"
echo
