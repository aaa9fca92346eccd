"""Read the dataset file: the one reader behind every step and the drift reference.

UTF-8 with or without a byte-order mark (the shipped file has one); every known
column as 64-bit floats (one set of dtypes, whatever a file's values look like). A
column holding any text that is not a number stays text, so that validation can quote
the offending values back instead of coercing them away.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from heartml.errors import DatasetError
from heartml.features import DATASET_COLUMNS, FEATURES, LABEL

ENCODING = "utf-8-sig"
DTYPES = dict.fromkeys(DATASET_COLUMNS, "float64")


def read_dataset(source: str | Path | bytes, name: str = "dataset") -> pd.DataFrame:
    """Read a dataset CSV from a path or bytes; raise DatasetError only if it is no table.

    A path is handed to pandas as a path: its C reader then parses about twice as fast,
    with one copy fewer in memory, as from the same bytes in a buffer. (It leaves more
    of the C heap behind, though, so training, whose fit is the loop's memory peak,
    parses its bytes instead.)
    """
    if isinstance(source, bytes):
        if not source.strip():
            raise DatasetError(f"dataset {name} is empty")
        return _parse(lambda: io.BytesIO(source), name)
    return _parse(lambda: str(source), str(source))


def read_bytes(path: str | Path) -> bytes:
    """Return a dataset file's bytes, for a caller that hashes what it parses."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"dataset {path} does not exist") from None
    except OSError as exc:
        raise DatasetError(f"cannot read dataset {path}: {exc.strerror or exc}") from None


def _parse(source: Callable[[], Any], where: str) -> pd.DataFrame:
    try:
        try:  # the common case, and the fastest parse: every known column is a number
            return pd.read_csv(source(), encoding=ENCODING, dtype=DTYPES)
        except ValueError:  # text somewhere: read as found, so validation can quote it
            return pd.read_csv(source(), encoding=ENCODING)
    except pd.errors.EmptyDataError:
        raise DatasetError(f"dataset {where} is empty") from None
    except FileNotFoundError:
        raise DatasetError(f"dataset {where} does not exist") from None
    except OSError as exc:  # a folder, no permission
        raise DatasetError(f"cannot read dataset {where}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise DatasetError(
            f"dataset {where} is not a readable CSV: {_not_utf8(source())}"
        ) from None
    except pd.errors.ParserError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatasetError(f"dataset {where} is not a readable CSV: {reason}") from None


# What a file that is not UTF-8 text usually is, by its first bytes.
SIGNATURES = (
    (b"\x1f\x8b", "it is gzip-compressed; decompress it (gunzip) and publish the .csv"),
    (b"PK\x03\x04", "it is a zip archive (or an Excel workbook); export the sheet as CSV"),
    (b"\xff\xfe", "it is UTF-16 text; save it as UTF-8"),
    (b"\xfe\xff", "it is UTF-16 text; save it as UTF-8"),
)


def _not_utf8(source: Any) -> str:
    """Name why a file is not UTF-8 text, from its first bytes (only after a decode failed)."""
    if isinstance(source, io.BytesIO):
        head = source.getvalue()[:4]
    else:
        with open(source, "rb") as file:
            head = file.read(4)
    for signature, reason in SIGNATURES:
        if head.startswith(signature):
            return reason
    return "it is not UTF-8 text; save it as UTF-8"


def evaluation_bytes(x: pd.DataFrame, y: pd.Series) -> bytes:
    """Serialise held-out rows as one .npy: the features in FEATURES order, then the class.

    A plain float array, read back with ``allow_pickle=False``: loading it runs no code.
    """
    buffer = io.BytesIO()
    rows = np.column_stack([x[list(FEATURES)].to_numpy(dtype=float), y.to_numpy(dtype=float)])
    np.save(buffer, rows, allow_pickle=False)
    return buffer.getvalue()


def read_evaluation(data: bytes, name: str) -> tuple[pd.DataFrame, pd.Series]:
    """Return the held-out features and classes (1 = heart disease) ``evaluation_bytes`` wrote."""
    try:
        rows = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        raise DatasetError(f"{name} is not an evaluation set: {exc}") from None
    if rows.ndim != 2 or rows.shape[1] != len(FEATURES) + 1 or not len(rows):
        raise DatasetError(f"{name} holds a {rows.shape} array, not evaluation rows")
    x = pd.DataFrame(rows[:, :-1], columns=list(FEATURES))
    return x, pd.Series(rows[:, -1].astype(int), name=LABEL)


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
