"""The scores' one definition agrees with scikit-learn's, ties and all."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

from heartml import scores


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
