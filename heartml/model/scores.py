"""The scores of a model on labelled rows: one definition, read by training and the gate.

``acc``/``val_acc`` is the share of rows diagnosed right at P(heart disease) > 0.5, as
the API answers; ``roc_auc`` is the area under the ROC curve. Class 1 is heart disease.

numpy only, on purpose: the gate judges a fast-path model without importing
scikit-learn, whose import is most of a small runner's start-up (about 2 s of the
gate's 3). The tests hold both scores to scikit-learn's ``accuracy_score`` and
``roc_auc_score`` on data with many ties.
"""

from __future__ import annotations

from statistics import NormalDist
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


# Confidence intervals. Each is analytic, so one costs a sort at most, whatever the rows:
# ROC AUC by DeLong's method (paired across models through its covariance), accuracy by
# Wilson's score interval, the paired accuracy difference and the Brier score by the
# normal approximation to a mean of per-row terms.


def z_value(confidence: float) -> float:
    """The two-sided normal quantile for ``confidence`` (1.96 for 0.95)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def delong(y: Any, *p_disease: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Return the ROC AUC of each model and their covariance (None below two rows a class).

    DeLong, DeLong and Clarke-Pearson (1988), computed through midranks as in Sun and
    Xu (2014): each positive's placement is the share of negatives it outranks, each
    negative's the share of positives that outrank it; the AUC is the mean placement
    and its variance follows from the placements' covariance over the two classes.
    """
    positive = np.asarray(y) == 1
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC AUC needs rows of both classes")
    over_pos, over_neg = [], []
    for p in p_disease:
        p = np.asarray(p, dtype=float)
        combined = _average_ranks(p)
        over_pos.append((combined[positive] - _average_ranks(p[positive])) / n_neg)
        over_neg.append(1 - (combined[~positive] - _average_ranks(p[~positive])) / n_pos)
    aucs = np.array([v.mean() for v in over_pos])
    if n_pos < 2 or n_neg < 2:
        return aucs, None
    covariance = np.atleast_2d(np.cov(over_pos)) / n_pos + np.atleast_2d(np.cov(over_neg)) / n_neg
    return aucs, covariance


def _interval(centre: float, spread: float, z: float, low: float, high: float) -> list[float]:
    return [max(low, centre - z * spread), min(high, centre + z * spread)]


def wilson(successes: int, n: int, z: float) -> list[float]:
    """Wilson's score interval for a share: sound at 0 or n successes, unlike p ± z·se."""
    share = successes / n
    denominator = 1 + z * z / n
    centre = (share + z * z / (2 * n)) / denominator
    half = z * np.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / denominator
    return [float(max(0.0, centre - half)), float(min(1.0, centre + half))]


def brier(y: Any, p_disease: np.ndarray) -> float:
    """Mean squared distance of P(heart disease) from the outcome: 0 is perfect, 0.25 a coin."""
    return float(np.mean((np.asarray(p_disease, dtype=float) - (np.asarray(y) == 1)) ** 2))


RELIABILITY_BINS = 10


def reliability(y: Any, p_disease: np.ndarray) -> tuple[float, list[dict[str, Any]]]:
    """Return the expected calibration error and the reliability table over 10 equal bins.

    Each bin gives its rows, the mean predicted P(heart disease) and the share that had
    heart disease; the error is the row-weighted mean gap between the two.
    """
    p = np.asarray(p_disease, dtype=float)
    disease = np.asarray(y) == 1
    bins = np.minimum((p * RELIABILITY_BINS).astype(int), RELIABILITY_BINS - 1)
    table, error = [], 0.0
    for b in range(RELIABILITY_BINS):
        inside = bins == b
        rows = int(inside.sum())
        predicted = float(p[inside].mean()) if rows else None
        observed = float(disease[inside].mean()) if rows else None
        if rows:
            error += rows / len(p) * abs(predicted - observed)
        low = b / RELIABILITY_BINS
        table.append(
            {
                "bin": f"{low:.1f}-{low + 1 / RELIABILITY_BINS:.1f}",
                "rows": rows,
                "mean_predicted": predicted,
                "observed": observed,
            }
        )
    return float(error), table


def summary(y: Any, p_disease: np.ndarray, confidence: float) -> dict[str, Any]:
    """Every score of one model on labelled rows, each with its interval, and calibration."""
    y = np.asarray(y)
    p = np.asarray(p_disease, dtype=float)
    z = z_value(confidence)
    n = len(y)
    aucs, covariance = delong(y, p)
    correct = (p > 0.5) == (y == 1)
    squared = (p - (y == 1)) ** 2
    error, table = reliability(y, p)
    return {
        "rows": n,
        "positives": int((y == 1).sum()),
        "roc_auc": float(aucs[0]),
        "val_acc": float(correct.mean()),
        "brier": float(squared.mean()),
        "ece": error,
        "intervals": {
            "roc_auc": None
            if covariance is None
            else _interval(float(aucs[0]), float(np.sqrt(covariance[0, 0])), z, 0.0, 1.0),
            "val_acc": wilson(int(correct.sum()), n, z),
            "brier": _interval(float(squared.mean()), _standard_error(squared), z, 0.0, 1.0),
        },
        "reliability": table,
    }


def _standard_error(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0


def paired_difference(
    y: Any, candidate: np.ndarray, champion: np.ndarray, confidence: float
) -> dict[str, Any]:
    """Candidate minus champion on the same rows, with intervals that use the pairing.

    Pairing removes what the two share (the rows' difficulty), so the interval on the
    difference is much narrower than the two intervals side by side suggest.
    """
    y = np.asarray(y)
    z = z_value(confidence)
    aucs, covariance = delong(y, candidate, champion)
    auc_difference = float(aucs[0] - aucs[1])
    auc_interval = None
    if covariance is not None:
        variance = max(0.0, covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1])
        auc_interval = _interval(auc_difference, float(np.sqrt(variance)), z, -1.0, 1.0)
    disease = y == 1
    wins = ((np.asarray(candidate) > 0.5) == disease).astype(float) - (
        (np.asarray(champion) > 0.5) == disease
    )
    return {
        "rows": len(y),
        "confidence": confidence,
        "roc_auc": {"difference": auc_difference, "interval": auc_interval},
        "val_acc": {
            "difference": float(wins.mean()),
            "interval": _interval(float(wins.mean()), _standard_error(wins), z, -1.0, 1.0),
        },
    }


def slice_summaries(
    x: Any, y: Any, p_disease: np.ndarray, confidence: float, min_rows: int
) -> list[dict[str, Any]]:
    """Scores per slice (``features.slice_masks``), with counts and intervals.

    A slice with fewer than ``min_rows`` rows, or one class only, is listed with its
    counts and ``judged`` False: its scores would be noise, and no floor applies to it.
    """
    from heartml.features import slice_masks

    y = np.asarray(y)
    p = np.asarray(p_disease, dtype=float)
    z = z_value(confidence)
    result = []
    for name, mask in slice_masks(x).items():
        rows, positives = int(mask.sum()), int((y[mask] == 1).sum())
        entry: dict[str, Any] = {"slice": name, "rows": rows, "positives": positives}
        if rows < min_rows or positives in (0, rows):
            why = f"fewer than {min_rows} rows" if rows < min_rows else "one class only"
            result.append({**entry, "judged": False, "note": why})
            continue
        aucs, covariance = delong(y[mask], p[mask])
        correct = (p[mask] > 0.5) == (y[mask] == 1)
        result.append(
            {
                **entry,
                "judged": True,
                "roc_auc": float(aucs[0]),
                "val_acc": float(correct.mean()),
                "intervals": {
                    "roc_auc": None
                    if covariance is None
                    else _interval(float(aucs[0]), float(np.sqrt(covariance[0, 0])), z, 0.0, 1.0),
                    "val_acc": wilson(int(correct.sum()), rows, z),
                },
            }
        )
    return result
