"""Settings: flag, then environment, then default; bad values are named."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from heartml import config, run_ids
from heartml.errors import ConfigError
from tests.helpers import REPO

CLEAN = {
    "PIPELINE_STORE": None,
    "PIPELINE_RUN_ID": None,
    "GITHUB_RUN_ID": None,
    "GITHUB_RUN_ATTEMPT": None,
}


def _set_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str | None]) -> None:
    for name, value in {**CLEAN, **env}.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


@pytest.mark.parametrize(
    ("flag", "env", "expected"),
    [
        (None, {}, "local-store"),
        (None, {"PIPELINE_STORE": "gs://b/p"}, "gs://b/p"),
        ("elsewhere", {"PIPELINE_STORE": "gs://b/p"}, "elsewhere"),
    ],
)
def test_store_uri_prefers_flag_then_environment(monkeypatch, flag, env, expected) -> None:
    _set_env(monkeypatch, env)
    assert config.store_uri(flag) == expected


@pytest.mark.parametrize(
    ("flag", "env", "expected"),
    [
        ("given", {"PIPELINE_RUN_ID": "env-id", "GITHUB_RUN_ID": "7"}, "given"),
        (None, {"PIPELINE_RUN_ID": "env-id", "GITHUB_RUN_ID": "7"}, "env-id"),
        (None, {"GITHUB_RUN_ID": "123", "GITHUB_RUN_ATTEMPT": "2"}, "123-2"),
        (None, {"GITHUB_RUN_ID": "123"}, "123-1"),
    ],
)
def test_run_id_sources_in_order(monkeypatch, flag, env, expected) -> None:
    _set_env(monkeypatch, env)
    assert run_ids.run_id(flag) == expected


def test_local_run_ids_are_unique_and_timestamped(monkeypatch) -> None:
    _set_env(monkeypatch, {})
    first, second = run_ids.run_id(), run_ids.run_id()
    assert re.fullmatch(r"local-\d{8}T\d{6}Z-[0-9a-f]{6}", first)
    assert first != second


@pytest.mark.parametrize("bad", ["../escape", "a/b", "-starts-with-dash", "x" * 129, "sp ace"])
def test_run_ids_that_would_break_a_key_are_refused(monkeypatch, bad) -> None:
    _set_env(monkeypatch, {"PIPELINE_RUN_ID": bad})
    with pytest.raises(ConfigError, match="run id"):
        run_ids.run_id()


@pytest.mark.parametrize(("raw", "ok"), [("5", True), ("0.5", True), ("0", False), ("soon", False)])
def test_store_timeout_is_checked(monkeypatch, raw, ok) -> None:
    monkeypatch.setenv("PIPELINE_STORE_TIMEOUT", raw)
    if ok:
        assert config.store_timeout() == float(raw)
    else:
        with pytest.raises(ConfigError, match="PIPELINE_STORE_TIMEOUT"):
            config.store_timeout()


def test_every_setting_with_a_flag_documents_its_env_and_default() -> None:
    import argparse

    for name, setting in config.SETTINGS.items():
        if setting.flag is None:
            continue
        parser = argparse.ArgumentParser()
        config.add_flag(parser, name)
        help_text = " ".join(parser.format_help().split())
        assert f"env {name}" in help_text
        if setting.default in (None, ""):
            assert "default None" not in help_text  # unset means "not given", not a value
        else:
            assert f"default {setting.default}" in help_text


# (setting, flag arguments, environment, expected): flag beats environment beats default.
RESOLUTION = [
    ("GATE_MIN_ROC_AUC", [], {}, 0.80),
    ("GATE_MIN_ROC_AUC", [], {"GATE_MIN_ROC_AUC": "0.9"}, 0.9),
    ("GATE_MIN_ROC_AUC", ["--min-roc-auc", "0.7"], {"GATE_MIN_ROC_AUC": "0.9"}, 0.7),
    ("GATE_MIN_ROC_AUC", [], {"GATE_MIN_ROC_AUC": ""}, 0.80),  # an unset repository variable
    ("TRAIN_SEED", [], {"TRAIN_SEED": "7"}, 7),
    ("TRAIN_SEED", ["--seed", "3"], {"TRAIN_SEED": "7"}, 3),
    ("VALIDATE_FAIL_ON_DRIFT", [], {}, False),
    ("VALIDATE_FAIL_ON_DRIFT", [], {"VALIDATE_FAIL_ON_DRIFT": "true"}, True),
    ("VALIDATE_FAIL_ON_DRIFT", [], {"VALIDATE_FAIL_ON_DRIFT": "False"}, False),
    ("VALIDATE_FAIL_ON_DRIFT", ["--fail-on-drift"], {"VALIDATE_FAIL_ON_DRIFT": "false"}, True),
    ("VALIDATE_EXTRA_COLUMNS", [], {"VALIDATE_EXTRA_COLUMNS": "error"}, "error"),
    ("ROLLBACK_TO", [], {"ROLLBACK_TO": "123-1"}, "123-1"),
    ("ROLLBACK_TO", [], {}, None),
    ("ALERT_MIN_ROC_AUC", [], {}, 0.80),  # the gate's floor
    ("ALERT_MAX_DROP", [], {}, 0.02),
    ("NOTIFY_RETRY_ATTEMPTS", [], {"NOTIFY_RETRY_ATTEMPTS": "2"}, 2),
    # The working files: every path flag falls back to the environment the same way.
    ("PIPELINE_DATASET", [], {}, Path("artifacts/dataset.csv")),
    ("PIPELINE_DATASET", [], {"PIPELINE_DATASET": "/data/x.csv"}, Path("/data/x.csv")),
    ("PIPELINE_DATASET", ["--path", "a.csv"], {"PIPELINE_DATASET": "b.csv"}, Path("a.csv")),
    ("PIPELINE_ARTIFACTS", [], {"PIPELINE_ARTIFACTS": "out"}, Path("out")),
    ("PIPELINE_REPORTS", ["--reports", "r"], {"PIPELINE_REPORTS": "s"}, Path("r")),
    ("DATASET_SOURCE", [], {"DATASET_SOURCE": "new.csv"}, Path("new.csv")),
    ("DATASET_IF_MISSING", [], {"DATASET_IF_MISSING": "yes"}, True),
    ("ROLLBACK_FORCE", ["--force"], {}, True),
    ("ROLLBACK_FORCE", [], {}, False),
]


@pytest.mark.parametrize(("name", "args", "env", "expected"), RESOLUTION)
def test_a_setting_comes_from_its_flag_then_the_environment_then_the_default(
    monkeypatch, name, args, env, expected
) -> None:
    import argparse

    monkeypatch.delenv(name, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    parser = argparse.ArgumentParser()
    if config.SETTINGS[name].flag:
        config.add_flag(parser, name)
    assert config.resolve(parser.parse_args(args), name) == expected


def test_a_step_keeps_its_own_spelling_of_a_shared_flag(monkeypatch) -> None:
    import argparse

    monkeypatch.setenv("PIPELINE_ARTIFACTS", "from-env")
    parser = argparse.ArgumentParser()
    config.add_flag(parser, "PIPELINE_ARTIFACTS", "--out")  # steps.train's older name
    assert config.resolve(parser.parse_args(["--out", "o"]), "PIPELINE_ARTIFACTS") == Path("o")
    assert config.resolve(parser.parse_args([]), "PIPELINE_ARTIFACTS") == Path("from-env")


# Every step under steps/, read from the folder: a new step is checked without being listed.
STEPS = sorted(p.stem for p in (REPO / "steps").glob("*.py") if not p.stem.startswith("_"))


@pytest.mark.parametrize("step", STEPS)
def test_every_step_flag_is_a_setting_with_an_environment_fallback(step, capsys) -> None:
    import importlib
    import re

    module = importlib.import_module(f"steps.{step}")
    with pytest.raises(SystemExit) as exited:
        module.main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    usage, help_text = out.split("\n\n")[0], " ".join(out.split())
    flags = set(re.findall(r"(--[a-z][a-z0-9-]+)", usage))
    assert flags, step
    by_flag = {s.flag: s for s in config.SETTINGS.values() if s.flag}
    for flag in flags - {"--out", "--dest"}:  # train's and download's older spellings
        assert flag in by_flag, (step, flag)
        assert f"env {by_flag[flag].env}" in help_text, (step, flag)


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        (
            "VALIDATE_EXTRA_COLUMNS",
            "fail",
            "VALIDATE_EXTRA_COLUMNS='fail' is not one of warn, error",
        ),
        ("GATE_MIN_ROC_AUC", "high", "GATE_MIN_ROC_AUC='high' is not a number"),
        ("TRAIN_SEED", "4.5", "TRAIN_SEED='4.5' is not a whole number"),
        ("VALIDATE_FAIL_ON_DRIFT", "maybe", "VALIDATE_FAIL_ON_DRIFT='maybe' is not true or false"),
    ],
)
def test_a_malformed_setting_is_named(monkeypatch, name, raw, message) -> None:
    monkeypatch.setenv(name, raw)
    with pytest.raises(ConfigError) as caught:
        config.get(name)
    assert str(caught.value) == message


def test_by_default_an_alert_fires_exactly_where_the_gate_holds_back(monkeypatch) -> None:
    """Judged by behaviour, not by comparing two constants: on either side of each floor,
    the alert consumer and the gate give the same answer, and setting the gate's variable
    does not silently move the alert (each has its own setting)."""
    from heartml.model import gate
    from heartml.ops import events

    params, alerts = gate.GateParams(), events.AlertThresholds.from_settings()
    fine = {"roc_auc": params.min_roc_auc + 0.05, "val_acc": params.min_accuracy + 0.05}
    for name, floor in (("roc_auc", params.min_roc_auc), ("val_acc", params.min_accuracy)):
        for value in (floor - 1e-6, floor + 1e-6):
            scores = {**fine, name: value}
            held = bool(gate._floor_reasons({**scores, "brier": 0.1, "slices": []}, params))
            alerted = bool(events.alert_reasons(scores, None, alerts))
            assert held == alerted == (value < floor), (name, value)
    before = {**fine, "run_id": "before"}
    for drop in (params.max_roc_auc_drop - 1e-4, params.max_roc_auc_drop + 1e-4):
        after = {**fine, "roc_auc": fine["roc_auc"] - drop}
        alerted = bool(events.alert_reasons(after, before, alerts))
        assert alerted == (drop > params.max_roc_auc_drop), drop
    monkeypatch.setenv("GATE_MIN_ROC_AUC", "0.99")
    assert gate.GateParams.from_settings().min_roc_auc == 0.99
    assert events.AlertThresholds.from_settings().min_roc_auc == params.min_roc_auc


def test_a_step_reads_its_thresholds_from_the_environment(
    monkeypatch, trained_artifacts, tmp_path
) -> None:
    import shutil

    from tests.helpers import call_step

    work = shutil.copytree(trained_artifacts, tmp_path / "a")
    args = ["--artifacts", str(work), "--store", str(tmp_path / "s")]
    result = call_step("gate", *args, "--reports", str(tmp_path / "r"), GATE_MIN_ROC_AUC="0.99")
    assert result.returncode == 1
    roc_auc = json.loads((work / "metrics.json").read_text())["roc_auc"]
    assert f"roc_auc {roc_auc:.4f} < floor 0.99" in result.stderr


def test_readme_documents_every_setting_in_one_unbroken_table() -> None:
    """A blank line inside a Markdown table ends it: the rows after it render as text."""
    from tests.helpers import REPO

    readme = (REPO / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    lines = section.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("| variable |"))
    table = []
    for line in lines[first:]:
        if not line.startswith("|"):
            break
        table.append(line)
    documented = " ".join(table)
    for name in config.SETTINGS:
        assert f"`{name}`" in documented, f"{name} is not in README's configuration table"
