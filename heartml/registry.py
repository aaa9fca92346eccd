"""The model registry kept in a store: immutable archived versions and a ``latest`` pointer.

Layout under the store's root (the tutorial's)::

    dataset.csv
    models/latest.joblib
    models/<run id>.joblib
    models/metrics/<run id>.json

Every version is archived (model, then metrics) with exclusive writes before
``latest`` changes, and ``latest`` is written from bytes whose sha256 was checked
against the metrics, so ``latest`` is always a complete copy of an archived version.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from heartml.artifacts import check_integrity, metrics_json
from heartml.errors import PipelineError
from heartml.store import Store

log = logging.getLogger(__name__)

DATASET_KEY = "dataset.csv"
LATEST_MODEL_KEY = "models/latest.joblib"


def model_key(run_id: str) -> str:
    """Return the key of an archived model version."""
    return f"models/{run_id}.joblib"


def metrics_key(run_id: str) -> str:
    """Return the key of an archived version's metrics (JSON, not ``.joblib``)."""
    return f"models/metrics/{run_id}.json"


def publish(store: Store, model_bytes: bytes, metrics: dict[str, Any]) -> str:
    """Archive a model version and its metrics, then promote it to ``latest``.

    Returns the run id. Raises ObjectExists when the version is already archived
    (nothing is promoted then), IntegrityError when the bytes do not match the
    metrics, and StoreError when the store fails; in every case ``latest`` is left as
    it was.
    """
    run_id = metrics.get("run_id")
    if not run_id:
        raise PipelineError("metrics carry no run_id; was the model trained by steps.train?")
    check_integrity(model_bytes, metrics, "artifact to publish")

    store.write_bytes(model_key(run_id), model_bytes, exclusive=True)
    log.info("archived model %s (%d bytes)", store.url(model_key(run_id)), len(model_bytes))
    store.write_bytes(metrics_key(run_id), metrics_json(metrics), exclusive=True)
    log.info("archived metrics %s", store.url(metrics_key(run_id)))

    promote(store, run_id)
    return run_id


def promote(store: Store, run_id: str) -> dict[str, Any]:
    """Point ``latest`` at an archived version after checking it against its metrics."""
    metrics = read_metrics(store, run_id)
    archived = store.read_bytes(model_key(run_id))
    check_integrity(archived, metrics, store.url(model_key(run_id)))
    store.write_bytes(LATEST_MODEL_KEY, archived)
    log.info("promoted %s to %s", run_id, store.url(LATEST_MODEL_KEY))
    return metrics


def read_metrics(store: Store, run_id: str) -> dict[str, Any]:
    """Return an archived version's metrics record."""
    raw = store.read_bytes(metrics_key(run_id))
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise PipelineError(f"{store.url(metrics_key(run_id))} is not valid JSON: {exc}") from None
