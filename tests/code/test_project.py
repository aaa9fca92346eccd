"""The project file: loaded and checked in one place, every problem one line naming key and value.

The variants are the shipped file with one line changed, so each test says exactly
what is wrong with it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from heartml import config, project, project_file
from heartml.errors import ConfigError
from heartml.model.gate import GateParams
from tests.helpers import REPO

SHIPPED = REPO / "project.toml"


def _variant(tmp_path: Path, old: str, new: str, *, count: int = 1) -> Path:
    """The shipped file with ``old`` replaced by ``new`` (which must occur)."""
    text = SHIPPED.read_text()
    assert old in text, old
    path = tmp_path / "project.toml"
    path.write_text(text.replace(old, new, count))
    return path


def test_the_shipped_file_loads_and_is_the_one_the_settings_name(monkeypatch) -> None:
    monkeypatch.delenv(project_file.PROJECT_ENV, raising=False)
    assert project_file.path() == SHIPPED
    loaded = project.current()
    assert loaded.label.column in {c.name for c in loaded.columns}
    assert loaded.cases and loaded.slices and loaded.title


# (old text, new text, what the one-line error must say)
BROKEN = [
    ("[dataset]", "[datasets]", "datasets is not a section of a project file"),
    (
        'role = "numeric"\nrange = [1, 120]',
        'role = "numerc"\nrange = [1, 120]',
        "columns[0].role = 'numerc' is not one of numeric, categorical, ignored",
    ),
    ("range = [1, 120]", "range = [120, 1]", "columns[0].range = [120, 1] must be [low, high]"),
    (
        "range = [1, 120]",
        'range = [1, 120]\nunit = "years"',
        "columns[0].unit is not a key of a column",
    ),
    ("range = [1, 120]", "range = [1, 120]\ncodes = [1]", "columns[0] = 'age' needs either"),
    (
        "codes = [0, 1, 2, 3]",
        "codes = [0, 1.5, 2, 3]",
        "columns[2].codes = 1.5 must be a whole number",
    ),
    ('column = "target"', 'column = "outcome"', "label.column = 'outcome' names no declared"),
    ("positive = [0]", "positive = [2]", "label.positive = 2 is not one of target's codes"),
    ("positive = [0]", "positive = []", "label.positive = [] must list"),
    ('negative = "clear"', 'negative = "heart-disease"', "label.answers = 'heart-disease' must"),
    (
        '"ca"\nrole = "numeric"\ncodes = [0, 1, 2, 3, 4]\nunknown = 4',
        '"ca"\nrole = "numeric"\ncodes = [0, 1, 2, 3, 4]\nunknown = 7',
        "columns[11].unknown = 7 must be one of a numeric column's codes",
    ),
    ('sign = "-"', 'sign = "down"', "columns[7].direction.sign = 'down' must be"),
    ('column = "age"\nedges', 'column = "weight"\nedges', "slices[1].column = 'weight' names no"),
    ("edges = [45, 55, 65]", "edges = [55, 45]", "slices[1].edges = [55, 45] must rise"),
    (
        'answer = "clear"',
        'answer = "healthy"',
        "behaviour_cases[0].answer = 'healthy' must be 'heart-disease' or 'clear'",
    ),
    (
        "record = { age = 63,",
        "record = { agee = 63,",
        "behaviour_cases[0].record.agee (line 2) names no feature",
    ),
    (
        "record = { age = 63,",
        "record = { age = 630,",
        "behaviour_cases[0].record.age = 630 (line 2) must be between 1 and 120",
    ),
    (
        "record = { age = 63, ",
        "record = { ",
        "behaviour_cases[0].record (line 2) gives no value for age",
    ),
    ("min_roc_auc = 0.80", 'min_roc_auc = "high"', "gate.min_roc_auc = 'high' must be a number"),
    ("min_rows = 100", "min_rows = 99.5", "validation.min_rows = 99.5 must be a whole number"),
    ("min_rows = 100", "min_rowz = 100", "validation.min_rowz is not a key of [validation]"),
    (
        'extra_columns = "warn"',
        'extra_columns = "ignore"',
        "validation.extra_columns = 'ignore' is not one of warn, error",
    ),
    ("fail_on_drift = false", "fail_on_drift = 0", "validation.fail_on_drift = 0 must be true"),
    ('estimator = "', 'estimator = 3\nx = "', "model.x is not a key of this table"),
    ("[project]\ntitle", "[project\ntitle", "project.toml: "),  # TOML's own message, one line
]


@pytest.mark.parametrize(("old", "new", "message"), BROKEN, ids=[b[2][:40] for b in BROKEN])
def test_a_broken_file_is_refused_in_one_line_naming_the_key(tmp_path, old, new, message) -> None:
    path = _variant(tmp_path, old, new)
    with pytest.raises(ConfigError) as refused:
        project.load(path)
    text = str(refused.value)
    assert message in text
    assert text.startswith("project.toml: ")
    assert "\n" not in text


def test_a_missing_file_is_named_with_the_variable_that_moves_it(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"no project file at .*PIPELINE_PROJECT"):
        project.load(tmp_path / "absent.toml")


def _resolved(name: str, args: list[str]) -> object:
    parser = argparse.ArgumentParser()
    config.add_flag(parser, name)
    return config.resolve(parser.parse_args(args), name)


def test_a_threshold_comes_from_flag_then_environment_then_file_then_built_in(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.delenv("GATE_MIN_ROC_AUC", raising=False)
    monkeypatch.setenv(project_file.PROJECT_ENV, str(_variant(tmp_path, "min_roc_auc = 0.80", "")))
    assert _resolved("GATE_MIN_ROC_AUC", []) == config.SETTINGS["GATE_MIN_ROC_AUC"].default
    path = _variant(tmp_path, "min_roc_auc = 0.80", "min_roc_auc = 0.9")
    os.utime(path, ns=(1, 1))  # a rewrite within the clock's tick still reads anew
    assert _resolved("GATE_MIN_ROC_AUC", []) == 0.9
    assert GateParams().min_roc_auc == 0.9  # a group made without arguments follows the file
    monkeypatch.setenv("GATE_MIN_ROC_AUC", "0.85")
    assert _resolved("GATE_MIN_ROC_AUC", []) == 0.85
    assert _resolved("GATE_MIN_ROC_AUC", ["--min-roc-auc", "0.7"]) == 0.7


def test_the_seed_dataset_is_read_beside_the_project_file(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("DATASET_SOURCE", raising=False)
    path = _variant(tmp_path, 'source = "datasets/default.csv"', 'source = "rows.csv"')
    monkeypatch.setenv(project_file.PROJECT_ENV, str(path))
    assert config.get("DATASET_SOURCE") == tmp_path / "rows.csv"


def test_a_step_given_a_bad_file_exits_with_one_line_before_it_loads(tmp_path) -> None:
    path = _variant(tmp_path, "max_brier = 0.25", "max_brier = true")
    result = subprocess.run(
        [sys.executable, "-m", "steps.gate", "--help"],
        cwd=REPO,
        env={**os.environ, project_file.PROJECT_ENV: str(path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: project.toml: gate.max_brier = True must be a number"
    ]


@pytest.mark.parametrize(
    ("variables", "refusal"),
    [
        ({"GCS_BUCKET": "b", "MONITOR_DISPATCH": "true"}, None),  # infrastructure is fine
        ({"GATE_MIN_ROC_AUC": ""}, None),  # an empty variable sets nothing
        ({"GATE_MIN_ROC_AUC": "0.9"}, "GATE_MIN_ROC_AUC is set as a repository variable"),
        ({"VALIDATE_FAIL_ON_DRIFT": "true"}, "set validation.fail_on_drift in project.toml"),
    ],
)
def test_a_threshold_set_as_a_repository_variable_is_refused_naming_the_files_key(
    monkeypatch, variables, refusal
) -> None:
    import json

    monkeypatch.setenv("REPOSITORY_VARIABLES", json.dumps(variables))
    if refusal is None:
        config.check_repository_variables()
        return
    with pytest.raises(ConfigError, match=refusal):
        config.check_repository_variables()


def test_an_override_for_one_run_is_recorded_in_the_versions_metrics(tmp_path, monkeypatch) -> None:
    import json

    from steps import train
    from tests.helpers import DATASET

    monkeypatch.delenv("TRAIN_SEED", raising=False)
    monkeypatch.setenv("TRAIN_TEST_SIZE", "0.25")
    assert train.main(["--path", str(DATASET), "--out", str(tmp_path), "--seed", "7"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["overrides"] == {
        "TRAIN_SEED": {"value": 7, "from": "flag", "file": "training.seed"},
        "TRAIN_TEST_SIZE": {"value": 0.25, "from": "environment", "file": "training.test_size"},
    }
    assert metrics["params"]["seed"] == 7 and metrics["params"]["test_size"] == 0.25
    monkeypatch.delenv("TRAIN_TEST_SIZE")
    assert train.main(["--path", str(DATASET), "--out", str(tmp_path / "plain")]) == 0
    assert "overrides" not in json.loads((tmp_path / "plain" / "metrics.json").read_text())


def test_the_label_direction_check_can_be_switched_off_in_the_file(tmp_path) -> None:
    """An export coded the other way is refused; with the check off it is not judged."""
    from tests.cases import GOOD

    inverted = tmp_path / "inverted.csv"
    GOOD.assign(target=1 - GOOD["target"]).to_csv(inverted, index=False)
    off = _variant(tmp_path, "check_directions = true", "check_directions = false")
    outcomes = {}
    for name, path in (("on", SHIPPED), ("off", off)):
        result = subprocess.run(
            [sys.executable, "-m", "steps.validate", "--path", str(inverted),
             "--store", str(tmp_path / "empty-store"), "--reports", str(tmp_path / name)],
            cwd=REPO, env={**os.environ, project_file.PROJECT_ENV: str(path)},
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        outcomes[name] = (result.returncode, "looks inverted" in result.stderr)
    assert outcomes == {"on": (1, True), "off": (0, False)}
