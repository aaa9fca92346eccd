"""monitor.yml: the hourly monitor's run step executed as the runner would, least permissions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from heartml.features import CONTRACT, FEATURES
from heartml.ops import traffic_windows
from heartml.serving import traffic_monitor
from heartml.serving.served_model import load_trained
from heartml.store import registry
from heartml.store.backends import open_store
from heartml.store.run_folder import read_artifacts
from tests.cases import GOOD
from tests.helpers import REPO

WORKFLOW = REPO / ".github" / "workflows" / "monitor.yml"


def test_it_runs_hourly_on_demand_and_asks_only_for_what_it_uses() -> None:
    spec = yaml.safe_load(WORKFLOW.read_text())
    triggers = spec[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["schedule"] == [{"cron": "41 * * * *"}] and "workflow_dispatch" in triggers
    assert spec["permissions"] == {}
    job = spec["jobs"]["monitor"]
    assert job["permissions"] == {"contents": "write", "id-token": "write"}
    assert job["if"] == "${{ vars.MONITOR_BUCKET != '' }}"


def test_the_run_step_writes_the_report_to_the_job_summary(trained_artifacts, tmp_path) -> None:
    model_store = open_store(tmp_path / "store")
    registry.publish(model_store, *read_artifacts(trained_artifacts))
    model = load_trained(trained_artifacts)
    windows: list[dict] = []
    monitor = traffic_monitor.Monitor(
        model.run_id, model.metadata["monitoring_bins"], every_requests=10**6,
        every_seconds=10**6, min_records=10, emit=windows.append, contract=CONTRACT,
    )  # fmt: skip
    rows = GOOD[list(FEATURES)].sample(n=250, replace=True, random_state=3).to_numpy().tolist()
    monitor.record(200, 0.002, records=rows, probabilities=[0.3] * len(rows))
    monitor.flush("due")
    line = json.dumps({"logger": "heartml.monitoring", "monitoring": windows[0]})
    traffic_windows.collect([line], open_store(tmp_path / "sink"))

    step = yaml.safe_load(WORKFLOW.read_text())["jobs"]["monitor"]["steps"][-1]
    summary = tmp_path / "summary.md"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PIPELINE_STORE": str(tmp_path / "store"),
        "MONITOR_STORE": str(tmp_path / "sink"),
        "MONITOR_DISPATCH": "false",
        "GITHUB_STEP_SUMMARY": str(summary),
        "SLACK_WEBHOOK_URL": "",
        "GITHUB_TOKEN": "",
    }
    run = subprocess.run(
        ["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert f"no drift: 250 records for {model.run_id}" in run.stdout
    assert summary.read_text().startswith("# Live traffic against training")
