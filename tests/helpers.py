"""Helpers the tests share: paths, ports, running steps, serving the function, model files.

Fixtures live in conftest.py; everything a test imports by name lives here.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
DATASET = REPO / "datasets" / "default.csv"
BUCKET = "heartml-test"
SAMPLE_RECORD = json.loads((REPO / "datasets" / "sample_request.json").read_text())


# What a runner's workspace holds beside the tracked files by the time the deploy runs.
RUNNER_LEFTOVERS = {
    "gha-creds-0123456789abcdef.json": '{"type": "external_account"}',
    ".venv/bin/python": "",
    ".venv/lib/python3.11/site-packages/x.py": "",
    "heartml/__pycache__/serving.cpython-311.pyc": "",
    ".hypothesis/examples/a/b": "",
    ".schemathesis/cache": "",
    ".pytest_cache/v/cache/lastfailed": "{}",
    "artifacts/pipeline.joblib": "",
    "local-store/models/latest.joblib": "",
    "reports/summary.md": "",
    "notes.txt": "",
}


def checkout_files(into: Path) -> Path:
    """Copy the tracked files into ``into``, as actions/checkout leaves a workspace."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        if (REPO / name).is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, into / name)
    return into


def _module_file(module: str) -> Path | None:
    for path in (
        REPO / f"{module.replace('.', '/')}.py",
        REPO / module.replace(".", "/") / "__init__.py",
    ):
        if path.is_file():
            return path
    return None


def modules_reached_from(path: Path) -> set[str]:
    """Every ``heartml`` module ``path`` imports, at any depth and inside functions too.

    Read from the source (``ast``), not from what one run happened to import, so an import
    only a rare branch makes still counts; each package above a module is reached too.
    """
    reached: set[str] = set()
    todo = [path]
    while todo:
        tree = ast.parse(todo.pop().read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            for name in names:
                parts = name.split(".")
                for i in range(1, len(parts) + 1):
                    module = ".".join(parts[:i])
                    found = _module_file(module) if parts[0] == "heartml" else None
                    if found is not None and module not in reached:
                        reached.add(module)
                        todo.append(found)
    return reached


def function_source_files() -> list[str]:
    """What the function's upload must hold: main.py, its requirements, what main.py reaches."""
    reached = modules_reached_from(REPO / "main.py")
    files = {_module_file(m).relative_to(REPO).as_posix() for m in reached}  # type: ignore[union-attr]
    return sorted({"main.py", "requirements.txt", *files})


class DelegatingStore:
    """A store that hands every call to ``inner``: subclass it to watch or disturb one call."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.uri = inner, inner.uri

    def read_bytes(self, key: str) -> bytes:
        return self.inner.read_bytes(key)

    def write_bytes(self, key: str, data: bytes, *, exclusive: bool = False) -> None:
        self.inner.write_bytes(key, data, exclusive=exclusive)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def list_keys(self, prefix: str = "") -> list[str]:
        return self.inner.list_keys(prefix)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def url(self, key: str) -> str:
        return self.inner.url(key)


def free_port() -> int:
    """Return a TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def python_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: this one, as a user's shell has it.

    No PYTHONPATH: ``heartml`` imports through the editable install ``make setup`` made,
    so a child started from another folder (Streamlit, functions-framework) finds it as it
    does on a user's machine.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(extra)
    return env


def run_step(
    name: str, *args: str, cwd: Path = REPO, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m steps.<name>`` as a user would, capturing its output."""
    return subprocess.run(
        [sys.executable, "-m", f"steps.{name}", *args],
        cwd=cwd,
        env=python_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@dataclass
class ServedFunction:
    """A functions-framework process serving ``main.py`` over real HTTP."""

    url: str
    process: subprocess.Popen[str]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text()


def serve_function(
    tmp_path: Path, target: str = "predict_handler", cwd: Path = REPO, **env: str
) -> ServedFunction:
    """Start functions-framework on a free port and wait until it answers."""
    port = free_port()
    log_path = tmp_path / f"ff-{port}.log"
    handle = log_path.open("w")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("functions-framework")),
            "--target",
            target,
            "--source",
            str(REPO / "main.py"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=cwd,
        env=python_env(**env),
        stdout=handle,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    handle.close()  # the child holds its own copy of the descriptor
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"functions-framework exited {process.returncode}:\n{log_path.read_text()}"
            )
        try:
            requests.get(url, timeout=10)  # a GET during a store outage may take seconds
            return ServedFunction(url=url, process=process, log_path=log_path)
        except requests.ConnectionError:
            time.sleep(0.05)  # polling for readiness against a deadline, not guessing
    stop_function(process)
    raise RuntimeError(f"functions-framework did not answer within 60 s:\n{log_path.read_text()}")


def stop_function(process: subprocess.Popen[str]) -> None:
    """Stop a served function and its gunicorn workers."""
    if process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(timeout=10)


def call_step(name: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a step's ``main`` in this process (fast), with ``env`` set for the call.

    Same contract as ``run_step``: an exit code and what the step wrote to stderr.
    """
    module = importlib.import_module(f"steps.{name}")
    saved = {key: os.environ.get(key) for key in env}
    stderr = io.StringIO()
    try:
        os.environ.update(env)
        with contextlib.redirect_stderr(stderr):
            code = module.main(list(args))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return subprocess.CompletedProcess([name, *args], code, "", stderr.getvalue())


def publish_once(store_uri: str, work: Path, run_id: str) -> dict:
    """Seed the store, then download, train and upload as the workflow does."""
    (work / "datasets").mkdir(parents=True, exist_ok=True)
    assert (
        call_step("upload_dataset", "--source", str(DATASET), PIPELINE_STORE=store_uri).returncode
        == 0
    )
    data, out = str(work / "datasets" / "default.csv"), str(work / "artifacts")
    steps = [
        ("download", "--dest", data),
        ("validate", "--path", data, "--reports", str(work / "reports")),
        ("train", "--path", data, "--out", out, "--run-id", run_id),
        ("gate", "--artifacts", out, "--reports", str(work / "reports")),
        ("upload", "--artifacts", out, "--path", data),
    ]
    for name, *args in steps:
        result = call_step(name, *args, PIPELINE_STORE=store_uri)
        assert result.returncode == 0, result.stderr
    return json.loads((work / "artifacts" / "metrics.json").read_text())


def legacy_model(frame: Any, *, fast_path: bool = True) -> tuple[bytes, Any]:
    """A model file as ``steps.train`` wrote it before the label coding was recorded.

    Format heartml-model/2 with no ``label_coding``, ``ca`` one-hot, fitted on
    ``target`` as stored: its class 1 is target 1, no heart disease. Returns the file's
    bytes and the fitted pipeline, whose ``predict_proba[:, 1]`` is P(clear).
    """

    import joblib
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from heartml.features import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES
    from heartml.model import training
    from heartml.serving import fast_path
    from heartml.store.model_file import LEGACY_MODEL_FORMAT

    numeric = Pipeline(
        [("imputer", SimpleImputer(strategy="median")), ("scaler", StandardScaler())]
    )
    coded = Pipeline(
        [
            ("imputer", SimpleImputer(strategy="constant", fill_value=-1)),
            ("onehot", OneHotEncoder(handle_unknown="ignore")),
        ]
    )
    transformer = ColumnTransformer(
        [("num", numeric, list(NUMERIC_FEATURES)), ("cat", coded, [*CATEGORICAL_FEATURES, "ca"])]
    )
    pipeline = Pipeline(
        [
            ("preprocessor", transformer),
            ("classifier", LogisticRegression(max_iter=1000, random_state=42)),
        ]
    )
    train_x = training.split(frame, training.TrainParams())[0]
    pipeline.fit(train_x, frame.loc[train_x.index, "target"].astype(int))
    inner = io.BytesIO()
    joblib.dump(pipeline, inner)
    payload = {
        "format": LEGACY_MODEL_FORMAT,
        "metadata": {
            "run_id": "legacy-run",
            "trained_at": "2026-11-27T20:09:37Z",
            "versions": training.runtime_versions(),
            "features": list(FEATURES),
            "feature_ranges": training.feature_ranges(train_x),
        },
        "linear": fast_path.export(pipeline, list(FEATURES)) if fast_path else None,
        "pipeline": inner.getvalue(),
    }
    assert not fast_path or payload["linear"] is not None
    buffer = io.BytesIO()
    joblib.dump(payload, buffer)
    return buffer.getvalue(), pipeline
