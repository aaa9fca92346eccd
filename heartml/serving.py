"""Load a published model and answer predictions with it.

Loading a joblib file runs code from it, so only files this pipeline wrote are
loaded: the store (or a local artifact) is the trusted source, and a file in any
other shape, or written under another scikit-learn, is refused rather than served.

Predictions take the fast path (``heartml.linear``) when the model file carries
linear parameters; otherwise the pickled pipeline is loaded and asked directly.
Either way every probability leaving this module is P(heart disease): a version
whose classifier's class 1 means "clear" (trained before the label coding was
recorded) has its answers turned around here, in one place.
"""

from __future__ import annotations

import io
import logging
import math
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from heartml.artifacts import ModelFile
from heartml.errors import ModelLoadError, RequestError
from heartml.features import (
    DIAGNOSES,
    FEATURES,
    LABEL_CODING,
    class_1_is_disease,
)
from heartml.linear import LinearScorer
from heartml.registry import LATEST_MODEL_KEY
from heartml.store import Store

log = logging.getLogger(__name__)

MAX_BATCH = 1000
MAX_BODY_BYTES = 1_048_576  # 1 MiB: a full batch of 1,000 records is about 200 KB
TOP_LEVEL_KEYS = {"instances", "parameters"}  # Vertex AI's request shape


def installed_sklearn() -> str:
    """Return the installed scikit-learn version without importing it (imports cost ~1 s)."""
    return package_metadata.version("scikit-learn")


@dataclass
class LoadedModel:
    """A published model: its metadata, its fast scorer if any, and its pipeline on demand.

    It answers as a classifier whose class 1 is heart disease, whatever the file's
    label coding: ``predict_proba`` for frames (the gate), ``probabilities`` for
    parsed records (the API).
    """

    metadata: dict[str, Any]
    pipeline_bytes: bytes
    scorer: LinearScorer | None = None
    source: str = ""
    metrics: dict[str, Any] | None = field(default=None)
    label_coding: dict[str, Any] = field(default_factory=lambda: dict(LABEL_CODING))

    @cached_property
    def _inverted(self) -> bool:
        return not class_1_is_disease(self.label_coding)

    @property
    def run_id(self) -> str | None:
        return self.metadata.get("run_id")

    @cached_property
    def pipeline(self) -> Any:
        """The fitted scikit-learn pipeline, unpickled on first use."""
        from sklearn.exceptions import InconsistentVersionWarning

        with warnings.catch_warnings():
            warnings.simplefilter("error", InconsistentVersionWarning)
            try:
                pipeline = joblib.load(io.BytesIO(self.pipeline_bytes))
            except InconsistentVersionWarning as exc:
                raise ModelLoadError(
                    f"refusing {self.source}: pickled by scikit-learn "
                    f"{exc.original_sklearn_version}, running {installed_sklearn()}"
                ) from None
            except Exception as exc:  # a corrupt pickle can raise nearly anything
                raise ModelLoadError(
                    f"cannot unpickle the pipeline in {self.source}: {exc}"
                ) from None
        if not hasattr(pipeline, "predict_proba"):
            raise ModelLoadError(
                f"refusing {self.source}: it holds no classifier with predict_proba"
            )
        return pipeline

    def predict_proba(self, frame: Any) -> np.ndarray:
        """Return [P(clear), P(heart disease)] per row of a feature frame, as the API answers.

        That is the fast scorer when the file has one (it was checked against the
        pipeline when trained) and the pipeline otherwise, so the gate judges what serves.
        """
        if self.scorer is None:
            columns = self.pipeline.predict_proba(frame)
        else:
            p = self.scorer.many(frame[list(FEATURES)].to_numpy(dtype=float))
            columns = np.column_stack([1.0 - p, p])
        return columns[:, ::-1] if self._inverted else columns

    def probabilities(self, rows: list[list[float | None]]) -> list[float]:
        """Return P(heart disease) for each record (values in FEATURES order, None = missing)."""
        if self.scorer is None:
            import pandas as pd

            frame = pd.DataFrame(rows, columns=list(FEATURES), dtype=float)
            return self.predict_proba(frame)[:, 1].tolist()
        if len(rows) == 1:
            p = self.scorer.one(rows[0])
            return [1.0 - p if self._inverted else p]
        p = self.scorer.many(np.array(rows, dtype=float))
        return (1.0 - p if self._inverted else p).tolist()

    def out_of_range(self, row: list[float | None]) -> list[str]:
        """Name the features whose value lies outside what the model saw in training."""
        ranges = self.metadata.get("feature_ranges") or {}
        flagged = []
        for name, value in zip(FEATURES, row, strict=True):
            seen = ranges.get(name)
            if value is None or seen is None:
                continue
            if "codes" in seen:
                if value not in seen["codes"]:
                    flagged.append(name)
            elif not seen["min"] <= value <= seen["max"]:
                flagged.append(name)
        return flagged

    def identity(self) -> dict[str, Any]:
        """The model facts every answer carries."""
        return {"run_id": self.run_id, "trained_at": self.metadata.get("trained_at")}


def model_from_bytes(data: bytes, source: str) -> LoadedModel:
    """Read a model file and refuse it unless it is ours and matches this scikit-learn."""
    try:
        payload = joblib.load(io.BytesIO(data))
    except Exception as exc:  # a corrupt pickle can raise nearly anything
        raise ModelLoadError(f"cannot unpickle {source}: {type(exc).__name__}: {exc}") from None
    file = ModelFile.from_payload(payload, source)
    metadata, coding = file.metadata, file.label_coding
    try:
        class_1_is_disease(coding if isinstance(coding, dict) else {})
    except ValueError as exc:
        raise ModelLoadError(f"refusing {source}: {exc}") from None
    trained_with = (metadata.get("versions") or {}).get("scikit-learn")
    running = installed_sklearn()
    if trained_with != running:
        raise ModelLoadError(
            f"refusing {source}: trained with scikit-learn {trained_with}, "
            f"running {running}; retrain or pin the same version"
        )
    model = LoadedModel(
        metadata=metadata, pipeline_bytes=file.pipeline, source=source, label_coding=coding
    )
    if file.linear:
        try:
            model.scorer = LinearScorer(file.linear, list(FEATURES))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"refusing {source}: malformed linear parameters: {exc}") from None
    else:
        model.pipeline  # noqa: B018 - no fast path: unpickle (and check) the pipeline now
    return model


def load_model(source: Store | str | Path) -> LoadedModel:
    """Load ``models/latest.joblib`` from a store, or a model file from a local path."""
    if isinstance(source, Store):
        name = source.url(LATEST_MODEL_KEY)
        data = source.read_bytes(LATEST_MODEL_KEY)
    else:
        name = str(source)
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise ModelLoadError(f"cannot read model {name}: {exc.strerror or exc}") from None
    model = model_from_bytes(data, name)
    path = "fast linear path" if model.scorer else "scikit-learn pipeline"
    log.info(
        "loaded model run_id=%s from %s (%s; class 1 is %s)",
        model.run_id,
        name,
        path,
        model.label_coding["class_1"],
    )
    return model


def parse_record(body: Any, where: str = "") -> list[float | None]:
    """Check one patient record; return its values in FEATURES order (None = missing).

    Each feature must be present, and a finite number or null (the pipeline imputes
    missing values). Unknown keys are refused, so that a misspelt feature is not
    silently imputed.
    """
    if not isinstance(body, dict):
        raise RequestError(
            where.rstrip(".") or "body",
            f"expected a JSON object of features, got {_json_type(body)}",
        )
    values: list[float | None] = []
    for name in FEATURES:
        if name not in body:
            raise RequestError(f"{where}{name}", "is required (a number, or null if unknown)")
        value = body[name]
        if value is None:
            values.append(None)
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise RequestError(
                f"{where}{name}", f"must be a number or null, got {_json_type(value)}"
            )
        else:
            try:
                number = float(value)  # an integer literal can exceed a float's range
            except OverflowError:
                number = math.inf
            if not math.isfinite(number):
                raise RequestError(f"{where}{name}", "must be a finite number")
            values.append(number)
    if len(body) != len(FEATURES):
        unknown = sorted(set(body) - set(FEATURES))
        raise RequestError(f"{where}{unknown[0]}", "is not a feature of this model")
    return values


def parse_request(body: Any) -> tuple[list[list[float | None]], bool]:
    """Return the records of a request and whether it was a batch (``{"instances": [...]}``)."""
    if isinstance(body, dict) and "instances" in body:
        extra = sorted(set(body) - TOP_LEVEL_KEYS)
        if extra:
            raise RequestError(extra[0], "is not allowed beside instances")
        if not isinstance(body.get("parameters", {}), dict):
            raise RequestError(
                "parameters", f"must be an object, got {_json_type(body['parameters'])}"
            )
        instances = body["instances"]
        if not isinstance(instances, list):
            raise RequestError(
                "instances", f"must be an array of records, got {_json_type(instances)}"
            )
        if not instances:
            raise RequestError("instances", "is empty; send 1 to 1000 records")
        if len(instances) > MAX_BATCH:
            raise RequestError("instances", f"has {len(instances)} records; at most {MAX_BATCH}")
        return [
            parse_record(record, f"instances[{i}].") for i, record in enumerate(instances)
        ], True
    return [parse_record(body)], False


def predict(model: LoadedModel, records: list[list[float | None]], batch: bool) -> dict[str, Any]:
    """Shape the answer: the tutorial's for one record, Vertex AI's for a batch."""
    answers = [
        {
            # As predict(): a tie at 0.5 goes to class 0.
            "diagnosis": DIAGNOSES[int(p > 0.5)],
            "probability": p,
            "out_of_range": model.out_of_range(row),
        }
        for p, row in zip(model.probabilities(records), records, strict=True)
    ]
    if batch:
        return {"predictions": answers, "model": model.identity()}
    return {**answers[0], **model.identity()}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
