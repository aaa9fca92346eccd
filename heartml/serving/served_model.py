"""Load a published model and answer predictions with it.

Nothing read from a store runs before it is checked. A model file is parsed by a
reader that can import nothing (``artifacts.ModelFile.read``), and the pickled
scikit-learn pipeline inside it is unpickled only when the file's sha256 matched a
reference held outside the store: the deployed revision's pin, or the training run's
own output. A store's own pointer is never that reference, a folder on the user's
disk included (it may be shared, mounted or synced). The fast path (``heartml.serving.fast_path``)
needs no unpickling at all, so it is what serves and what the gate scores; without a
pin, a version without one is refused.

Which file serves: with a pin (``SERVED_RUN_ID`` and ``SERVED_MODEL_SHA256``, set by
the deploy), ``models/latest.joblib`` if its sha256 is the pinned one, else the pinned
archived version; without one, the version the store's pointer (``latest.json``)
names, checked the same way. Either way a changed file is refused, not loaded.

Every probability leaving this module is P(heart disease): a version whose
classifier's class 1 means "clear" (trained before the label coding was recorded)
has its answers turned around here, in one place.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

import numpy as np

from heartml.contract import Contract
from heartml.errors import ModelLoadError, ObjectNotFound, RequestError
from heartml.serving import traffic_bins
from heartml.serving.fast_path import LinearScorer
from heartml.store import registry
from heartml.store.backends import Store
from heartml.store.model_file import ModelFile, check_integrity, sha256_bytes
from heartml.store.run_folder import MODEL_FILE, read_artifacts

# The name its log lines carried before the package had wings: log queries keep working.
log = logging.getLogger("heartml.serving")
SERVED_RUN_ID_ENV = "SERVED_RUN_ID"
SERVED_SHA256_ENV = "SERVED_MODEL_SHA256"


@dataclass(frozen=True)
class Pin:
    """A version named by run id and model sha256, from a source the store cannot change."""

    run_id: str
    sha256: str

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Pin | None:
        """Return the deployed revision's pin, None when it has none, or refuse half of one."""
        run_id = environ.get(SERVED_RUN_ID_ENV, "").strip()
        sha256 = environ.get(SERVED_SHA256_ENV, "").strip().lower()
        if not run_id and not sha256:
            return None
        if not run_id or len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ModelLoadError(
                f"{SERVED_RUN_ID_ENV} and {SERVED_SHA256_ENV} must both be set, the second to a "
                "64-digit hex sha256; redeploy with scripts/deploy_function.sh"
            )
        return cls(run_id, sha256)


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
    # What the model was built for, from its own file: the columns it reads, its words.
    contract: Contract
    scorer: LinearScorer | None = None
    source: str = ""
    metrics: dict[str, Any] | None = field(default=None)
    label_coding: dict[str, Any] = field(default_factory=dict)
    # True only when the file's sha256 matched a reference held outside the store.
    verified: bool = False
    sha256: str = ""
    # Why the file served is not the one first asked for (latest.joblib), if it is not.
    notes: list[str] = field(default_factory=list)

    @cached_property
    def _inverted(self) -> bool:
        return not self.contract.class_1_is_positive(self.label_coding)

    @property
    def run_id(self) -> str | None:
        return self.metadata.get("run_id")

    @cached_property
    def pipeline(self) -> Any:
        """The fitted scikit-learn pipeline, unpickled on first use, and only if verified."""
        if not self.verified:
            raise ModelLoadError(
                f"refusing to unpickle the pipeline in {self.source}: its sha256 was not "
                f"checked against a reference held outside the store (set {SERVED_SHA256_ENV})"
            )
        # Imported here: the fast path never unpickles, so a cold start need not import them.
        import joblib
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
            p = self.scorer.many(frame[list(self.contract.names)].to_numpy(dtype=float))
            columns = np.column_stack([1.0 - p, p])
        return columns[:, ::-1] if self._inverted else columns

    def probabilities(self, rows: list[list[float | None]]) -> list[float]:
        """Return P(heart disease) for each record (values in FEATURES order, None = missing)."""
        if self.scorer is None:
            import pandas as pd

            frame = pd.DataFrame(rows, columns=list(self.contract.names), dtype=float)
            return self.predict_proba(frame)[:, 1].tolist()
        if len(rows) == 1:
            p = self.scorer.one(rows[0])
            return [1.0 - p if self._inverted else p]
        p = self.scorer.many(np.array(rows, dtype=float))
        return (1.0 - p if self._inverted else p).tolist()

    def explain(self, row: list[float | None]) -> dict[str, Any]:
        """Each original feature's contribution to the log-odds of heart disease.

        ``baseline`` is the log-odds for a record with every feature imputed (the training
        data's medians and fills); ``baseline + sum(contributions)`` is the logit of the
        answer's probability. Only the linear fast path can say this exactly.
        """
        if self.scorer is None:
            raise RequestError(
                "explain",
                "explanations are not available for this model: it has no linear fast path",
            )
        sign = -1.0 if self._inverted else 1.0  # log-odds of heart disease, not of class 1
        shares = self.scorer.contributions(row)
        contributions = [
            {
                "feature": name,
                "value": value,
                "contribution": sign * share,
                "imputed": self.contract.specs[name].is_unknown(value),
            }
            for name, value, share in zip(self.contract.names, row, shares, strict=True)
        ]
        contributions.sort(key=lambda c: -abs(c["contribution"]))
        return {"baseline": sign * self.scorer.baseline, "contributions": contributions}

    def out_of_range(self, row: list[float | None]) -> list[str]:
        """Name the features whose value lies outside what the model saw in training."""
        ranges = self.metadata.get("feature_ranges") or {}
        flagged = []
        for name, value in zip(self.contract.names, row, strict=True):
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


def model_from_bytes(data: bytes, source: str, *, verified: bool) -> LoadedModel:
    """Read a model file and refuse it unless it is ours and matches this scikit-learn.

    ``verified`` says the caller checked the sha256 of ``data`` against a reference
    held outside the store; only then may a file without a fast path be unpickled.
    """
    file = ModelFile.read(data, source)
    metadata, coding = file.metadata, file.label_coding
    try:
        if "contract" in metadata:
            contract = Contract.from_record(metadata["contract"])
        else:  # written before files recorded their contract
            contract = Contract.legacy(metadata, file.linear)
        contract.class_1_is_positive(coding if isinstance(coding, dict) else {})
    except ValueError as exc:
        raise ModelLoadError(f"refusing {source}: {exc}") from None
    if "monitoring_bins" in metadata:
        problem = traffic_bins.bins_problem(metadata["monitoring_bins"], contract.names)
    else:  # an older version's bins are built from its ranges
        try:
            traffic_bins.bins_from_ranges(metadata.get("feature_ranges") or {}, contract.names)
            problem = None
        except (TypeError, ValueError, AttributeError, OverflowError):
            problem = "feature_ranges are malformed"
    if problem:
        raise ModelLoadError(f"refusing {source}: {problem}")
    trained_with = (metadata.get("versions") or {}).get("scikit-learn")
    running = installed_sklearn()
    if trained_with != running:
        raise ModelLoadError(
            f"refusing {source}: trained with scikit-learn {trained_with}, "
            f"running {running}; retrain or pin the same version"
        )
    model = LoadedModel(
        metadata=metadata,
        pipeline_bytes=file.pipeline,
        contract=contract,
        source=source,
        label_coding=coding,
        verified=verified,
        sha256=sha256_bytes(data),
    )
    if file.linear:
        parts = [file.linear.get(part) for part in ("numeric", "coded")]
        if not all(isinstance(p, dict) for p in parts) or {*parts[0], *parts[1]} != {
            *contract.names
        }:
            raise ModelLoadError(
                f"refusing {source}: its fast path's features are not its contract's"
            )
        try:
            model.scorer = LinearScorer(file.linear, list(contract.names))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"refusing {source}: malformed linear parameters: {exc}") from None
    else:
        model.pipeline  # noqa: B018 - no fast path: unpickle (and check) the pipeline now
    return model


def load_trained(artifacts_dir: str | Path) -> LoadedModel:
    """Load the model ``steps.train`` left in a folder: the run's own output, on local disk.

    Its bytes must hash to the sha256 its metrics record beside it.
    """
    model_bytes, metrics = read_artifacts(artifacts_dir)
    return trained_model(model_bytes, metrics, str(Path(artifacts_dir) / MODEL_FILE))


def trained_model(model_bytes: bytes, metrics: dict[str, Any], source: str) -> LoadedModel:
    """Load model bytes already read with their metrics, so a caller reads the files once.

    The bytes must hash to the sha256 their metrics record.
    """
    check_integrity(model_bytes, metrics, source)
    return model_from_bytes(model_bytes, source, verified=True)


def load_from_store(store: Store, pin: Pin | None = None) -> LoadedModel:
    """Load the version to serve from a store, checking its sha256 before reading it.

    The reference is ``pin`` (the deployed revision's) or, without one, the store's
    pointer to the promoted version. ``models/latest.joblib`` is read first, as the
    tutorial's function did, and served if it hashes to the reference; otherwise the
    referenced archived version is. The pipeline may be unpickled only under a pin:
    a store's own pointer, a bucket's or a folder's, is no outside reference.
    Raises ObjectNotFound when the store has no model yet, ModelLoadError otherwise.
    """
    latest = store.read_bytes(registry.LATEST_MODEL_KEY)
    if pin is None:
        promoted = registry.promoted_version(store)
        if promoted is None:
            raise ModelLoadError(
                f"{store.url(registry.LATEST_MODEL_KEY)} has no record of which version it is "
                f"({registry.LATEST_POINTER_KEY} and the archive name none); not loaded"
            )
        reference, what = Pin(*promoted), "the store's promoted version"
    else:
        reference, what = pin, "the pinned version"
    key, data, notes = registry.LATEST_MODEL_KEY, latest, []
    if sha256_bytes(latest) != reference.sha256:
        key = registry.model_key(reference.run_id)
        try:
            data = store.read_bytes(key)
        except ObjectNotFound:
            raise ModelLoadError(
                f"{registry.LATEST_MODEL_KEY} is not {what} {reference.run_id} and "
                f"{store.url(key)} does not exist; not loaded"
            ) from None
        if sha256_bytes(data) != reference.sha256:
            raise ModelLoadError(
                f"refusing {store.url(key)}: its sha256 is not that of {what} "
                f"{reference.run_id}; neither it nor {registry.LATEST_MODEL_KEY} was loaded"
            )
        notes.append(f"{registry.LATEST_MODEL_KEY} is not {what} {reference.run_id}: serving {key}")
        log.warning(notes[-1])
    verified = pin is not None
    model = model_from_bytes(data, store.url(key), verified=verified)
    if model.run_id != reference.run_id:
        raise ModelLoadError(
            f"refusing {store.url(key)}: it names run {model.run_id!r}, not {reference.run_id}"
        )
    model.notes = notes
    log.info(
        "loaded model run_id=%s from %s (%s; class 1 is %s)",
        model.run_id,
        store.url(key),
        "fast linear path" if model.scorer else "scikit-learn pipeline",
        model.label_coding["class_1"],
    )
    return model
