"""Behavioural checks every deployable model must pass, whatever its scores."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from heartml.features import DIAGNOSES, DIRECTIONS, FEATURES, PROJECT
from heartml.project import Case

# The behavioural checks probe properties of the model, not of the data: a sample of
# held-out rows shows them as well as all of them, at a cost that does not grow.
BEHAVIOUR_ROWS = 10_000


def behaviour_cases() -> tuple[Case, ...]:
    """Return the clear-cut records every model must get right (the project file's cases)."""
    return PROJECT.cases


def behavioural_checks(model: Any, val_x: pd.DataFrame) -> list[dict[str, Any]]:
    """Run the checks a deployable model must pass whatever its scores.

    Each check is one a bad model can fail; tests/model/test_gate.py shows each failing.
    """
    case_x = _case_frame()
    val_x = val_x.iloc[:BEHAVIOUR_ROWS]  # in hash order: a sample, the same each run
    checks = {
        "clear-cut cases": lambda: _clear_cut_cases(model, case_x),
        "answers depend on the record alone": lambda: _record_alone(model, val_x),
        "directions from the data": lambda: _directions(model, val_x),
        "missing values imputed": lambda: _imputes_missing(model, case_x.iloc[[0]]),
    }
    results = []
    for name, check in checks.items():
        problems, fine = check()
        results.append(
            {"check": name, "passed": not problems, "detail": "; ".join(problems) or fine}
        )
    return results


def _case_frame() -> pd.DataFrame:
    cases = behaviour_cases()
    return pd.DataFrame([c.record for c in cases], columns=list(FEATURES)).astype(float)


def _clear_cut_cases(model: Any, case_x: pd.DataFrame) -> tuple[list[str], str]:
    cases = behaviour_cases()
    case_p = model.predict_proba(case_x)[:, 1]
    wrong = [
        f"{c.name}: {c.answer}, P(heart disease)={p:.3f}"
        for c, p in zip(cases, case_p, strict=True)
        if DIAGNOSES[int(p > 0.5)] != c.answer
    ]
    return wrong, f"{len(cases)} of {len(cases)} right"


def _record_alone(model: Any, val_x: pd.DataFrame) -> tuple[list[str], str]:
    """Check that an answer depends on its record alone.

    Not on the batch's order, a duplicate beside it, being sent alone, or the order of
    the columns: a model that reads batch statistics or positions fails here.
    """
    p = model.predict_proba(val_x)[:, 1]
    variants = {
        "batch order": lambda: model.predict_proba(val_x.iloc[::-1])[::-1, 1],
        "a duplicate row": lambda: model.predict_proba(pd.concat([val_x.iloc[[0]], val_x]))[1:, 1],
        "one at a time": lambda: np.concatenate(
            [[model.predict_proba(val_x.iloc[[i]])[0, 1] for i in range(5)], p[5:]]
        ),
        "column order": lambda: model.predict_proba(val_x[val_x.columns[::-1]])[:, 1],
    }
    moved = []
    for what, answers in variants.items():
        try:
            q = answers()
        except Exception as exc:  # any failure here is the finding
            moved.append(f"{what} fails: {type(exc).__name__}")
            continue
        if not np.allclose(q, p, rtol=0, atol=1e-9):
            moved.append(f"{what} moves answers by up to {np.max(np.abs(q - p)):.2g}")
    return moved, "same answers whatever the batch order, duplicates, size or columns"


def _directions(model: Any, val_x: pd.DataFrame) -> tuple[list[str], str]:
    """Each documented marker, set low then high in every row, moves P(disease) its way."""
    against = []
    for name, direction in DIRECTIONS.items():
        low, high = (val_x.assign(**{name: float(value)}) for value in direction.over)
        shift = float(np.mean(model.predict_proba(high)[:, 1] - model.predict_proba(low)[:, 1]))
        if shift * direction.sign <= 0:
            against.append(
                f"P(heart disease) moves against the data: {name} "
                f"{direction.over[0]:g}->{direction.over[1]:g}: {shift:+.3f}"
            )
    return against, f"{len(DIRECTIONS)} markers move P(heart disease) the documented way"


def _imputes_missing(model: Any, base: pd.DataFrame) -> tuple[list[str], str]:
    failures = []
    for name in [*FEATURES, "all features"]:
        row = base.copy()
        row.loc[:, list(FEATURES) if name == "all features" else [name]] = np.nan
        try:
            p = float(model.predict_proba(row)[0, 1])
        except Exception as exc:  # any failure here is the finding
            failures.append(f"{name}: {type(exc).__name__}")
            continue
        if not 0 <= p <= 1:
            failures.append(f"{name}: p={p}")
    return failures, f"each of {len(FEATURES)} features and all at once"
