"""The feature and label definitions: one home, consistent with itself."""

from __future__ import annotations

import pytest

from heartml.features import (
    CATEGORICAL_FEATURES,
    COUNT_FEATURES,
    DIAGNOSES,
    DIRECTIONS,
    FEATURES,
    LABEL_CODING,
    LEGACY_LABEL_CODING,
    NUMERIC_FEATURES,
    SPECS,
    class_1_is_disease,
    has_disease,
    label_coding_of,
    label_note,
)


def test_every_feature_has_exactly_one_role_and_a_spec() -> None:
    roles = [*NUMERIC_FEATURES, *COUNT_FEATURES, *CATEGORICAL_FEATURES]
    assert sorted(roles) == sorted(FEATURES) and len(set(roles)) == len(roles)
    assert set(FEATURES) < set(SPECS)


def test_counts_are_coded_with_an_unknown_code_among_their_codes() -> None:
    for name in COUNT_FEATURES:
        spec = SPECS[name]
        assert spec.codes is not None and spec.unknown_code in spec.codes


def test_directions_are_stated_over_valid_values_of_features() -> None:
    for name, direction in DIRECTIONS.items():
        assert name in FEATURES and direction.sign in (-1, 1)
        assert all(SPECS[name].is_valid(v) for v in direction.over), name


@pytest.mark.parametrize(
    ("target", "model_class", "diagnosis"), [(0, 1, "heart-disease"), (1, 0, "clear")]
)
def test_the_label_is_read_as_the_data_means_it(target, model_class, diagnosis) -> None:
    assert has_disease(target) == model_class
    assert DIAGNOSES[model_class] == diagnosis


@pytest.mark.parametrize(
    ("coding", "expected"),
    [
        (LABEL_CODING, True),
        (LEGACY_LABEL_CODING, False),
        ({}, ValueError),
        ({"class_1": "sick"}, ValueError),
    ],
)
def test_a_recorded_coding_says_which_way_class_1_points(coding, expected) -> None:
    if expected is ValueError:
        with pytest.raises(ValueError, match="label coding is missing or unknown"):
            class_1_is_disease(coding)
    else:
        assert class_1_is_disease(coding) is expected


@pytest.mark.parametrize(
    ("metrics", "note"),
    [
        ({"run_id": "old"}, "pre-fix, turned round"),
        ({"label_coding": LABEL_CODING}, "current"),
        ({"label_coding": "garbled"}, "unknown"),
        ({"label_coding": {"class_1": "sick"}}, "unknown"),
    ],
)
def test_each_versions_metrics_say_how_its_answers_are_read(metrics, note) -> None:
    assert label_note(label_coding_of(metrics)) == note


@pytest.mark.parametrize("name", list(SPECS))
def test_the_vectorised_check_agrees_with_the_one_value_check(name) -> None:
    import numpy as np

    spec = SPECS[name]
    values = np.array([-1e6, -5.5, -1, 0, 0.5, 1, 1.5, 2, 3, 4, 5, 40, 63, 120, 121, 250, 800, 1e6])
    assert spec.valid(values).tolist() == [spec.is_valid(v) for v in values]
