"""The scores' one definition agrees with scikit-learn's, ties and all."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

from heartml.model import scores


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("levels", [3, 20, None])  # heavy ties, some ties, none
def test_roc_auc_and_accuracy_match_scikit_learn(seed, levels) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 2_000)
    p = rng.random(2_000) * 0.6 + 0.4 * y
    if levels:
        p = np.round(p * levels) / levels
    assert scores.roc_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert scores.accuracy(y, p) == accuracy_score(y, (p > 0.5).astype(int))


def test_the_extremes_of_the_roc_auc() -> None:
    y = np.array([0, 0, 1, 1])
    assert scores.roc_auc(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert scores.roc_auc(y, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
    assert scores.roc_auc(y, np.full(4, 0.5)) == 0.5


def test_one_class_has_no_roc_auc() -> None:
    with pytest.raises(ValueError, match="both classes"):
        scores.roc_auc(np.ones(5), np.linspace(0, 1, 5))


def _two_models(seed: int, n: int = 400):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    shared = rng.normal(size=n)  # what both models see: their errors are correlated
    p = 1 / (1 + np.exp(-(1.4 * (2 * y - 1) + shared + rng.normal(size=n) * 0.6)))
    q = 1 / (1 + np.exp(-(1.0 * (2 * y - 1) + shared + rng.normal(size=n) * 0.6)))
    return y, np.round(p, 2), np.round(q, 2)


def _bootstrap(y, p, q, repeats: int = 2000):
    """Resampled rows, scored by scores.roc_auc (held to scikit-learn's above): fast."""
    rng = np.random.default_rng(0)
    own, difference = [], []
    for _ in range(repeats):
        rows = rng.integers(0, len(y), len(y))
        a, b = scores.roc_auc(y[rows], p[rows]), scores.roc_auc(y[rows], q[rows])
        own.append(a)
        difference.append(a - b)
    return np.std(own), np.std(difference)


def test_delong_agrees_with_scikit_learn_and_with_a_bootstrap() -> None:
    y, p, q = _two_models(1)
    aucs, covariance = scores.delong(y, p, q)
    assert aucs == pytest.approx([roc_auc_score(y, p), roc_auc_score(y, q)], abs=1e-12)
    own, difference = _bootstrap(y, p, q)
    assert np.sqrt(covariance[0, 0]) == pytest.approx(own, rel=0.1)
    paired = np.sqrt(covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1])
    assert paired == pytest.approx(difference, rel=0.1)
    # The pairing is what narrows it: treating the two as independent would overstate it.
    assert paired < np.sqrt(covariance[0, 0] + covariance[1, 1]) * 0.9


def test_the_paired_difference_names_both_scores_with_their_intervals() -> None:
    y, p, q = _two_models(2)
    result = scores.paired_difference(y, p, q, 0.95)
    assert result["rows"] == len(y)
    auc = result["roc_auc"]
    assert auc["difference"] == pytest.approx(roc_auc_score(y, p) - roc_auc_score(y, q))
    assert auc["interval"][0] < auc["difference"] < auc["interval"][1]
    acc = result["val_acc"]
    assert acc["difference"] == pytest.approx(
        accuracy_score(y, p > 0.5) - accuracy_score(y, q > 0.5)
    )
    same = scores.paired_difference(y, p, p, 0.95)
    assert same["roc_auc"]["interval"] == [0.0, 0.0] and same["val_acc"]["interval"] == [0.0, 0.0]


def test_wilson_interval_known_values() -> None:
    z = scores.z_value(0.95)
    assert z == pytest.approx(1.959964, abs=1e-6)
    low, high = scores.wilson(0, 10, z)
    assert low == pytest.approx(0.0, abs=1e-12) and high == pytest.approx(0.2775, abs=1e-4)
    low, high = scores.wilson(8, 10, z)
    assert (low, high) == pytest.approx((0.4902, 0.9433), abs=1e-4)


def test_calibration_figures() -> None:
    rng = np.random.default_rng(3)
    p = rng.random(50_000)
    calibrated = (rng.random(50_000) < p).astype(int)
    error, table = scores.reliability(calibrated, p)
    assert error < 0.01
    assert [b["bin"] for b in table][:2] == ["0.0-0.1", "0.1-0.2"]
    assert sum(b["rows"] for b in table) == len(p)
    for b in table:
        assert b["observed"] == pytest.approx(b["mean_predicted"], abs=0.03)
    overconfident = np.where(p > 0.5, 0.99, 0.01)
    assert scores.reliability(calibrated, overconfident)[0] > 0.2
    assert scores.brier(calibrated, np.full(len(p), 0.5)) == 0.25
    summary = scores.summary(calibrated, p, 0.95)
    assert summary["brier"] == pytest.approx(np.mean((p - calibrated) ** 2))
    low, high = summary["intervals"]["brier"]
    assert low < summary["brier"] < high
