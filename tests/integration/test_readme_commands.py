"""README's everyday commands, in order, as a new user types them on a fresh clone.

The clone holds the tracked files only and shares this checkout's venv (``VENV=``, with
``-o`` so make does not reinstall it into the clone); every command is ``make <target>``
exactly as README's "Everyday commands" table spells it. At the end the clone's
``git status --porcelain`` must be empty: no command may touch a tracked file.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import requests

from heartml.ops import traffic_windows
from heartml.store.backends import open_store
from tests.dashboard.browser import CHROMIUM, CHROMIUM_ARGS, make_dashboard, need_chromium
from tests.helpers import DATASET, REPO, checkout_files, free_port, python_env, stop_function

VENV = Path(sys.executable).parent.parent
MAKE = ["make", "--no-print-directory", f"VENV={VENV}", "-o", f"{VENV}/.installed"]


def readme_everyday_commands() -> list[str]:
    """The `make …` commands of README's everyday table, as written."""
    readme = (REPO / "README.md").read_text()
    table = readme.split("<!-- everyday-commands")[1].split("<!-- /everyday-commands -->")[0]
    return re.findall(r"\| `(make [^`]+)` \|", table)


def fresh_clone(tmp_path: Path) -> Path:
    clone = checkout_files(tmp_path / "clone")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "clone"]):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=clone, check=True
        )
    return clone


def test_the_everyday_commands_work_in_order_and_touch_no_tracked_file(tmp_path) -> None:
    need_chromium()
    clone = fresh_clone(tmp_path)
    ran: list[str] = []

    def make(*args: str, expect: int = 0, **env: str) -> subprocess.CompletedProcess[str]:
        ran.append(" ".join(("make", *args)))
        result = subprocess.run(
            [*MAKE, *args], cwd=clone, env=python_env(PIPELINE_STORE="", MONITOR_STORE="", **env),
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert result.returncode == expect, f"{ran[-1]}:\n{result.stdout}\n{result.stderr}"
        return result

    def live() -> str:
        return json.loads((clone / "local-store/models/latest.json").read_text())["run_id"]

    def run_id_of(result: subprocess.CompletedProcess[str]) -> str:
        return re.findall(r"run (local-\S+?):", result.stderr)[-1]

    # 1. The whole loop: trained, published, served and asked.
    local = make("local", PORT=str(free_port()))  # a free port in place of 8080
    assert '"diagnosis"' in local.stdout
    first = live()

    # 2. New data: an export with 40 patients fewer, in another order. Promoted: it is
    # judged against the live model on rows neither trained on (issue 14's ordinary case).
    frame = pd.read_csv(DATASET).sample(frac=1, random_state=1).iloc[40:]
    export = tmp_path / "new-export.csv"
    frame.to_csv(export, index=False)
    make("publish", f"DATA={export}")
    second = run_id_of(make("retrain"))
    assert live() == second != first
    verdict = json.loads((clone / "local-store/models/metrics" / f"{second}.json").read_text())
    assert verdict["gate"]["champion"]["run_id"] == first
    assert verdict["gate"]["comparison"]["rows"] == verdict["evaluation"]["rows"]

    # 3. Bad data: 45 % of labels flipped. Held back (make exits 2), the live model stays.
    flipped = pd.read_csv(DATASET)
    rows = np.random.default_rng(7).random(len(flipped)) < 0.45
    flipped.loc[rows, "target"] = 1 - flipped.loc[rows, "target"]
    bad = tmp_path / "flipped.csv"
    flipped.to_csv(bad, index=False)
    make("publish", f"DATA={bad}")
    held = make("retrain", expect=2)
    held_back = run_id_of(held)
    assert "the gate held the candidate back" in held.stderr
    assert live() == second
    summary = (clone / "reports/summary.md").read_text()
    assert held_back in summary and second not in summary.split("\n", 1)[0]

    # 4. History: three versions, the held-back one marked, the live one marked.
    lines = make("history").stdout.splitlines()  # make's echo of the command, then the table
    table = lines[next(i for i, line in enumerate(lines) if line.startswith("run id")) + 1 :]
    rows = {line.split()[0]: line for line in table}
    assert list(rows) == [first, second, held_back]
    assert "held back" in rows[held_back] and rows[second].endswith("<- live")

    # 5. Rollback: a held-back version is refused without FORCE; the previous one is fine.
    refused = make("rollback", f"TO={held_back}", expect=2)
    assert "--force" in refused.stderr
    make("rollback")
    assert live() == first
    make("rollback", f"TO={second}")
    assert live() == second

    # 6. Serve the live model until Ctrl-C; its traffic lands in monitoring-store, as a
    # sink would put it, beside the window `make local`'s one request left for the first:
    # one record, fewer than k (MONITOR_MIN_BIN_COUNT, 10), so counts only. The k
    # requests sent here make a whole window.
    port = free_port()
    ran.append("make serve")
    server = subprocess.Popen(
        [*MAKE, "serve"], cwd=clone, env=python_env(PIPELINE_STORE="", MONITOR_STORE="",
        PORT=str(port)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        health = wait_for_json(f"http://127.0.0.1:{port}/", server)
        sample = json.loads((clone / "datasets/sample_request.json").read_text())
        for _ in range(10):
            requests.post(f"http://127.0.0.1:{port}/", json=sample, timeout=10).raise_for_status()
        os.killpg(server.pid, signal.SIGINT)  # Ctrl-C reaches the whole pipe
        server.wait(timeout=30)
    finally:
        stop_function(server)
    assert health["model"]["run_id"] == second and health["promoted"]["is_served"]
    windows, problems = traffic_windows.read_windows(open_store(clone / "monitoring-store"))
    assert problems == []
    assert sorted(
        (w["run_id"], w["records"], bool(w.get("count_only"))) for w in windows
    ) == sorted([(first, 1, True), (second, 10, False)])

    # 7. The API's documents, written from project.toml: the same bytes as the checkout's.
    assert "the API documents follow the project file" in make("api-docs").stderr

    # 8. The dashboard, in Chromium.
    from playwright.sync_api import sync_playwright

    ran.append("make dashboard")
    with (
        make_dashboard("", tmp_path / "streamlit.log", cwd=clone, make_args=tuple(MAKE[2:])) as url,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1200})
        page.goto(url)
        page.wait_for_selector(f"text=Promoted: {second}", timeout=60_000)
        page.get_by_role("tab", name="Live traffic").click()
        page.wait_for_selector(
            "text=10 records counted per bin: fewer than the 200 drift needs", timeout=30_000
        )
        page.wait_for_selector("text=held below k", timeout=30_000)
        browser.close()

    assert git_status(clone) == ""
    # Every command README lists was run (the run ids stand for its placeholders).
    spelled = {re.sub(r"=(<[^>]*>|\S+)", "=", command) for command in ran}
    for command in readme_everyday_commands():
        assert re.sub(r"=(<[^>]*>|\S+)", "=", command) in spelled, command


def wait_for_json(url: str, process: subprocess.Popen) -> dict:
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "make serve exited"
        try:
            return requests.get(url, timeout=5).json()
        except requests.ConnectionError:
            time.sleep(0.1)  # polling for readiness against a deadline, not guessing
    raise AssertionError(f"{url} never answered")


def git_status(clone: Path) -> str:
    return subprocess.run(
        ["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, check=True
    ).stdout
