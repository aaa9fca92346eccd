"""The files a training run produces, and how their integrity is checked.

Kept free of scikit-learn imports so that steps which only move files start fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from heartml.errors import IntegrityError, PipelineError
from heartml.store.model_file import metrics_json, sha256_bytes

ARTIFACTS_DIR = Path("artifacts")  # where steps.train writes and later steps read
MODEL_FILE = "pipeline.joblib"
METRICS_FILE = "metrics.json"
# The held-out rows the candidate never trained on, as steps.train split them, for the gate.
EVALUATION_FILE = "evaluation.npy"
# The version's model card, written by steps.gate, archived by steps.upload.
CARD_JSON_FILE = "model_card.json"
CARD_MARKDOWN_FILE = "model_card.md"

# What the steps report, for the run summary (steps.report) and for the archive (steps.gate).
REPORTS_DIR = Path("reports")
VALIDATION_REPORT = "validation.json"
GATE_REPORT = "gate.json"
SUMMARY_REPORT = "summary.md"


def save_artifacts(
    out_dir: str | Path,
    model_bytes: bytes,
    metrics: dict[str, Any],
    evaluation: bytes | None = None,
) -> Path:
    """Write ``pipeline.joblib``, ``metrics.json`` (and the evaluation rows) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if evaluation is not None:
        (out / EVALUATION_FILE).write_bytes(evaluation)
    (out / MODEL_FILE).write_bytes(model_bytes)
    (out / METRICS_FILE).write_bytes(metrics_json(metrics))
    return out


def read_artifacts(out_dir: str | Path) -> tuple[bytes, dict[str, Any]]:
    """Return the model bytes and metrics a training run left in ``out_dir``."""
    out = Path(out_dir)
    try:
        model_bytes = (out / MODEL_FILE).read_bytes()
        metrics = json.loads((out / METRICS_FILE).read_text())
    except FileNotFoundError as exc:
        raise PipelineError(
            f"no trained artifact at {exc.filename}; run steps.train first"
        ) from None
    except ValueError as exc:
        raise PipelineError(f"{out / METRICS_FILE} is not valid JSON: {exc}") from None
    return model_bytes, metrics


def write_report(reports_dir: str | Path, name: str, report: dict[str, Any]) -> Path:
    """Write one step's JSON report into ``reports_dir``; return its path."""
    path = Path(reports_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def read_evaluation(out_dir: str | Path, metrics: dict[str, Any]) -> bytes:
    """Return the evaluation rows ``steps.train`` wrote for the run ``metrics`` describes."""
    path = Path(out_dir) / EVALUATION_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PipelineError(f"no evaluation rows at {path}; run steps.train first") from None
    expected = (metrics.get("evaluation") or {}).get("sha256")
    if sha256_bytes(data) != expected:
        raise IntegrityError(f"{path} is not the evaluation set of run {metrics.get('run_id')}")
    return data


def read_json(path: str | Path) -> dict[str, Any] | None:
    """Return a JSON file an earlier step may have left, or None if it did not."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def save_card(out_dir: str | Path, card: dict[str, Any], markdown: str) -> None:
    """Write the model card beside the model, as JSON and as Markdown."""
    out = Path(out_dir)
    (out / CARD_JSON_FILE).write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    (out / CARD_MARKDOWN_FILE).write_text(markdown + "\n")


def read_card(out_dir: str | Path) -> tuple[bytes, bytes] | None:
    """Return the card's JSON and Markdown bytes, or None when the gate wrote none."""
    out = Path(out_dir)
    try:
        return (out / CARD_JSON_FILE).read_bytes(), (out / CARD_MARKDOWN_FILE).read_bytes()
    except FileNotFoundError:
        return None
