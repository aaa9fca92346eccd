"""The model file's format, read without running anything, and its integrity check.

The file is a pickle of plain values: the pickled scikit-learn pipeline kept as bytes,
beside metadata and the fast path's linear parameters. ``ModelFile.read`` parses it
with an unpickler that may import nothing, so a planted file that would call a
function is refused rather than run; whether the inner pipeline may be unpickled is
decided by its sha256 (``heartml.serving.served_model``).
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
from typing import Any, NamedTuple

from heartml.contract import LEGACY_ANSWERS
from heartml.errors import IntegrityError, ModelLoadError

# The pipeline is an inner pickle beside plain linear parameters, so a server can load the
# file without importing scikit-learn (see heartml/serving/fast_path.py). Version 3 adds the label
# coding (which way the classifier's class 1 points); version 2 files, written before it,
# are still served: their class 1 is the legacy contract's negative answer.
MODEL_FORMAT = "heartml-model/3"
LEGACY_MODEL_FORMAT = "heartml-model/2"


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
        """The recorded label coding; files of the legacy format predate it.

        They were fitted on the label as it is, so their class 1 is the legacy contract's
        class 0 ("clear"): the served model turns their answers round.
        """
        if self.format == LEGACY_MODEL_FORMAT:
            return {"class_1": LEGACY_ANSWERS[0]}
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


def metrics_problem(record: Any, run_id: str) -> str | None:
    """Say what makes a metrics record unusable, in a few words; None when it is sound.

    A record is read back from the store, where anyone with write access may have put it;
    the history and the dashboard print its fields as they are.
    """
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    if record.get("run_id") != run_id:
        return "its run_id is not its file name"
    if not isinstance(record.get("model_sha256"), str):
        return "no model_sha256"
    if "gate" in record and not isinstance(record["gate"], dict):
        return "its gate verdict is not an object"
    timestamp = record.get("timestamp", "")
    if not isinstance(timestamp, str) or not timestamp.isprintable():
        return "its timestamp is not one line of text"  # history prints it as it is
    for score in ("acc", "val_acc", "roc_auc"):
        value = record.get(score, 0.0)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{score} is not a number"
        if not 0 <= value <= 1:  # also refuses NaN; a score is a share
            return f"{score} is not a number from 0 to 1"
    return None
