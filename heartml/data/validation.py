"""Check a dataset before anything is trained on it; drift against the live data is ``drift``'s.

Every check runs, so a failing report names all that is wrong at once (column,
check, a few failing values), not only the first problem.

Hand-written over pandas rather than pandera: the checks are a dozen vectorised
lines, the messages are ours to shape, and ``requirements.txt`` (which the Cloud
Function installs too) stays free of pandera and its pydantic stack.
"""

from __future__ import annotations

import csv
import importlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from heartml import config
from heartml.data.dataset import missing_columns, read_dataset
from heartml.data.drift import drift, live_reference, sample, sample_positions
from heartml.errors import DatasetError
from heartml.features import (
    DATASET_COLUMNS,
    DIRECTIONS,
    DISEASE_VALUE,
    FEATURES,
    LABEL,
    PROJECT,
    SPECS,
    has_disease,
)
from heartml.logs import quote

EXAMPLES = 5  # failing values quoted per check


@dataclass(frozen=True)
class ValidationParams(config.SettingsGroup):
    """Thresholds of the data checks.

    Parameters
    ----------
    min_rows : int, default=100
        Fewer rows cannot give a validation split worth gating on.
    max_missing_share : float, default=0.10
        Largest share of missing values a feature column may have (the label may have none).
    max_duplicate_share : float, default=0.05
        Largest share of rows that repeat an earlier row. A resampled or doubled export
        repeats rows, so evaluation rows would repeat training rows and the scores would be
        inflated; real exports of this table repeat almost none (the shipped one, 1 in 303).
    extra_columns : {"warn", "error"}, default="warn"
        An unexpected column is reported and ignored by default: exports often add an
        id or a date, and training selects its features by name.
    drift_p_value : float, default=0.05
        A feature has drifted when its test's p-value is below this (95 % confidence).
    fail_on_drift : bool, default=False
        Make drift block training instead of only being reported.
    drift_sample_rows : int, default=10_000
        The drift tests compare at most this many rows of each side, drawn with a fixed
        seed. On a million rows a test calls a difference far too small to matter
        significant, and the sample keeps the test's cost flat; smaller datasets are
        compared whole.
    """

    min_rows: int = config.setting("VALIDATE_MIN_ROWS")
    max_missing_share: float = config.setting("VALIDATE_MAX_MISSING_SHARE")
    max_duplicate_share: float = config.setting("VALIDATE_MAX_DUPLICATE_SHARE")
    extra_columns: str = config.setting("VALIDATE_EXTRA_COLUMNS")
    drift_p_value: float = 0.05
    fail_on_drift: bool = config.setting("VALIDATE_FAIL_ON_DRIFT")
    drift_sample_rows: int = 10_000


@dataclass
class Finding:
    """One failed (or warned) check, for logs and the run report."""

    check: str
    column: str | None
    message: str
    examples: list[Any] = field(default_factory=list)

    def line(self) -> str:
        where = f"{self.column}: " if self.column else ""
        shown = f" (e.g. {', '.join(map(quote, self.examples))})" if self.examples else ""
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
    def duplicate_share(self) -> float:
        """The share of rows that repeat an earlier row."""
        return self.duplicates / self.rows if self.rows else 0.0

    @property
    def passed(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "duplicate_share": self.duplicate_share, "passed": self.passed}

    def raise_if_failed(self, where: str) -> None:
        """Raise DatasetError naming every failed check, if any failed."""
        if self.errors:
            lines = "; ".join(f.line() for f in self.errors)
            raise DatasetError(f"{where}: {len(self.errors)} check(s) failed: {lines}")


def validate_file(path: Path, store_uri: str, params: ValidationParams) -> ValidationReport:
    """Validate the dataset at ``path`` and measure drift against the live model's data.

    The store only supplies the drift reference: when it cannot be read, drift is
    reported as not measured and the checks still decide.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The statistics library's import (a second or more on a small runner) runs beside
        # the parse, which releases the GIL; the reference is read first and cut to its
        # sample, so the two datasets are never in memory whole at once.
        pool.submit(importlib.import_module, "scipy.stats")
        reference = live_reference(store_uri, params.drift_sample_rows)
        frame = read_dataset(path)
    if reference is None:
        return validate(frame, params)
    return validate(frame, params, *reference)


def validate(
    frame: pd.DataFrame,
    params: ValidationParams | None = None,
    reference: pd.DataFrame | None = None,
    reference_run_id: str | None = None,
) -> ValidationReport:
    """Run every check on ``frame`` as ``dataset.read_dataset`` gives it.

    Drift is measured against ``reference`` (the live version's training data), whose
    version ``reference_run_id`` the report names, so a reader knows what moved from what.
    """
    params = params or ValidationParams()
    frame = frame.reset_index(drop=True)  # checks align by position; a caller's index may repeat
    errors: list[Finding] = []
    warnings: list[Finding] = []

    columns = [str(c) for c in frame.columns]
    missing = missing_columns(frame)
    if missing:
        hint = _delimiter_hint(columns)
        errors.append(Finding("columns", None, f"missing column(s): {', '.join(missing)}{hint}"))
    extra = [c for c in columns if c not in DATASET_COLUMNS]
    if extra:
        finding = Finding("columns", None, f"unexpected column(s): {', '.join(map(quote, extra))}")
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
        elif labels.isin([0, 1]).all() and PROJECT.label.check_directions:
            inverted = _inverted_label(numeric, labels)
            if inverted:
                errors.append(inverted)

    report = ValidationReport(
        rows=len(frame), errors=errors, warnings=warnings, duplicates=_count_duplicates(frame)
    )
    if report.duplicates:
        share = report.duplicate_share
        message = f"{report.duplicates} duplicate row(s), {share:.1%} of the rows"
        if share > params.max_duplicate_share:
            message += (
                f", more than the {params.max_duplicate_share:.1%} allowed: copies of a row "
                "fall on the same side of the content-hash split, so none leaks into the "
                "evaluation, but each counts again there, weighing one record several times "
                "and narrowing the intervals the gate judges by (a resampled or doubled export?)"
            )
            errors.append(Finding("duplicates", None, message))
        else:
            warnings.append(Finding("duplicates", None, message))

    if reference is not None and not missing:
        rows = params.drift_sample_rows
        ref_numeric = _numeric_columns(sample(reference, rows), list(FEATURES), [])
        picked = sample_positions(len(frame), rows)
        current = {f: numeric[f].iloc[picked] for f in FEATURES}
        report.drift = {
            **drift(ref_numeric, current, params.drift_p_value),
            "reference_run_id": reference_run_id,
        }
        if params.fail_on_drift and report.drift["drifted"]:
            names = ", ".join(report.drift["drifted"])
            errors.append(Finding("drift", None, f"feature(s) drifted: {names}"))
    return report


def _count_duplicates(frame: pd.DataFrame) -> int:
    """Count rows equal to an earlier row: rows whose hashes repeat, then compared exactly."""
    if frame.empty:
        return 0
    repeated = pd.util.hash_pandas_object(frame, index=False).duplicated(keep=False).to_numpy()
    return int(frame[repeated].duplicated().sum())


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
        f"looks inverted: taking {LABEL}={DISEASE_VALUE} as heart disease "
        "(project.toml label.positive), "
        f"{len(contradicting)} of {len(contradicting) + len(agreeing)} documented markers point "
        f"the other way (mean with disease vs without: {'; '.join(contradicting)}); if this "
        f"export codes {LABEL}={1 - DISEASE_VALUE} as heart disease, change label.positive",
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
    invalid = present[~spec.valid(present.to_numpy(dtype=float))]
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
