"""Data validation: one broken dataset per check, each refused with its named reason."""

from __future__ import annotations

import pandas as pd
import pytest

from heartml.data import validation
from heartml.data.dataset import read_dataset
from heartml.errors import DatasetError
from heartml.features import FEATURES
from heartml.model import holdout
from tests.cases import BROKEN, GOOD, with_values
from tests.helpers import DATASET


def _csv(frame: pd.DataFrame, tmp_path, **kwargs) -> str:
    path = tmp_path / "dataset.csv"
    frame.to_csv(path, index=False, **kwargs)
    return str(path)


@pytest.mark.parametrize("case", list(BROKEN))
def test_each_broken_dataset_is_refused_with_its_reason(case, tmp_path) -> None:
    frame, reason = BROKEN[case]
    report = validation.validate(read_dataset(_csv(frame, tmp_path)))
    assert not report.passed
    assert any(reason in finding.line() for finding in report.errors), [
        f.line() for f in report.errors
    ]


def test_every_failing_check_is_named_not_only_the_first(tmp_path) -> None:
    frame = with_values("trestbps", slice(0, 0), 900).rename(columns={"thal": "thall"})
    frame.loc[1, "age"] = "old"
    report = validation.validate(read_dataset(_csv(frame, tmp_path)))
    checks = sorted(f.check for f in report.errors)
    assert checks == ["columns", "range", "type"]
    assert any(f.examples == [900] for f in report.errors if f.check == "range")


def test_a_wrong_delimiter_is_named(tmp_path) -> None:
    report = validation.validate(read_dataset(_csv(GOOD, tmp_path, sep=";")))
    assert "looks ';'-separated" in report.errors[0].message


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_an_empty_file_is_refused(tmp_path, content) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match="is empty"):
        read_dataset(path)


def test_the_shipped_dataset_passes_and_its_duplicate_is_reported() -> None:
    report = validation.validate(read_dataset(DATASET))
    assert report.passed
    assert report.duplicates == 1
    assert [w.check for w in report.warnings] == ["duplicates"]


@pytest.mark.parametrize(("mode", "blocks"), [("warn", False), ("error", True)])
def test_an_extra_column_warns_by_default_and_can_be_made_an_error(tmp_path, mode, blocks) -> None:
    frame = GOOD.assign(patient_id=range(len(GOOD)))
    params = validation.ValidationParams(extra_columns=mode)
    report = validation.validate(read_dataset(_csv(frame, tmp_path)), params)
    assert report.passed is not blocks
    findings = report.errors if blocks else report.warnings
    assert any("unexpected column(s): 'patient_id'" in f.message for f in findings)


def test_drift_names_the_shifted_features_and_only_those(tmp_path) -> None:
    reference = read_dataset(DATASET)
    shifted = GOOD.assign(age=GOOD["age"] + 15, cp=3)
    report = validation.validate(read_dataset(_csv(shifted, tmp_path)), reference=reference)
    assert report.passed  # reported, not blocking by default
    assert report.drift["drifted"] == ["age", "cp"]
    assert report.drift["features"]["age"]["test"] == "ks"
    assert report.drift["features"]["cp"]["test"] == "chi2"


def test_drift_blocks_when_configured(tmp_path) -> None:
    shifted = GOOD.assign(age=GOOD["age"] + 15)
    params = validation.ValidationParams(fail_on_drift=True)
    report = validation.validate(
        read_dataset(_csv(shifted, tmp_path)), params, read_dataset(DATASET)
    )
    assert [f.line() for f in report.errors] == ["[drift] feature(s) drifted: age"]


def test_the_same_data_shows_no_drift() -> None:
    frame = read_dataset(DATASET)
    assert validation.validate(frame, reference=frame).drift["drifted"] == []


def test_a_doubled_export_is_blocked_by_its_duplicate_share() -> None:
    validate, ValidationParams = validation.validate, validation.ValidationParams
    frame = read_dataset(DATASET)
    shipped = validate(frame)
    assert shipped.passed and shipped.duplicates == 1
    assert round(shipped.duplicate_share, 4) == round(1 / 303, 4)
    doubled = validate(pd.concat([frame, frame], ignore_index=True))
    assert not doubled.passed
    [finding] = [f for f in doubled.errors if f.check == "duplicates"]
    assert "304 duplicate row(s), 50.2% of the rows, more than the 5.0% allowed" in finding.message
    # The reason given is the true one under the content-hash split (issue 28): copies never
    # straddle it, they count twice among the evaluation rows.
    assert "same side of the content-hash split" in finding.message
    assert "narrowing the intervals" in finding.message
    assert "both sides of the split" not in finding.message
    twice = pd.concat([frame, frame], ignore_index=True)[list(FEATURES)].astype(float)
    train_rows, evaluation_rows = holdout.ordered_parts(twice, 0.2)
    hashes = holdout.row_hashes(twice)
    assert not set(hashes[train_rows]) & set(hashes[evaluation_rows])
    assert len(evaluation_rows) > len(set(hashes[evaluation_rows]))  # a copy counts again
    # The limit is the user's (VALIDATE_MAX_DUPLICATE_SHARE).
    allowed = ValidationParams(max_duplicate_share=0.6)
    assert validate(pd.concat([frame, frame]), allowed).passed  # its index repeats: no matter
