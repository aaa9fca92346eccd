"""The model registry kept in a store: immutable archived versions and a ``latest`` pointer.

Layout under the store's root (the tutorial's, plus lineage)::

    dataset.csv                      the dataset the next run trains on
    datasets/<sha256>.csv            every dataset a version was trained on
    models/<run id>.joblib           every version, written once
    models/metrics/<run id>.json     its metrics, lineage and gate verdict
    models/latest.joblib             a byte copy of the live version
    models/latest.json               which version that is, for readers that need no model

Every version is archived (model, then metrics) with exclusive writes before
``latest`` changes, and ``latest`` is written from bytes whose sha256 was checked
against the metrics. A version the gate held back is archived for the record but
never promoted.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from heartml.artifacts import check_integrity, metrics_json, sha256_bytes
from heartml.errors import ObjectExists, ObjectNotFound, PipelineError, RollbackError
from heartml.store import Store

log = logging.getLogger(__name__)

DATASET_KEY = "dataset.csv"
MODELS_PREFIX = "models/"
LATEST_MODEL_KEY = f"{MODELS_PREFIX}latest.joblib"
LATEST_POINTER_KEY = f"{MODELS_PREFIX}latest.json"
METRICS_PREFIX = f"{MODELS_PREFIX}metrics/"
EVENTS_PREFIX = "events/"


def model_key(run_id: str) -> str:
    """Return the key of an archived model version."""
    return f"{MODELS_PREFIX}{run_id}.joblib"


def event_marker_key(handler: str, event_id: str) -> str:
    """Return the key that marks an event as handled by one consumer (see heartml.events)."""
    return f"{EVENTS_PREFIX}{handler}/{event_id}"


def metrics_key(run_id: str) -> str:
    """Return the key of an archived version's metrics (JSON, not ``.joblib``)."""
    return f"{METRICS_PREFIX}{run_id}.json"


def dataset_key(sha256: str) -> str:
    """Return the key of an archived training dataset, named by its content."""
    return f"datasets/{sha256}.csv"


def gate_passed(metrics: dict[str, Any]) -> bool:
    """Tell whether a version's metrics carry a passing gate verdict."""
    return bool((metrics.get("gate") or {}).get("passed"))


def publish(
    store: Store,
    model_bytes: bytes,
    metrics: dict[str, Any],
    dataset_bytes: bytes | None = None,
) -> bool:
    """Archive a version (its dataset, model and metrics); promote it if the gate passed it.

    Returns whether the version was promoted. Raises PipelineError when the metrics
    carry no gate verdict, ObjectExists when the version is already archived,
    IntegrityError when bytes and metrics disagree, StoreError when the store fails;
    in every case ``latest`` is left as it was.
    """
    run_id = metrics.get("run_id")
    if not run_id:
        raise PipelineError("metrics carry no run_id; was the model trained by steps.train?")
    if "gate" not in metrics:
        raise PipelineError(f"run {run_id} has no gate verdict; run steps.gate before publishing")
    check_integrity(model_bytes, metrics, "artifact to publish")
    if dataset_bytes is not None:
        archive_dataset(store, dataset_bytes, metrics)

    store.write_bytes(model_key(run_id), model_bytes, exclusive=True)
    log.info("archived model %s (%d bytes)", store.url(model_key(run_id)), len(model_bytes))
    store.write_bytes(metrics_key(run_id), metrics_json(metrics), exclusive=True)
    log.info("archived metrics %s", store.url(metrics_key(run_id)))

    if not gate_passed(metrics):
        log.warning("run %s was held back by the gate: archived, not promoted", run_id)
        return False
    promote(store, run_id, reason="trained")
    return True


def archive_dataset(store: Store, dataset_bytes: bytes, metrics: dict[str, Any]) -> None:
    """Keep the exact training data of a version, once per distinct content."""
    expected = (metrics.get("dataset") or {}).get("sha256")
    actual = sha256_bytes(dataset_bytes)
    if expected != actual:
        raise PipelineError(
            f"the dataset file (sha256 {actual[:12]}…) is not the one run "
            f"{metrics.get('run_id')} was trained on ({expected}); did it change after training?"
        )
    try:
        store.write_bytes(dataset_key(actual), dataset_bytes, exclusive=True)
        log.info("archived dataset %s", store.url(dataset_key(actual)))
    except ObjectExists:
        pass  # same content as an earlier version's: nothing to add


def promote(store: Store, run_id: str, *, reason: str) -> dict[str, Any]:
    """Point ``latest`` at an archived version after checking it against its metrics."""
    metrics = read_metrics(store, run_id)
    archived = store.read_bytes(model_key(run_id))
    check_integrity(archived, metrics, store.url(model_key(run_id)))
    store.write_bytes(LATEST_MODEL_KEY, archived)
    pointer = {
        "run_id": run_id,
        "model_sha256": metrics["model_sha256"],
        "promoted_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "reason": reason,
    }
    store.write_bytes(LATEST_POINTER_KEY, json.dumps(pointer, indent=2).encode() + b"\n")
    log.info("promoted %s to %s (%s)", run_id, store.url(LATEST_MODEL_KEY), reason)
    return metrics


def read_metrics(store: Store, run_id: str) -> dict[str, Any]:
    """Return an archived version's metrics record."""
    raw = store.read_bytes(metrics_key(run_id))
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise PipelineError(f"{store.url(metrics_key(run_id))} is not valid JSON: {exc}") from None


def history(store: Store) -> list[dict[str, Any]]:
    """Return every archived version's metrics, oldest first, without reading any model."""
    keys = [k for k in store.list_keys(METRICS_PREFIX) if k.endswith(".json")]
    run_ids = [k[len(METRICS_PREFIX) : -len(".json")] for k in keys]
    # A bucket answers one small GET per version; a few in flight hide the round trips.
    with ThreadPoolExecutor(max_workers=8) as pool:
        records = list(pool.map(lambda run_id: read_metrics(store, run_id), run_ids))
    return sorted(records, key=_trained_order)


def _trained_order(metrics: dict[str, Any]) -> tuple[str, str]:
    return (metrics.get("timestamp") or "", metrics.get("run_id") or "")


def promoted_before(
    versions: list[dict[str, Any]], version: dict[str, Any]
) -> dict[str, Any] | None:
    """Return the newest gate-passed version trained before ``version``, or None.

    The one definition of "the version before": rollback's ``--previous``, the alerts'
    comparison and the dashboard's delta all use it, in ``history``'s order.
    """
    earlier = [
        m for m in versions if _trained_order(m) < _trained_order(version) and gate_passed(m)
    ]
    return earlier[-1] if earlier else None


def live_run_id(store: Store) -> str | None:
    """Return the run id ``latest.joblib`` is a copy of, checked by sha256; None if no model.

    ``latest.json`` says which version is live; it is trusted only when the sha256 of
    ``latest.joblib`` matches that version's metrics. If a run died between writing
    the two, the archive is searched for the version with that sha256.
    """
    try:
        live_sha = sha256_bytes(store.read_bytes(LATEST_MODEL_KEY))
    except ObjectNotFound:
        return None
    try:
        pointer = json.loads(store.read_bytes(LATEST_POINTER_KEY))
        if read_metrics(store, pointer["run_id"]).get("model_sha256") == live_sha:
            return pointer["run_id"]
    except (ObjectNotFound, ValueError, KeyError, TypeError):
        pass
    matches = [m["run_id"] for m in history(store) if m.get("model_sha256") == live_sha]
    if not matches:
        raise PipelineError(f"{store.url(LATEST_MODEL_KEY)} matches no archived version")
    return matches[-1]


def promoted_version(store: Store) -> tuple[str, str] | None:
    """Return (run id, model sha256) of the promoted version, as the store records it.

    ``latest.json`` is the record; a store from before it existed (or a damaged one)
    falls back to the archived version whose sha256 ``latest.joblib`` has. None when
    neither names a version.
    """
    pointer = live_pointer(store)
    if isinstance(pointer, dict):
        run_id, sha256 = pointer.get("run_id"), pointer.get("model_sha256")
        if isinstance(run_id, str) and isinstance(sha256, str):
            return run_id, sha256
    try:
        run_id = live_run_id(store)
    except PipelineError:
        return None
    if run_id is None:
        return None
    return run_id, read_metrics(store, run_id).get("model_sha256") or ""


def live_pointer(store: Store) -> dict[str, Any] | None:
    """Return ``latest.json`` (which version is live, when and why) without reading a model.

    For display; ``live_run_id`` is the checked answer.
    """
    try:
        return json.loads(store.read_bytes(LATEST_POINTER_KEY))
    except (ObjectNotFound, ValueError):
        return None


def live_training_dataset(store: Store) -> bytes | None:
    """Return the dataset the live model was trained on, if the store archived it."""
    live = live_run_id(store)
    if live is None:
        return None
    sha = (read_metrics(store, live).get("dataset") or {}).get("sha256")
    if not sha or not store.exists(dataset_key(sha)):
        return None
    return store.read_bytes(dataset_key(sha))


def previous_version(store: Store) -> str:
    """Return the newest promotable version trained before the live one."""
    live = live_run_id(store)
    if live is None:
        raise RollbackError("no live model: nothing to roll back from")
    versions = history(store)
    live_metrics = next(m for m in versions if m.get("run_id") == live)
    previous = promoted_before(versions, live_metrics)
    if previous is None:
        raise RollbackError(f"no version passed by the gate was trained before live {live}")
    return previous["run_id"]


def rollback(store: Store, run_id: str, *, force: bool = False) -> dict[str, Any]:
    """Make an archived version live again after checking it exists and is intact."""
    try:
        metrics = read_metrics(store, run_id)
    except ObjectNotFound:
        raise RollbackError(f"no archived version {run_id!r} in {store.uri}") from None
    if not gate_passed(metrics) and not force:
        raise RollbackError(f"version {run_id} was held back by the gate; use --force to serve it")
    return promote(store, run_id, reason="rollback")
