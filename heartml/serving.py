"""Load a published model and answer predictions with it.

Loading a joblib file runs code from it, so only files this pipeline wrote are
loaded: the store (or a local artifact) is the trusted source, and a file in any
other shape, or written by another scikit-learn, is refused rather than served.
"""

from __future__ import annotations

import io
import logging
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import sklearn
from sklearn.exceptions import InconsistentVersionWarning
from sklearn.pipeline import Pipeline

from heartml.artifacts import MODEL_FORMAT
from heartml.errors import ModelLoadError, PipelineError
from heartml.features import DIAGNOSES, FEATURES
from heartml.registry import LATEST_MODEL_KEY
from heartml.store import Store

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A fitted pipeline and the metadata recorded when it was trained."""

    pipeline: Pipeline
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def run_id(self) -> str | None:
        return self.metadata.get("run_id")


class RequestError(PipelineError):
    """A prediction request is malformed; ``field`` names the offending part."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def model_from_bytes(data: bytes, source: str) -> LoadedModel:
    """Unpickle a model file and refuse it unless it is ours and matches this scikit-learn."""
    with warnings.catch_warnings():
        # Serving a model under another scikit-learn is unsupported: make it an error.
        warnings.simplefilter("error", InconsistentVersionWarning)
        try:
            payload = joblib.load(io.BytesIO(data))
        except InconsistentVersionWarning as exc:
            raise ModelLoadError(
                f"refusing {source}: pickled by scikit-learn {exc.original_sklearn_version}, "
                f"running {sklearn.__version__}"
            ) from None
        except Exception as exc:  # a corrupt pickle can raise nearly anything
            raise ModelLoadError(f"cannot unpickle {source}: {type(exc).__name__}: {exc}") from None

    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise ModelLoadError(f"refusing {source}: not a {MODEL_FORMAT} file written by steps.train")
    pipeline, metadata = payload.get("pipeline"), payload.get("metadata") or {}
    if not hasattr(pipeline, "predict_proba"):
        raise ModelLoadError(f"refusing {source}: it holds no classifier with predict_proba")
    trained_with = metadata.get("versions", {}).get("scikit-learn")
    if trained_with != sklearn.__version__:
        raise ModelLoadError(
            f"refusing {source}: trained with scikit-learn {trained_with}, "
            f"running {sklearn.__version__}; retrain or pin the same version"
        )
    return LoadedModel(pipeline=pipeline, metadata=metadata)


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
    log.info("loaded model run_id=%s from %s", model.run_id, name)
    return model


def parse_record(body: Any) -> dict[str, float | None]:
    """Check one patient record: an object with every feature, each a finite number or null.

    Null is allowed because the pipeline imputes missing values.
    """
    if not isinstance(body, dict):
        raise RequestError("body", f"expected a JSON object of features, got {_json_type(body)}")
    missing = [name for name in FEATURES if name not in body]
    if missing:
        raise RequestError(missing[0], f"is required (missing: {', '.join(missing)})")
    record: dict[str, float | None] = {}
    for name in FEATURES:
        value = body[name]
        if value is None:
            record[name] = None
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise RequestError(name, f"must be a number or null, got {_json_type(value)}")
        elif not math.isfinite(value):
            raise RequestError(name, "must be a finite number")
        else:
            record[name] = float(value)
    return record


def predict_one(model: LoadedModel, record: dict[str, float | None]) -> dict[str, Any]:
    """Answer one record the tutorial's way, with the probability and the model's run id."""
    frame = pd.DataFrame.from_records([record], columns=list(FEATURES)).astype(float)
    probability = float(model.pipeline.predict_proba(frame)[0, 1])
    return {
        # As predict(): a tie at 0.5 goes to class 0.
        "diagnosis": DIAGNOSES[int(probability > 0.5)],
        "probability": probability,
        "run_id": model.run_id,
    }


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
