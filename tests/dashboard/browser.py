"""Start the dashboard as README says (`make dashboard`) and open it in real headless Chromium."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.helpers import REPO, free_port, python_env

# Debian's chromium here; GitHub's runners set CHROMIUM_PATH to their Google Chrome.
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
SCREENSHOTS = REPO / "test-artifacts"


def need_chromium() -> None:
    """Skip on a laptop without Debian's chromium; in CI its absence is a failure."""
    if not Path(CHROMIUM).exists() and os.environ.get("CI") != "true":
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")


@contextlib.contextmanager
def make_dashboard(
    store_uri: str,
    log_path: Path,
    *,
    cwd: Path = REPO,
    make_args: tuple[str, ...] = (),
) -> Iterator[str]:
    """Run ``make dashboard`` in ``cwd`` with no PYTHONPATH; yield its URL once healthy.

    Streamlit puts dashboard/ on sys.path, not the project root, so this fails if
    ``heartml`` is not importable the way a user's checkout has it. Streamlit reads its
    server options from STREAMLIT_* variables. The Live traffic tab reads the store beside
    ``store_uri`` (``<store>-monitoring``), or for the default store (``""``) the default
    monitoring store.
    """
    port = free_port()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            ["make", "--no-print-directory", *make_args, "dashboard"],
            cwd=cwd,
            env=python_env(
                PIPELINE_STORE=store_uri,
                MONITOR_STORE=f"{store_uri}-monitoring" if store_uri else "",
                STREAMLIT_SERVER_PORT=str(port),
                STREAMLIT_SERVER_ADDRESS="127.0.0.1",
                STREAMLIT_SERVER_HEADLESS="true",
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}_stcore/health", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)  # polling for readiness against a deadline, not guessing
        else:
            pytest.fail(f"streamlit never became healthy:\n{log_path.read_text()}")
        yield url
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=10)
