"""What the gate's intervals cost at a million rows' evaluation set, against a bootstrap.

The gate scores about 200,000 evaluation rows at a million rows of data (20 % held out).
Timed side by side in one process on the same rows: everything the gate computes for two
models (each one's scores with intervals and calibration, their slices, the paired
difference), and the bootstrap it replaces (both models' ROC AUC on each resample; a
percentile interval needs about 1,000 resamples, timed on 20 and scaled).

Reproduce::

    .venv/bin/python benchmarks/bench_intervals.py --rows 200000 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from heartml.features import FEATURES
from heartml.model import scores

BOOTSTRAP_RESAMPLES = 1_000
TIMED_RESAMPLES = 20


def rows(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Labels, two correlated models' probabilities and plausible sex and age columns."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    shared = rng.normal(size=n)
    p = 1 / (1 + np.exp(-(1.4 * (2 * y - 1) + shared + rng.normal(size=n) * 0.6)))
    q = 1 / (1 + np.exp(-(1.2 * (2 * y - 1) + shared + rng.normal(size=n) * 0.6)))
    x = pd.DataFrame(np.zeros((n, len(FEATURES))), columns=list(FEATURES))
    x["sex"] = rng.integers(0, 2, n).astype(float)
    x["age"] = rng.integers(29, 78, n).astype(float)
    return x, y, p, q


def analytic(x: pd.DataFrame, y: np.ndarray, p: np.ndarray, q: np.ndarray) -> None:
    for model in (p, q):
        scores.summary(y, model, 0.95)
        scores.slice_summaries(x, y, model, 0.95, 30)
    scores.paired_difference(y, p, q, 0.95)


def bootstrap_seconds(y: np.ndarray, p: np.ndarray, q: np.ndarray) -> float:
    rng = np.random.default_rng(1)
    started = time.perf_counter()
    for _ in range(TIMED_RESAMPLES):
        picked = rng.integers(0, len(y), len(y))
        scores.roc_auc(y[picked], p[picked])
        scores.roc_auc(y[picked], q[picked])
    return (time.perf_counter() - started) / TIMED_RESAMPLES * BOOTSTRAP_RESAMPLES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    x, y, p, q = rows(args.rows)
    timed: dict[str, list[float]] = {"analytic": [], "bootstrap": []}
    for _ in range(args.repeats):
        started = time.perf_counter()
        analytic(x, y, p, q)
        timed["analytic"].append(time.perf_counter() - started)
        timed["bootstrap"].append(bootstrap_seconds(y, p, q))
    a, b = (statistics.median(timed[k]) for k in ("analytic", "bootstrap"))
    print(f"gate intervals on {args.rows:,} evaluation rows, two models, medians of {args.repeats}")
    print(f"  analytic (DeLong, Wilson, paired, 6 slices, calibration): {a:8.3f} s")
    print(f"  bootstrap, {BOOTSTRAP_RESAMPLES} resamples of both ROC AUCs:       {b:8.1f} s")
    print(f"  ratio bootstrap / analytic: {b / a:.0f}x")
    print(
        f"\nreproduce: .venv/bin/python benchmarks/bench_intervals.py --rows {args.rows} "
        f"--repeats {args.repeats}"
    )


if __name__ == "__main__":
    main()
