"""The model registry kept in a store: immutable archived versions and a ``latest`` pointer.

Layout under the store's root (the tutorial's, plus lineage)::

    dataset.csv                      the dataset the next run trains on
    datasets/<sha256>.csv            every dataset a version was trained on
    models/<run id>.joblib           every version, written once
    models/metrics/<run id>.json     its metrics, lineage and gate verdict
    models/cards/<run id>.json|.md   its model card, for tools and for people
    models/latest.json               which version is promoted: the one source of truth
    models/latest.joblib             a byte copy of it, for the tutorial's readers

Every version is archived (model, then metrics) with exclusive writes before
anything changes what is promoted. "Which version is promoted" has one answer, the
pointer ``latest.json`` (run id and model sha256); promoting writes it first, in one
atomic write, and only then refreshes ``latest.joblib`` from the archived bytes.
``latest.joblib`` is a cache: a reader that wants the model checks its sha256 against
the pointer and reads the archived version when they differ (a crash between the two
writes, two promotions interleaved, a damaged file), so no reader can see two answers.
A version the gate held back is archived for the record but never promoted.
"""

from __future__ import annotations

import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from heartml.errors import (
    ConfigError,
    ObjectExists,
    ObjectNotFound,
    PipelineError,
    RollbackError,
)
from heartml.run_ids import check_run_id
from heartml.store.backends import Store, parse_stored
from heartml.store.model_file import check_integrity, metrics_json, metrics_problem, sha256_bytes

# The name its log lines carried before the package had wings: log queries keep working.
log = logging.getLogger("heartml.registry")

DATASET_KEY = "dataset.csv"
MODELS_PREFIX = "models/"
LATEST_MODEL_KEY = f"{MODELS_PREFIX}latest.joblib"
LATEST_POINTER_KEY = f"{MODELS_PREFIX}latest.json"
METRICS_PREFIX = f"{MODELS_PREFIX}metrics/"
CARDS_PREFIX = f"{MODELS_PREFIX}cards/"
EVENTS_PREFIX = "events/"
SUPERSEDED_PREFIX = f"{MODELS_PREFIX}superseded/"
# The monitor's last action on drift (its cooldown), beside the event consumers' markers.
DRIFT_MARKER_KEY = "events/monitor/drift.json"


def model_key(run_id: str) -> str:
    """Return the key of an archived model version."""
    return f"{MODELS_PREFIX}{check_run_id(run_id)}.joblib"


def event_marker_key(handler: str, event_id: str) -> str:
    """Return the key that marks an event as handled by one consumer (see heartml.ops.events).

    An id that is not plain text for a key (a slash, "..") is named by its sha256 instead.
    """
    if not re.fullmatch(r"[A-Za-z0-9_:-][A-Za-z0-9._:-]{0,199}", event_id):
        event_id = "sha256-" + sha256_bytes(event_id.encode())
    return f"{EVENTS_PREFIX}{handler}/{event_id}"


def metrics_key(run_id: str) -> str:
    """Return the key of an archived version's metrics (JSON, not ``.joblib``)."""
    return f"{METRICS_PREFIX}{check_run_id(run_id)}.json"


def card_keys(run_id: str) -> dict[str, str]:
    """Where a version's model card is archived: JSON for tools, Markdown for people."""
    base = f"{CARDS_PREFIX}{check_run_id(run_id)}"
    return {"json": f"{base}.json", "markdown": f"{base}.md"}


SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")


def dataset_key(sha256: object) -> str:
    """Return the key of an archived training dataset, named by its content.

    The sha256 is read back from stored metrics, so it is checked like a run id: only
    64 lower-case hex digits may become part of a key (never ``../``).
    """
    if not isinstance(sha256, str) or not SHA256_PATTERN.fullmatch(sha256):
        raise ConfigError(f"dataset sha256 {ascii(sha256)[:60]} is not 64 hex digits")
    return f"datasets/{sha256}.csv"


def gate_passed(metrics: dict[str, Any]) -> bool:
    """Tell whether a version's metrics carry a passing gate verdict."""
    gate = metrics.get("gate")
    return isinstance(gate, dict) and gate.get("passed") is True


def publish(
    store: Store,
    model_bytes: bytes,
    metrics: dict[str, Any],
    dataset_bytes: bytes | None = None,
    card: tuple[bytes, bytes] | None = None,
) -> bool:
    """Archive a version (its dataset, card, model and metrics); promote it if the gate passed it.

    ``card`` is the model card's JSON and Markdown, written (overwriting what an
    interrupted run left: they are derived, not evidence) before the model, so an
    archived version always has its card.

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
    if card is not None:
        if store.exists(metrics_key(run_id)):
            raise ObjectExists(
                f"{store.url(metrics_key(run_id))} already exists and is never overwritten"
            )
        keys = card_keys(run_id)
        store.write_bytes(keys["json"], card[0])
        store.write_bytes(keys["markdown"], card[1])

    _archive_model(store, run_id, model_bytes)
    store.write_bytes(metrics_key(run_id), metrics_json(metrics), exclusive=True)
    log.info("archived metrics %s", store.url(metrics_key(run_id)))

    if not gate_passed(metrics):
        log.warning("run %s was held back by the gate: archived, not promoted", run_id)
        return False
    promote(store, run_id, reason="trained")
    return True


def _archive_model(store: Store, run_id: str, model_bytes: bytes) -> None:
    """Write the version's model exclusively; finish or supersede an interrupted archive.

    A model without metrics is what a run killed between the two writes leaves: never a
    version (nothing can promote it). The same bytes again finish it; other bytes move it
    to ``models/superseded/`` (kept, never lost) and take its place. A model that has
    metrics is an archived version and is never overwritten (ObjectExists).
    """
    key = model_key(run_id)
    try:
        store.write_bytes(key, model_bytes, exclusive=True)
    except ObjectExists:
        if store.exists(metrics_key(run_id)):
            raise
        orphan = store.read_bytes(key)
        if orphan != model_bytes:
            kept = f"{SUPERSEDED_PREFIX}{run_id}.{sha256_bytes(orphan)[:12]}.joblib"
            store.write_bytes(kept, orphan)
            store.write_bytes(key, model_bytes)
            log.warning(
                "run %s had a model but no metrics (an interrupted archive); it was kept as %s "
                "and superseded by this one",
                run_id,
                store.url(kept),
            )
        else:
            log.warning("run %s had its model but no metrics: finishing its archive", run_id)
    log.info("archived model %s (%d bytes)", store.url(key), len(model_bytes))


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
    pointer = {
        "run_id": run_id,
        "model_sha256": metrics["model_sha256"],
        "promoted_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "reason": reason,
    }
    if isinstance(metrics.get("model_card"), dict):
        pointer["model_card"] = metrics["model_card"]
    # The pointer is the truth and is written first; latest.joblib follows it.
    store.write_bytes(LATEST_POINTER_KEY, json.dumps(pointer, indent=2).encode() + b"\n")
    log.info("promoted %s (%s)", run_id, reason)
    refresh_latest_copy(store)
    return metrics


def refresh_latest_copy(store: Store) -> None:
    """Make ``latest.joblib`` a copy of the version the pointer names, if it is not already.

    The pointer is read again after the copy is written: if another promotion moved it
    meanwhile, the copy follows it, so interleaved promotions end with the two agreeing.
    """
    for _ in range(3):
        promoted = promoted_version(store)
        if promoted is None:
            return
        run_id, sha256 = promoted
        try:
            if sha256_bytes(store.read_bytes(LATEST_MODEL_KEY)) == sha256:
                return
        except ObjectNotFound:
            pass
        archived = store.read_bytes(model_key(run_id))
        if sha256_bytes(archived) != sha256:
            raise PipelineError(f"{store.url(model_key(run_id))} is not the promoted version's")
        store.write_bytes(LATEST_MODEL_KEY, archived)
        log.info("wrote %s from %s", store.url(LATEST_MODEL_KEY), store.url(model_key(run_id)))


def read_metrics(store: Store, run_id: str) -> dict[str, Any]:
    """Return an archived version's metrics record; PipelineError if it is not a sound one."""
    key = metrics_key(run_id)
    try:
        record = parse_stored(store.read_bytes(key))
    except ValueError as exc:
        raise PipelineError(f"{store.url(key)} is not valid JSON: {exc}") from None
    problem = metrics_problem(record, run_id)
    if problem:
        raise PipelineError(f"{store.url(key)} is not a metrics record: {problem}")
    return record


def versions(store: Store) -> list[dict[str, Any]]:
    """Return every archived version's metrics, oldest first, without reading any model.

    A metrics file that is not a sound record (damaged, or written by hand) is skipped
    with a warning naming it: one bad file must not hide the others.
    """
    keys = [k for k in store.list_keys(METRICS_PREFIX) if k.endswith(".json")]
    run_ids = [k[len(METRICS_PREFIX) : -len(".json")] for k in keys]

    def read(run_id: str) -> dict[str, Any] | None:
        try:
            return read_metrics(store, run_id)
        except ObjectNotFound:
            return None  # deleted since the listing
        except PipelineError as exc:  # ConfigError (a bad name) included
            log.warning("skipping %s", exc)  # names the file; a bad name is quoted by ascii()
            return None

    # A bucket answers one small GET per version; a few in flight hide the round trips.
    with ThreadPoolExecutor(max_workers=8) as pool:
        records = [r for r in pool.map(read, run_ids) if r is not None]
    return sorted(records, key=_trained_order)


def _trained_order(metrics: dict[str, Any]) -> tuple[str, str]:
    return (metrics.get("timestamp") or "", metrics.get("run_id") or "")


def promoted_before(
    versions: list[dict[str, Any]], version: dict[str, Any]
) -> dict[str, Any] | None:
    """Return the newest gate-passed version trained before ``version``, or None.

    The one definition of "the version before": rollback's ``--previous``, the alerts'
    comparison and the dashboard's delta all use it, in ``versions``' order.
    """
    earlier = [
        m for m in versions if _trained_order(m) < _trained_order(version) and gate_passed(m)
    ]
    return earlier[-1] if earlier else None


def promoted_version(store: Store) -> tuple[str, str] | None:
    """Return (run id, model sha256) of the promoted version: what ``latest.json`` names.

    The pointer is the one source of truth; ``latest.joblib`` is never consulted, so a
    damaged copy cannot hide which version is promoted. A store written before the
    pointer existed falls back, once, to the archived version whose sha256 its
    ``latest.joblib`` has. None when nothing names a version.
    """
    pointer = live_pointer(store)
    if pointer is not None:
        run_id, sha256 = pointer.get("run_id"), pointer.get("model_sha256")
        try:
            check_run_id(run_id)
        except ConfigError:
            log.warning("%s names no valid run id: ignored", store.url(LATEST_POINTER_KEY))
            return None
        if isinstance(sha256, str):
            return run_id, sha256
    return _promoted_before_the_pointer(store)


def _promoted_before_the_pointer(store: Store) -> tuple[str, str] | None:
    try:
        live_sha = sha256_bytes(store.read_bytes(LATEST_MODEL_KEY))
    except ObjectNotFound:
        return None
    matches = [m for m in versions(store) if m.get("model_sha256") == live_sha]
    if not matches:
        log.warning("%s matches no archived version", store.url(LATEST_MODEL_KEY))
        return None
    return matches[-1]["run_id"], live_sha


def live_run_id(store: Store) -> str | None:
    """Return the promoted version's run id, or None if none is."""
    promoted = promoted_version(store)
    return promoted[0] if promoted else None


def live_pointer(store: Store) -> dict[str, Any] | None:
    """Return ``latest.json`` (which version is promoted, when and why), or None."""
    try:
        pointer = parse_stored(store.read_bytes(LATEST_POINTER_KEY))
    except (ObjectNotFound, ValueError):
        return None
    return pointer if isinstance(pointer, dict) else None


def live_training_dataset(store: Store) -> tuple[str, bytes] | None:
    """Return the live version's run id and the dataset it was trained on, if archived."""
    live = live_run_id(store)
    if live is None:
        return None
    try:
        dataset = read_metrics(store, live).get("dataset")
    except (ObjectNotFound, PipelineError):
        return None
    sha = dataset.get("sha256") if isinstance(dataset, dict) else None
    try:
        key = dataset_key(sha)
    except ConfigError as exc:
        log.warning("%s: %s; no drift reference", store.url(metrics_key(live)), exc)
        return None
    if not store.exists(key):
        return None
    data = store.read_bytes(key)
    if sha256_bytes(data) != sha:  # named by its content: anything else was replaced
        log.warning("%s does not match its sha256; no drift reference", store.url(key))
        return None
    return live, data


def previous_version(store: Store) -> str:
    """Return the newest promotable version trained before the promoted one."""
    live = live_run_id(store)
    if live is None:
        raise RollbackError("no promoted version in the store's record: name one with --to")
    archived = versions(store)
    live_metrics = next((m for m in archived if m.get("run_id") == live), None)
    if live_metrics is None:
        raise RollbackError(f"the promoted version {live} has no sound metrics: use --to")
    previous = promoted_before(archived, live_metrics)
    if previous is None:
        raise RollbackError(f"no version passed by the gate was trained before live {live}")
    return previous["run_id"]


def rollback(store: Store, run_id: str, *, force: bool = False) -> dict[str, Any]:
    """Make an archived version live again after checking it exists and is intact.

    It needs the archive alone: neither ``latest.joblib`` nor the pointer is read, so it
    works on the day they are damaged.
    """
    check_run_id(run_id)
    try:
        metrics = read_metrics(store, run_id)
    except ObjectNotFound:
        raise RollbackError(f"no archived version {run_id!r} in {store.uri}") from None
    if not gate_passed(metrics) and not force:
        raise RollbackError(f"version {run_id} was held back by the gate; use --force to serve it")
    return promote(store, run_id, reason="rollback")
