"""Read the dataset file: the one reader behind every step and the drift reference.

UTF-8 with or without a byte-order mark (the shipped file has one); numbers where
the file has numbers. A column holding any text that is not a number stays text, so
that validation can quote the offending values back instead of coercing them away.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from heartml.errors import DatasetError
from heartml.features import DATASET_COLUMNS, FEATURES, LABEL

ENCODING = "utf-8-sig"


def read_dataset(source: str | Path | bytes, name: str = "dataset") -> pd.DataFrame:
    """Read a dataset CSV from a path or bytes; raise DatasetError only if it is no table."""
    if isinstance(source, bytes):
        raw, where = source, name
    else:
        path = Path(source)
        if not path.is_file():
            raise DatasetError(f"dataset {path} does not exist")
        raw, where = path.read_bytes(), str(path)
    if not raw.strip():
        raise DatasetError(f"dataset {where} is empty")
    try:
        return pd.read_csv(io.BytesIO(raw), encoding=ENCODING)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatasetError(f"dataset {where} is not a readable CSV: {reason}") from None


def missing_columns(frame: pd.DataFrame) -> list[str]:
    """Name the dataset columns ``frame`` lacks, in the file's order."""
    present = {str(column) for column in frame.columns}
    return [column for column in DATASET_COLUMNS if column not in present]


def check_trainable(frame: pd.DataFrame) -> None:
    """Raise DatasetError unless ``frame`` has every column, numeric, and at least one row.

    Validation reports the same problems one by one; this is the guard for code that
    trains on a frame without having validated it.
    """
    missing = missing_columns(frame)
    if missing:
        raise DatasetError(f"dataset lacks column(s): {', '.join(missing)}")
    if frame.empty:
        raise DatasetError("dataset has a header but no rows")
    text = [c for c in (*FEATURES, LABEL) if not pd.api.types.is_numeric_dtype(frame[c])]
    if text:
        raise DatasetError(f"dataset column(s) hold text, not numbers: {', '.join(text)}")
