"""Every setting in one table: a flag, else the environment, else the project file, else a default.

``SETTINGS`` names each environment variable the pipeline reads, its type, its default
and the step flag that overrides it; ``FILE_KEYS`` the ones the project file may hold
(its thresholds); ``get`` reads one (naming it when malformed), ``add_flag`` and
``resolve`` give a step the same rule. Facts the platform sets (``GITHUB_RUN_ID``,
``GITHUB_SHA``, ``FUNCTION_TARGET``, ...) are read where they are used and are not settings.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
from pathlib import Path
from typing import Any, NamedTuple

from heartml import project_file
from heartml.errors import ConfigError


class Setting(NamedTuple):
    """One environment variable: its type, default, meaning and the flag that overrides it."""

    env: str
    kind: type
    default: Any
    help: str
    flag: str | None = None
    secret: bool = False  # never echoed back, even in an error
    choices: tuple[str, ...] | None = None


_GATE_MIN_ROC_AUC, _GATE_MIN_ACCURACY, _GATE_MAX_ROC_AUC_DROP = 0.80, 0.75, 0.02

SETTINGS: dict[str, Setting] = {
    s.env: s
    for s in (
        # A new user needs no account: unset, a folder in the working tree is the store.
        Setting(
            "PIPELINE_STORE", str, "local-store", "gs://BUCKET[/PREFIX] or a folder", "--store"
        ),
        Setting("PIPELINE_STORE_TIMEOUT", float, 60.0, "seconds per store call"),
        Setting(
            "PIPELINE_RUN_ID",
            str,
            None,
            "names the archived version (default: a new id)",
            "--run-id",
        ),
        # The working files one run passes from step to step.
        Setting(
            "PIPELINE_DATASET",
            Path,
            Path("artifacts/dataset.csv"),
            "the run's working copy of the dataset",
            "--path",
        ),
        Setting(
            "PIPELINE_ARTIFACTS",
            Path,
            Path("artifacts"),
            "the run's working folder: the candidate and its metrics",
            "--artifacts",
        ),
        Setting("PIPELINE_REPORTS", Path, Path("reports"), "the run's reports", "--reports"),
        Setting("DATASET_SOURCE", Path, Path("datasets/default.csv"), "CSV to publish", "--source"),
        Setting("DATASET_IF_MISSING", bool, False, "publish only if none is there", "--if-missing"),
        Setting("TRAIN_SEED", int, 42, "seeds the split and the classifier", "--seed"),
        Setting("TRAIN_TEST_SIZE", float, 0.2, "share of rows held out", "--test-size"),
        Setting("VALIDATE_MIN_ROWS", int, 100, "fewest rows accepted", "--min-rows"),
        Setting(
            "VALIDATE_MAX_MISSING_SHARE",
            float,
            0.10,
            "most missing per feature",
            "--max-missing-share",
        ),
        Setting(
            "VALIDATE_MAX_DUPLICATE_SHARE",
            float,
            0.05,
            "most rows repeating an earlier row",
            "--max-duplicate-share",
        ),
        Setting(
            "VALIDATE_EXTRA_COLUMNS",
            str,
            "warn",
            "warn or error",
            "--extra-columns",
            choices=("warn", "error"),
        ),
        Setting("VALIDATE_FAIL_ON_DRIFT", bool, False, "block on drift", "--fail-on-drift"),
        Setting("GATE_MIN_ROC_AUC", float, _GATE_MIN_ROC_AUC, "ROC AUC floor", "--min-roc-auc"),
        Setting("GATE_MIN_ACCURACY", float, _GATE_MIN_ACCURACY, "accuracy floor", "--min-accuracy"),
        Setting(
            "GATE_MAX_ROC_AUC_DROP",
            float,
            _GATE_MAX_ROC_AUC_DROP,
            "ROC AUC tolerance",
            "--max-roc-auc-drop",
        ),
        Setting("GATE_MAX_ACCURACY_DROP", float, 0.05, "accuracy tolerance", "--max-accuracy-drop"),
        Setting("GATE_CONFIDENCE", float, 0.95, "confidence of intervals", "--confidence"),
        Setting("GATE_MAX_BRIER", float, 0.25, "Brier score ceiling", "--max-brier"),
        Setting(
            "GATE_MIN_SLICE_ROC_AUC",
            float,
            0.70,
            "ROC AUC floor per slice",
            "--min-slice-roc-auc",
        ),
        Setting("GATE_MIN_SLICE_ROWS", int, 30, "rows to judge a slice", "--min-slice-rows"),
        Setting("ROLLBACK_TO", str, None, "run id to make live", "--to"),
        Setting("ROLLBACK_PREVIOUS", bool, False, "make the version before live", "--previous"),
        Setting("ROLLBACK_FORCE", bool, False, "allow a version the gate held back", "--force"),
        Setting("REPORT_PUBLISHED", bool, False, "say the model went live", "--published"),
        # The deployed revision's pin (served_model), and what steps.check_deploy expects.
        Setting("PORT", int, 8080, "the port steps.serve listens on (Cloud Run's too)", "--port"),
        Setting("MONITOR_ENABLED", bool, True, "count served traffic per bin"),
        Setting("MONITOR_EVERY_REQUESTS", int, 1000, "emit a window after this many requests"),
        Setting("MONITOR_EVERY_SECONDS", float, 300.0, "or after this many seconds"),
        Setting(
            "MONITOR_STORE", str, "monitoring-store", "the sink's bucket or a folder", "--from"
        ),
        Setting(
            "MONITOR_REPORTS", Path, Path("monitoring/reports"), "drift reports", "--report-dir"
        ),
        Setting("MONITOR_SINCE", str, None, "windows from this UTC date or time on", "--since"),
        Setting("MONITOR_PSI_THRESHOLD", float, 0.2, "PSI at which a feature drifted", "--psi"),
        Setting("MONITOR_P_VALUE", float, 0.01, "and the chi-squared p below this", "--p-value"),
        Setting("MONITOR_MIN_RECORDS", int, 200, "fewest records to judge", "--min-records"),
        Setting("MONITOR_MIN_BIN_COUNT", int, 10, "smaller bins are shown as <k", "--min-count"),
        Setting(
            "MONITOR_DISPATCH", bool, False, "retrain on drift if the data changed", "--dispatch"
        ),
        Setting("MONITOR_COOLDOWN_HOURS", float, 24.0, "one alert per drift in this time"),
        Setting("SERVED_RUN_ID", str, None, "the version the function serves", "--expect-run-id"),
        Setting("SERVED_MODEL_SHA256", str, None, "that version's model sha256", "--expect-sha256"),
        Setting("FUNCTION_URL", str, None, "the deployed function's URL", "--url"),
        Setting("FUNCTION_ID_TOKEN", str, "", "identity token to call it", secret=True),
        Setting("CHECK_DEPLOY_TIMEOUT_SECONDS", float, 180.0, "wait this long", "--timeout"),
        Setting(
            "SERVE_REQUEST_SECONDS",
            float,
            10.0,
            "a request's line, headers and body must all arrive within this",
        ),
        Setting(
            "SERVE_MAX_MISSING_SHARE",
            float,
            0.25,
            "most of a request's features that may be missing or unknown (imputed)",
        ),
        # The alerts' floors are the gate's, unless set apart.
        Setting("ALERT_MIN_ROC_AUC", float, _GATE_MIN_ROC_AUC, "alert below this ROC AUC"),
        Setting("ALERT_MIN_ACCURACY", float, _GATE_MIN_ACCURACY, "alert below this accuracy"),
        Setting("ALERT_MAX_DROP", float, _GATE_MAX_ROC_AUC_DROP, "alert on a larger fall"),
        Setting("NOTIFY_RETRY_ATTEMPTS", int, 4, "tries per downstream call"),
        Setting("NOTIFY_RETRY_BASE_SECONDS", float, 0.5, "first backoff"),
        Setting("NOTIFY_TIMEOUT_SECONDS", float, 10.0, "seconds per call"),
        Setting("NOTIFY_BUDGET_SECONDS", float, 30.0, "seconds for all tries"),
        Setting("NOTIFY_CLAIM_STALE_SECONDS", float, 120.0, "a claim older is abandoned"),
        Setting("GITHUB_REPOSITORY", str, "", "owner/repo to dispatch to or comment in"),
        Setting("PR_NUMBER", int, None, "the pull request to comment on", "--pr"),
        Setting(
            "GITHUB_TOKEN", str, "", "token for repository_dispatch or the comment", secret=True
        ),
        Setting("GITHUB_API_URL", str, "https://api.github.com", "GitHub's API"),
        Setting("GITHUB_SERVER_URL", str, "https://github.com", "GitHub, for run links"),
        Setting("SLACK_WEBHOOK_URL", str, "", "incoming webhook for alerts", secret=True),
        Setting("PIPELINE_PROJECT", Path, None, "the project file (default: the root's)"),
        # The workflows pass toJSON(vars): a threshold there is refused (the file holds it).
        Setting("REPOSITORY_VARIABLES", str, "", "the repository's variables, as JSON"),
        Setting(
            "API_DOCS_CHECK", bool, False, "only check the API documents are current", "--check"
        ),
    )
}

# The settings the project file holds: one source a pull request and a deploy share. A key
# is its variable's name in lower case under its section (GATE_MIN_ROC_AUC: gate.min_roc_auc).
# Settings the served function reads are not here: it reads no project file.
_SECTIONS = {"DATASET_": "dataset", "TRAIN_": "training", "VALIDATE_": "validation"}
_SECTIONS |= {"GATE_": "gate", "MONITOR_": "monitoring"}
_IN_FILE = (
    "DATASET_SOURCE", "TRAIN_SEED", "TRAIN_TEST_SIZE", "VALIDATE_MIN_ROWS",
    "VALIDATE_MAX_MISSING_SHARE", "VALIDATE_MAX_DUPLICATE_SHARE", "VALIDATE_EXTRA_COLUMNS",
    "VALIDATE_FAIL_ON_DRIFT", "GATE_MIN_ROC_AUC", "GATE_MIN_ACCURACY", "GATE_MAX_ROC_AUC_DROP",
    "GATE_MAX_ACCURACY_DROP", "GATE_CONFIDENCE", "GATE_MAX_BRIER", "GATE_MIN_SLICE_ROC_AUC",
    "GATE_MIN_SLICE_ROWS", "MONITOR_PSI_THRESHOLD", "MONITOR_P_VALUE", "MONITOR_MIN_RECORDS",
    "MONITOR_COOLDOWN_HOURS",
)  # fmt: skip
FILE_KEYS: dict[str, str] = {
    f"{section}.{name.removeprefix(prefix).lower()}": name
    for name in _IN_FILE
    for prefix, section in _SECTIONS.items()
    if name.startswith(prefix)
}
FILE_SECTIONS = frozenset(key.split(".")[0] for key in FILE_KEYS)
_SETTING_FILE_KEY = {name: key for key, name in FILE_KEYS.items()}


def get(name: str) -> Any:
    """Return setting ``name`` from the environment, else the project file, else its default."""
    setting = SETTINGS[name]
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return file_value(name)
    if setting.kind is bool:
        value = raw.strip().lower()
        if value in {"1", "true", "yes"}:
            return True
        if value in {"0", "false", "no"}:
            return False
        raise ConfigError(f"{name}={raw!r} is not true or false")
    if setting.kind is str:
        if setting.choices and raw not in setting.choices:
            raise ConfigError(f"{name}={raw!r} is not one of {', '.join(setting.choices)}")
        return raw
    try:
        return setting.kind(raw)
    except ValueError:
        shown = "(hidden)" if setting.secret else repr(raw)
        kind = "a whole number" if setting.kind is int else "a number"
        raise ConfigError(f"{name}={shown} is not {kind}") from None


def file_value(name: str) -> Any:
    """Return setting ``name`` as the project file gives it, else its built-in default."""
    key = _SETTING_FILE_KEY.get(name)
    if key is None:
        return SETTINGS[name].default
    path = project_file.path()
    section, field = key.split(".")
    value = project_file.read(path).get(section, {}).get(field)
    if value is None:
        return SETTINGS[name].default
    _check_file_value(path.name, key, value)
    if SETTINGS[name].kind is Path:
        return project_file.beside(path, value)
    return SETTINGS[name].kind(value)


def check_repository_variables() -> None:
    """Refuse a threshold set as a repository variable: the project file holds every one.

    A pull request and a deploy must judge alike; a variable that only one workflow
    passed made them differ. An override for one run is a flag or a step's environment.
    """
    raw = os.environ.get("REPOSITORY_VARIABLES", "").strip()
    try:
        variables = json.loads(raw) if raw else {}
    except ValueError:
        raise ConfigError("REPOSITORY_VARIABLES is not the JSON of toJSON(vars)") from None
    for key, name in FILE_KEYS.items():
        if isinstance(variables, dict) and str(variables.get(name) or "").strip():
            raise ConfigError(
                f"{name} is set as a repository variable: thresholds live in the project file, "
                f"so set {key} in project.toml and delete the variable"
            )


def overridden(args: argparse.Namespace | None, names: Any) -> dict[str, dict[str, Any]]:
    """The settings among ``names`` this run takes from a flag or the environment, not the file.

    Recorded in the version's metrics, so a version judged by other thresholds says so.
    """
    found = {}
    for name in names:
        flag = _flag_value(args, name)
        raw = os.environ.get(name, "").strip()
        if flag is not None or raw:
            value = resolve(args, name)
            found[name] = {
                "value": str(value) if isinstance(value, Path) else value,
                "from": "flag" if flag is not None else "environment",
                "file": _SETTING_FILE_KEY.get(name),
            }
    return found


def check_file_thresholds(document: dict[str, Any], file_name: str) -> None:
    """Refuse an unknown key or a badly typed value in the file's threshold sections."""
    for section in FILE_SECTIONS:
        table = document.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{file_name}: {section} must be a table")
        for field, value in table.items():
            if f"{section}.{field}" not in FILE_KEYS:
                raise ConfigError(f"{file_name}: {section}.{field} is not a key of [{section}]")
            _check_file_value(file_name, f"{section}.{field}", value)


def _check_file_value(file_name: str, key: str, value: Any) -> None:
    setting = SETTINGS[FILE_KEYS[key]]
    problem = project_file.type_problem(setting.kind, setting.choices, value)
    if problem:
        raise ConfigError(f"{file_name}: {key} = {ascii(value)[:60]} {problem}")


def _dest(name: str) -> str:
    return SETTINGS[name].flag.lstrip("-").replace("-", "_")


def add_flag(parser: argparse.ArgumentParser, name: str, *aliases: str, **kwargs: Any) -> None:
    """Add setting ``name``'s flag; unset, it falls back to the environment (``resolve``).

    ``aliases`` are further spellings one step keeps (``train --out``, ``download --dest``);
    they set the same value.
    """
    setting = SETTINGS[name]
    default = file_value(name)
    shown_default = "" if default in (None, "") else f", default {default}"
    key = _SETTING_FILE_KEY.get(name)
    shown_key = f", project file {key}" if key else ""
    help_text = f"{setting.help} (env {name}{shown_key}{shown_default})"
    flags = (setting.flag, *aliases)
    if setting.kind is bool:
        parser.add_argument(
            *flags, dest=_dest(name), action="store_true", default=None, help=help_text
        )
    else:
        parser.add_argument(
            *flags,
            dest=_dest(name),
            type=setting.kind,
            choices=setting.choices,
            help=help_text,
            **kwargs,
        )


def resolve(args: argparse.Namespace, name: str) -> Any:
    """Return the flag's value when given, else the environment's, else the default."""
    value = _flag_value(args, name)
    return get(name) if value is None else value


def _flag_value(args: argparse.Namespace | None, name: str) -> Any:
    """Setting ``name``'s flag as given on the command line; None when not given."""
    return getattr(args, _dest(name), None) if args and SETTINGS[name].flag else None


def setting(name: str) -> Any:
    """A settings group's field: its variable's name, and the file's value as its default."""
    return dataclasses.field(
        default_factory=functools.partial(file_value, name), metadata={"setting": name}
    )


class SettingsGroup:
    """Base of a params dataclass whose ``setting`` fields are read together, one rule for all.

    Each such field is read by its flag (in ``args``), else its environment variable,
    else its default; fields made otherwise (a model's ``C``) keep their own default.
    """

    @classmethod
    def settings(cls) -> dict[str, str]:
        """The group's fields that are settings, each with its variable's name."""
        return {
            field.name: field.metadata["setting"]
            for field in dataclasses.fields(cls)  # type: ignore[arg-type]
            if "setting" in field.metadata
        }

    @classmethod
    def from_settings(cls, args: Any = None) -> Any:
        """The group with each setting from its flag, environment or default."""
        return cls(**{field: resolve(args, name) for field, name in cls.settings().items()})


STORE_ENV = "PIPELINE_STORE"
STORE_TIMEOUT_ENV = "PIPELINE_STORE_TIMEOUT"
RUN_ID_ENV = "PIPELINE_RUN_ID"


def store_uri(flag: str | None = None) -> str:
    """Return the store URI: the flag, else ``$PIPELINE_STORE``, else ``local-store``."""
    return flag or get(STORE_ENV)


def store_timeout() -> float:
    """Return the per-call store timeout in seconds (``$PIPELINE_STORE_TIMEOUT``, 60)."""
    value = get(STORE_TIMEOUT_ENV)
    if not 0 < value <= 3600:
        raise ConfigError(f"{STORE_TIMEOUT_ENV}={value} must be between 0 and 3600 seconds")
    return value
