"""Train the heart-disease classifier and measure it.

``train`` is pure (a frame in, a fitted pipeline and its scores out); reading the
CSV and writing artifacts happen in ``dataset.read_dataset`` and ``artifacts``.
"""

from __future__ import annotations

import importlib
import io
import logging
import platform
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from heartml import config
from heartml.data.dataset import check_trainable, evaluation_bytes, read_bytes, read_dataset
from heartml.errors import ConfigError, DatasetError
from heartml.features import (
    CATEGORICAL_FEATURES,
    CONTRACT,
    COUNT_FEATURES,
    DIAGNOSES,
    FEATURES,
    LABEL,
    LABEL_CODING,
    NUMERIC_FEATURES,
    PROJECT,
    SPECS,
    has_disease,
)
from heartml.model import holdout, scores
from heartml.serving import fast_path, traffic_bins
from heartml.store.model_file import MODEL_FORMAT, ModelFile, sha256_bytes

# The name its log lines carried before the package had wings: log queries keep working.
log = logging.getLogger("heartml.training")

# How closely the fast path must reproduce predict_proba to be exported.
LINEAR_TOLERANCE = 1e-12
PROBE_ROWS = 10_000

# A category code that never occurs in the data: a missing category becomes "unknown"
# (all one-hot columns zero) instead of posing as a real code such as 0.
MISSING_CATEGORY = -1


@dataclass(frozen=True)
class TrainParams(config.SettingsGroup):
    """Model parameters; the defaults are the project file's ([model], [training]).

    Parameters
    ----------
    test_size : float, default=0.2
        Share of rows held out for evaluation, chosen by a hash of each row's content
        (``evaluation_rows``), so the share is met on average, not exactly.
    seed : int, default=42
        Seeds the classifier. The split takes no seed: it is fixed by the rows' content.
    estimator : str
        The classifier's import path (the file's ``model.estimator``; the shipped one is
        the tutorial's logistic regression).
    model_params : dict
        Its parameters (``model.params``: ``C=1.0``, and ``max_iter=1000``, higher than
        scikit-learn's 100 so convergence never warns).
    """

    test_size: float = config.setting("TRAIN_TEST_SIZE")
    seed: int = config.setting("TRAIN_SEED")
    estimator: str = field(default_factory=lambda: PROJECT.estimator)
    model_params: dict[str, Any] = field(default_factory=lambda: dict(PROJECT.params))

    def record(self) -> dict[str, Any]:
        """What a metrics record keeps as ``params``: the model's, then the seed and split."""
        return {**self.model_params, "seed": self.seed, "test_size": self.test_size}


@dataclass
class TrainResult:
    """A fitted pipeline, its scores, which rows it was validated on, what it was trained on."""

    pipeline: Pipeline
    scores: dict[str, float]
    validation_index: list[int]
    train_x: pd.DataFrame
    val_x: pd.DataFrame
    val_y: pd.Series
    # The training rows' answers, binned as the served function bins its own (monitoring).
    answers: dict[str, Any] | None = None


def build_pipeline(params: TrainParams) -> Pipeline:
    """Return the unfitted tutorial pipeline: impute, scale or one-hot, then logistic regression."""
    numeric = Pipeline(
        steps=[("imputer", SimpleImputer(strategy="median")), ("scaler", StandardScaler())]
    )
    counts = [
        (f"count_{name}", _count_pipeline(float(SPECS[name].unknown_code)), [name])
        for name in COUNT_FEATURES
    ]
    categorical = Pipeline(
        steps=[
            ("imputer", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY)),
            # Dense: the one-hot block is joined to dense numeric columns anyway, and a
            # sparse block would be built and then densified (slower, same numbers).
            # float32 holds 0 and 1 exactly and halves the block; the join makes it float64.
            (
                "onehot",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float32),
            ),
        ]
    )
    preprocessor = ColumnTransformer(
        transformers=[
            ("num", numeric, list(NUMERIC_FEATURES)),
            *counts,
            ("cat", categorical, list(CATEGORICAL_FEATURES)),
        ]
    )
    return Pipeline(steps=[("preprocessor", preprocessor), ("classifier", classifier(params))])


def classifier(params: TrainParams) -> Any:
    """The project file's estimator with its parameters, seeded; ConfigError names a bad one."""
    module_name, _, class_name = params.estimator.rpartition(".")
    try:
        estimator = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError):
        raise ConfigError(
            f"model.estimator = {params.estimator!r} names no importable class"
        ) from None
    if not (isinstance(estimator, type) and hasattr(estimator, "predict_proba")):
        raise ConfigError(
            f"model.estimator = {params.estimator!r} is not a classifier with predict_proba"
        )
    accepted = estimator().get_params()
    for name in params.model_params:
        if name not in accepted:
            raise ConfigError(f"model.params.{name} is not a parameter of {params.estimator}")
    seeded = {"random_state": params.seed} if "random_state" in accepted else {}
    return estimator(**{**seeded, **params.model_params})


def _count_pipeline(unknown: float) -> Pipeline:
    """Impute a count whose ``unknown`` code means missing: both become the median."""
    return Pipeline(
        steps=[
            ("missing", SimpleImputer(strategy="constant", fill_value=unknown)),
            ("imputer", SimpleImputer(missing_values=unknown, strategy="median")),
            ("scaler", StandardScaler()),
        ]
    )


def split(
    frame: pd.DataFrame, params: TrainParams
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """Return ``train_x, val_x, train_y, val_y``, each part in the order of its rows' hashes.

    ``y`` is the model's class, 1 = heart disease (see ``features.LABEL_CODING``).
    Ordering by hash makes the fit independent of the file's row order, and the first
    rows of either part a sample of it (the behaviour checks and probes use them).
    """
    check_trainable(frame)
    disease = has_disease(frame[LABEL])
    if disease.nunique() < 2:
        raise DatasetError(f"label {LABEL!r} has a single class; a classifier needs both")
    if not 0 < params.test_size < 1:
        raise DatasetError(f"the held-out share must be between 0 and 1, not {params.test_size}")
    x = frame[list(FEATURES)].astype(float)
    train_order, val_order = holdout.ordered_parts(x, params.test_size)
    y = disease.astype(int)
    for part, rows in (("training", train_order), ("evaluation", val_order)):
        if y.iloc[rows].nunique() < 2:
            raise DatasetError(
                f"the {part} rows ({len(rows)} of {len(frame)}, chosen by content hash) "
                "do not hold both classes: the dataset is too small to split"
            )
    return x.iloc[train_order], x.iloc[val_order], y.iloc[train_order], y.iloc[val_order]


def train(frame: pd.DataFrame, params: TrainParams | None = None) -> TrainResult:
    """Fit the pipeline on the content-hash split of ``frame`` and score it on both parts."""
    params = params or TrainParams()
    return fit(*split(frame, params), params)


def fit(
    train_x: pd.DataFrame,
    val_x: pd.DataFrame,
    train_y: pd.Series,
    val_y: pd.Series,
    params: TrainParams,
) -> TrainResult:
    """Fit the pipeline on the training rows and score it on both parts of the split."""
    started = time.perf_counter()
    pipeline = build_pipeline(params)
    # Pipeline.fit's two stages, spelt out to keep the transformed training rows: training
    # accuracy is scored from them instead of transforming 80 % of the data a second time.
    transformed = pipeline[0].fit_transform(train_x, train_y)
    pipeline[-1].fit(transformed, train_y)
    elapsed = time.perf_counter() - started
    train_p = pipeline[-1].predict_proba(transformed)[:, 1]
    del transformed

    recorded = {
        "elapsed": elapsed,
        "acc": scores.accuracy(train_y, train_p),
        **scores.held_out_scores(pipeline, val_x, val_y),
        "n_train": len(train_x),
        "n_val": len(val_x),
    }
    return TrainResult(
        answers=traffic_bins.answer_reference(train_p),
        pipeline=pipeline,
        scores=recorded,
        validation_index=[int(i) for i in val_x.index],
        train_x=train_x,
        val_x=val_x,
        val_y=val_y,
    )


def runtime_versions() -> dict[str, str]:
    """Return the versions a model file depends on at load time."""
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "joblib": joblib.__version__,
    }


def feature_ranges(train_x: pd.DataFrame) -> dict[str, Any]:
    """Return what the model saw in training: min and max, or the codes, of each feature."""
    ranges: dict[str, Any] = {}
    for name in FEATURES:
        values = train_x[name].dropna()
        if SPECS[name].codes is None:
            ranges[name] = {"min": float(values.min()), "max": float(values.max())}
        else:
            ranges[name] = {"codes": sorted(float(v) for v in values.unique())}
    return ranges


def _probe_rows(train_x: pd.DataFrame) -> np.ndarray:
    """Rows that exercise every branch of a scorer: real rows, each feature missing, odd codes.

    Up to PROBE_ROWS real rows (the split orders them by hash): every value the scorer
    handles differently is among the odd probes, so more rows add time, not evidence.
    """
    rows = [train_x.iloc[:PROBE_ROWS].to_numpy(dtype=float)]
    base = train_x.iloc[:1].to_numpy(dtype=float)
    for i in range(len(FEATURES)):
        for odd in (np.nan, 99.0, -1e6, 1e6):
            probe = base.copy()
            probe[0, i] = odd
            rows.append(probe)
    rows.append(np.full((1, len(FEATURES)), np.nan))
    return np.vstack(rows)


def linear_parameters(pipeline: Pipeline, train_x: pd.DataFrame) -> dict[str, Any] | None:
    """Export the fast-path parameters, trusted only if they reproduce ``predict_proba``."""
    params = fast_path.export(pipeline, list(FEATURES))
    if params is None:
        log.info("pipeline structure not understood by the fast path; serving will use it as is")
        return None
    gap = fast_path.max_difference(
        pipeline, fast_path.LinearScorer(params, list(FEATURES)), _probe_rows(train_x)
    )
    if gap > LINEAR_TOLERANCE:
        log.warning("fast path differs from predict_proba by %.3g; not exported", gap)
        return None
    return params


def serialise_model(
    pipeline: Pipeline, metadata: dict[str, Any], linear_params: dict[str, Any] | None
) -> bytes:
    """Return the model file's bytes.

    The pipeline is pickled on its own and kept as bytes inside the file, so that a
    reader can take the metadata and the linear parameters without importing
    scikit-learn, and unpickle the pipeline only if it needs it.
    """
    inner = io.BytesIO()
    joblib.dump(pipeline, inner)
    buffer = io.BytesIO()
    joblib.dump(
        ModelFile(MODEL_FORMAT, metadata, linear_params, inner.getvalue()).to_payload(), buffer
    )
    return buffer.getvalue()


def build_artifacts(
    result: TrainResult,
    *,
    run_id: str,
    dataset_sha256: str,
    dataset_rows: int,
    git_commit: str | None,
    params: TrainParams,
) -> tuple[bytes, dict[str, Any]]:
    """Return the model file's bytes and the metrics record that describes it."""
    trained_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    versions = runtime_versions()
    dataset = {"sha256": dataset_sha256, "rows": dataset_rows}
    bins = traffic_bins.training_bins(result.train_x, CONTRACT)
    model_bytes = serialise_model(
        result.pipeline,
        {
            "run_id": run_id,
            "trained_at": trained_at,
            "versions": versions,
            "dataset_sha256": dataset["sha256"],
            "features": list(FEATURES),
            "contract": CONTRACT.to_record(),
            "label_coding": LABEL_CODING,
            "split": holdout.record(params.test_size),
            "feature_ranges": feature_ranges(result.train_x),
            "monitoring_bins": bins,
            "monitoring_answers": result.answers,
        },
        linear_parameters(result.pipeline, result.train_x),
    )
    metrics = {
        **result.scores,
        "timestamp": trained_at,
        "run_id": run_id,
        "dataset": dataset,
        "git_commit": git_commit,
        "versions": versions,
        "params": params.record(),
        "estimator": params.estimator,
        "split": holdout.record(params.test_size),
        "label_coding": LABEL_CODING,
        "monitoring_reference": traffic_bins.reference(bins, result.answers),
        "model_sha256": sha256_bytes(model_bytes),
    }
    return model_bytes, metrics


def train_version(
    path: str | Path,
    *,
    run_id: str,
    git_commit: str | None,
    params: TrainParams,
    overrides: dict[str, Any] | None = None,
) -> tuple[bytes, dict[str, Any], bytes]:
    """Train a version on a dataset file: model file, metrics, evaluation rows.

    The file is read once, hashed (the version's lineage) and parsed from that one
    copy, so the hash names exactly the rows trained on. The held-out rows go to the
    gate as they are, so it never parses or splits the dataset again.
    """
    raw = read_bytes(path)
    digest = sha256_bytes(raw)
    frame = read_dataset(raw, str(path))
    del raw
    rows = len(frame)
    parts = split(frame, params)
    with_disease = int(parts[2].sum() + parts[3].sum())
    del frame  # each copy is dropped once used: the fit is the step's memory peak
    result = fit(*parts, params)
    del parts
    model_bytes, metrics = build_artifacts(
        result,
        run_id=run_id,
        dataset_sha256=digest,
        dataset_rows=rows,
        git_commit=git_commit,
        params=params,
    )
    evaluation = evaluation_bytes(result.val_x, result.val_y)
    metrics["evaluation"] = {"sha256": sha256_bytes(evaluation), "rows": len(result.val_x)}
    metrics["label_balance"] = {DIAGNOSES[1]: with_disease, DIAGNOSES[0]: rows - with_disease}
    if overrides:  # settings this run took from a flag or the environment, not the file
        metrics["overrides"] = overrides
    return model_bytes, metrics, evaluation
