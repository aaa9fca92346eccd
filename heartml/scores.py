"""The scores of a model on labelled rows: one definition, read by training and the gate.

``acc``/``val_acc`` is the share of rows diagnosed right at P(heart disease) > 0.5, as
the API answers; ``roc_auc`` is the area under the ROC curve. Class 1 is heart disease.

numpy only, on purpose: the gate judges a fast-path model without importing
scikit-learn, whose import is most of a small runner's start-up (about 2 s of the
gate's 3). The tests hold both scores to scikit-learn's ``accuracy_score`` and
``roc_auc_score`` on data with many ties.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def accuracy(y: Any, p_disease: np.ndarray) -> float:
    """Share of rows whose diagnosis (P(heart disease) > 0.5) matches ``y``."""
    return float(np.mean((np.asarray(p_disease) > 0.5) == (np.asarray(y) == 1)))


def roc_auc(y: Any, p_disease: np.ndarray) -> float:
    """Area under the ROC curve: the chance a diseased row outranks a clear one (ties half).

    That is the Mann-Whitney U statistic over the product of the class sizes, computed
    from average ranks, which is exactly the trapezoid area scikit-learn integrates.
    """
    positive = np.asarray(y) == 1
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC AUC needs rows of both classes")
    ranks = _average_ranks(np.asarray(p_disease, dtype=float))
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values))
    ranks[order] = np.repeat((starts + ends + 1) / 2, ends - starts)
    return ranks


def held_out_scores(model: Any, x: Any, y: Any) -> dict[str, float]:
    """Return ``val_acc`` and ``roc_auc`` of ``model`` (anything with ``predict_proba``).

    Training records them, the gate compares them, and history, alerts, the report and
    the API's GET show them under these names.
    """
    p_disease = model.predict_proba(x)[:, 1]
    return {"val_acc": accuracy(y, p_disease), "roc_auc": roc_auc(y, p_disease)}
