"""The files a training run produces, and how their integrity is checked.

Kept free of scikit-learn imports so that steps which only move files start fast.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
from pathlib import Path
from typing import Any, NamedTuple

from heartml.errors import IntegrityError, ModelLoadError, PipelineError

# The pipeline is an inner pickle beside plain linear parameters, so a server can load the
# file without importing scikit-learn (see heartml/linear.py). Version 3 adds the label
# coding (which way the classifier's class 1 points); version 2 files, written before it,
# are still served, read with features.LEGACY_LABEL_CODING.
MODEL_FORMAT = "heartml-model/3"
LEGACY_MODEL_FORMAT = "heartml-model/2"
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


class ModelFile(NamedTuple):
    """What a model file holds; the one place its keys are spelled.

    ``pipeline`` is the pickled scikit-learn pipeline, kept as bytes so a reader can
    take the metadata and the linear parameters without importing scikit-learn.
    """

    format: str
    metadata: dict[str, Any]
    linear: dict[str, Any] | None
    pipeline: bytes

    def to_payload(self) -> dict[str, Any]:
        """Return the dict that is pickled as the file."""
        return {
            "format": self.format,
            "metadata": self.metadata,
            "linear": self.linear,
            "pipeline": self.pipeline,
        }

    @classmethod
    def read(cls, data: bytes, source: str) -> ModelFile:
        """Parse a model file's bytes without running any code they may carry.

        The outer file is a pickle of plain values (a dict of text, numbers, lists and
        the pipeline as bytes), so it is read by an unpickler that may import nothing:
        a planted file whose pickle would call a function is refused, not run. The
        inner pipeline stays bytes; see ``serving.LoadedModel.pipeline`` for when it
        may be unpickled.
        """
        try:
            payload = _PlainValuesUnpickler(io.BytesIO(data)).load()
        except ForbiddenGlobal as exc:
            raise ModelLoadError(
                f"refusing {source}: it asks to import {exc}, which a model file never does "
                "(a foreign or planted pickle); nothing from it was run"
            ) from None
        except Exception as exc:  # truncated or random bytes raise nearly anything
            raise ModelLoadError(f"cannot read {source}: {type(exc).__name__}: {exc}") from None
        return cls.from_payload(payload, source)

    @classmethod
    def from_payload(cls, payload: Any, source: str) -> ModelFile:
        """Read an unpickled file; raise ModelLoadError unless it has this shape."""
        file_format = payload.get("format") if isinstance(payload, dict) else None
        if file_format not in (MODEL_FORMAT, LEGACY_MODEL_FORMAT):
            raise ModelLoadError(
                f"refusing {source}: not a {MODEL_FORMAT} file written by steps.train"
            )
        if not isinstance(payload.get("pipeline"), bytes):
            raise ModelLoadError(f"refusing {source}: it carries no pipeline")
        metadata = payload.get("metadata")
        return cls(
            format=file_format,
            metadata=metadata if isinstance(metadata, dict) else {},
            linear=payload.get("linear") or None,
            pipeline=payload["pipeline"],
        )

    @property
    def label_coding(self) -> Any:
        """The recorded label coding; files of the legacy format predate it (see features)."""
        if self.format == LEGACY_MODEL_FORMAT:
            # Imported here: the steps that only move files never load the feature set.
            from heartml.features import LEGACY_LABEL_CODING

            return LEGACY_LABEL_CODING
        return self.metadata.get("label_coding")


class ForbiddenGlobal(Exception):
    """A pickle asked for a class or function; its text is ``module.name``."""


class _PlainValuesUnpickler(pickle.Unpickler):
    """An unpickler with an empty allowlist: builtin values only, no imports, no calls."""

    def find_class(self, module: str, name: str) -> Any:
        # ascii() keeps a newline planted in the name from starting a line of its own in a log.
        raise ForbiddenGlobal(ascii(f"{module}.{name}"[:120]))


def sha256_bytes(data: bytes) -> str:
    """Return the hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def check_integrity(model_bytes: bytes, metrics: dict[str, Any], where: str) -> None:
    """Raise IntegrityError unless ``model_bytes`` hash to ``metrics['model_sha256']``."""
    expected = metrics.get("model_sha256")
    actual = sha256_bytes(model_bytes)
    if expected != actual:
        raise IntegrityError(f"{where}: sha256 {actual[:12]}… does not match metrics {expected!r}")


def metrics_json(metrics: dict[str, Any]) -> bytes:
    """Serialise a metrics record the one way the pipeline writes it."""
    return json.dumps(metrics, indent=2, sort_keys=True).encode() + b"\n"


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
