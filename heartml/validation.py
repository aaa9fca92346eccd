"""Check a dataset before anything is trained on it, and measure drift against the live data.

Every check runs, so a failing report names all that is wrong at once (column,
check, a few failing values), not only the first problem.

Hand-written over pandas rather than pandera: the checks are a dozen vectorised
lines, the messages are ours to shape, and ``requirements.txt`` (which the Cloud
Function installs too) stays free of pandera and its pydantic stack.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from heartml.dataset import missing_columns
from heartml.features import (
    DATASET_COLUMNS,
    DIRECTIONS,
    DISEASE_VALUE,
    FEATURES,
    LABEL,
    SPECS,
    has_disease,
)

EXAMPLES = 5  # failing values quoted per check


@dataclass(frozen=True)
class ValidationParams:
    """Thresholds of the data checks.

    Parameters
    ----------
    min_rows : int, default=100
        Fewer rows cannot give a validation split worth gating on.
    max_missing_share : float, default=0.10
        Largest share of missing values a feature column may have (the label may have none).
    extra_columns : {"warn", "error"}, default="warn"
        An unexpected column is reported and ignored by default: exports often add an
        id or a date, and training selects its features by name.
    drift_p_value : float, default=0.05
        A feature has drifted when its test's p-value is below this (95 % confidence).
    fail_on_drift : bool, default=False
        Make drift block training instead of only being reported.
    """

    min_rows: int = 100
    max_missing_share: float = 0.10
    extra_columns: str = "warn"
    drift_p_value: float = 0.05
    fail_on_drift: bool = False


@dataclass
class Finding:
    """One failed (or warned) check, for logs and the run report."""

    check: str
    column: str | None
    message: str
    examples: list[Any] = field(default_factory=list)

    def line(self) -> str:
        where = f"{self.column}: " if self.column else ""
        shown = f" (e.g. {', '.join(map(str, self.examples))})" if self.examples else ""
        return f"[{self.check}] {where}{self.message}{shown}"


@dataclass
class ValidationReport:
    """The outcome of validating one dataset."""

    rows: int
    errors: list[Finding]
    warnings: list[Finding]
    duplicates: int
    drift: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def validate(
    frame: pd.DataFrame,
    params: ValidationParams | None = None,
    reference: pd.DataFrame | None = None,
) -> ValidationReport:
    """Run every check on ``frame`` as ``dataset.read_dataset`` gives it."""
    params = params or ValidationParams()
    errors: list[Finding] = []
    warnings: list[Finding] = []

    columns = [str(c) for c in frame.columns]
    missing = missing_columns(frame)
    if missing:
        hint = _delimiter_hint(columns)
        errors.append(Finding("columns", None, f"missing column(s): {', '.join(missing)}{hint}"))
    extra = [c for c in columns if c not in DATASET_COLUMNS]
    if extra:
        finding = Finding("columns", None, f"unexpected column(s): {', '.join(extra)}")
        (errors if params.extra_columns == "error" else warnings).append(finding)

    if len(frame) < params.min_rows:
        errors.append(
            Finding("rows", None, f"{len(frame)} rows, at least {params.min_rows} needed")
        )

    numeric = _numeric_columns(frame, [c for c in DATASET_COLUMNS if c in columns], errors)
    for column, values in numeric.items():
        _check_column(column, values, params, errors)

    if LABEL in numeric:
        labels = numeric[LABEL].dropna()
        if labels.isin([0, 1]).all() and labels.nunique() == 1:
            only = int(labels.iloc[0])
            errors.append(
                Finding("label", LABEL, f"only class {only} present; both 0 and 1 needed")
            )
        elif labels.isin([0, 1]).all():
            inverted = _inverted_label(numeric, labels)
            if inverted:
                errors.append(inverted)

    report = ValidationReport(
        rows=len(frame), errors=errors, warnings=warnings, duplicates=int(frame.duplicated().sum())
    )
    if report.duplicates:
        warnings.append(Finding("duplicates", None, f"{report.duplicates} duplicate row(s)"))

    if reference is not None and not missing:
        ref_numeric = _numeric_columns(reference, list(FEATURES), [])
        report.drift = drift(ref_numeric, numeric, params.drift_p_value)
        if params.fail_on_drift and report.drift["drifted"]:
            names = ", ".join(report.drift["drifted"])
            errors.append(Finding("drift", None, f"feature(s) drifted: {names}"))
    return report


def _inverted_label(numeric: dict[str, pd.Series], labels: pd.Series) -> Finding | None:
    """Refuse a label that most documented markers contradict: its coding is the other way.

    An export that codes 1 as heart disease (as UCI's ``num`` > 0 does) would otherwise
    train a model that answers every patient backwards with scores as good as ever.
    """
    disease = has_disease(labels).astype(bool)
    agreeing, contradicting = [], []
    for name, direction in DIRECTIONS.items():
        if name not in numeric:
            continue
        values = numeric[name].loc[labels.index]
        inside = values.between(*direction.over)
        with_disease = values[inside & disease].mean()
        without = values[inside & ~disease].mean()
        if np.isnan(with_disease) or np.isnan(without) or with_disease == without:
            continue
        shown = f"{name} {with_disease:.2f} vs {without:.2f}"
        (agreeing if (with_disease - without) * direction.sign > 0 else contradicting).append(shown)
    if len(contradicting) <= len(agreeing):
        return None
    return Finding(
        "label",
        LABEL,
        f"looks inverted: taking {LABEL}={DISEASE_VALUE} as heart disease (heartml/features.py), "
        f"{len(contradicting)} of {len(contradicting) + len(agreeing)} documented markers point "
        f"the other way (mean with disease vs without: {'; '.join(contradicting)}); if this "
        f"export codes {LABEL}={1 - DISEASE_VALUE} as heart disease, change DISEASE_VALUE",
    )


def _delimiter_hint(columns: list[str]) -> str:
    if len(columns) == 1:
        try:
            dialect = csv.Sniffer().sniff(columns[0], delimiters=";\t|")
        except csv.Error:
            return ""
        return f" (the header looks {dialect.delimiter!r}-separated; expected commas)"
    return ""


def _numeric_columns(
    frame: pd.DataFrame, columns: list[str], errors: list[Finding]
) -> dict[str, pd.Series]:
    """Convert columns to numbers, reporting values that are not numbers."""
    out = {}
    for column in columns:
        text = frame[column]
        if pd.api.types.is_numeric_dtype(text):  # read as numbers: nothing to report
            out[column] = text.astype(float)
            continue
        values = pd.to_numeric(text, errors="coerce")
        bad = text[values.isna() & text.notna() & (text.astype(str).str.strip() != "")]
        if len(bad):
            errors.append(
                Finding(
                    "type",
                    column,
                    f"{len(bad)} value(s) are not numbers",
                    _examples(bad),
                )
            )
        out[column] = values.astype(float)
    return out


def _check_column(
    column: str, values: pd.Series, params: ValidationParams, errors: list[Finding]
) -> None:
    spec = SPECS[column]
    share = float(values.isna().mean()) if len(values) else 0.0
    limit = 0.0 if column == LABEL else params.max_missing_share
    if share > limit:
        what = "all values missing" if share == 1 else f"{share:.1%} missing, at most {limit:.0%}"
        errors.append(Finding("missing", column, what))
    present = values.dropna()
    if present.empty:
        return
    invalid = present[~present.map(spec.is_valid)]
    if len(invalid):
        if spec.codes is not None:
            allowed = "{" + ", ".join(map(str, sorted(spec.codes))) + "}"
            message = f"{len(invalid)} value(s) outside the codes {allowed}"
        else:
            message = f"{len(invalid)} value(s) outside [{spec.low:g}, {spec.high:g}]"
        errors.append(Finding("range", column, message, _examples(invalid)))


def _examples(values: pd.Series) -> list[Any]:
    unique = pd.unique(values)[:EXAMPLES]
    return [v.item() if isinstance(v, np.generic) else v for v in unique]


def drift(
    reference: dict[str, pd.Series], current: dict[str, pd.Series], p_value: float
) -> dict[str, Any]:
    """Compare each feature's distribution: Kolmogorov-Smirnov or chi-squared.

    Numeric features get the two-sample KS test; coded ones a chi-squared test of
    homogeneity over their codes (Evidently's defaults for small tables).
    """
    from scipy import stats

    features = {}
    for name in FEATURES:
        ref, cur = reference[name].dropna(), current[name].dropna()
        if ref.empty or cur.empty:
            continue
        if SPECS[name].codes is None:
            test, p = "ks", float(stats.ks_2samp(ref, cur).pvalue)
        else:
            counts = pd.concat(
                [ref.value_counts(), cur.value_counts()], axis=1, keys=["ref", "cur"]
            ).fillna(0)
            if len(counts) < 2:
                test, p = "chi2", 1.0
            else:
                test, p = "chi2", float(stats.chi2_contingency(counts.T.to_numpy()).pvalue)
        features[name] = {"test": test, "p_value": p, "drifted": p < p_value}
    drifted = [name for name, result in features.items() if result["drifted"]]
    return {"p_value_threshold": p_value, "features": features, "drifted": drifted}
