"""The project file read and checked: the data contract, the model, the slices and the words.

One TOML file at the root (``project.toml``, or ``$PIPELINE_PROJECT``) says everything
specific to a dataset; ``heartml.features`` turns it into the constants the steps use,
and ``heartml.config`` reads its thresholds. TOML because the standard library reads it
(no dependency for a file every step opens), it keeps comments, and its numbers, text
and booleans are typed, so ``0`` and ``"0"`` never mean the same code by accident.

Every problem is one line naming the key and the value (``columns[3].role = 'numerc'
...``), raised as ConfigError when the file is loaded, before anything trains on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heartml import config, project_file
from heartml.contract import Direction, FeatureSpec
from heartml.errors import ConfigError

ROLES = ("numeric", "categorical", "ignored")
SIGNS = {"+": +1, "-": -1}
# The sections this module reads; config owns the threshold sections (config.FILE_SECTIONS).
SECTIONS = ("project", "label", "columns", "slices", "model", "behaviour_cases")
_KEYS = {
    "project": {"title", "intended_use", "limits"},
    "label": {"column", "positive", "means", "answers", "check_directions"},
    "column": {"name", "role", "description", "range", "codes", "unknown", "direction"},
    "direction": {"sign", "over", "evidence"},
    "slice": {"column", "names", "edges"},
    "model": {"estimator", "params"},
    "behaviour case": {"name", "answer", "record", "line", "evidence"},
}


@dataclass(frozen=True)
class Label:
    """The label column, which of its values are the positive class, and the answers' words."""

    column: str
    positive: tuple[Any, ...]
    means: str
    positive_answer: str
    negative_answer: str
    check_directions: bool


@dataclass(frozen=True)
class Slice:
    """A column the gate scores in parts: by code (``names``) or in bands (``edges``)."""

    column: str
    names: dict[int, str] | None
    edges: tuple[int | float, ...] | None


@dataclass(frozen=True)
class Case:
    """A clear-cut record every model must answer with ``answer``."""

    name: str
    answer: str
    record: dict[str, float]
    line: int | None
    evidence: dict[str, Any]


@dataclass(frozen=True)
class Project:
    """The project file, checked: what every step and page reads about the data and model."""

    path: Path
    title: str
    intended_use: tuple[str, ...]
    limits: tuple[str, ...]
    label: Label
    columns: tuple[FeatureSpec, ...]
    slices: tuple[Slice, ...]
    estimator: str
    params: dict[str, Any]
    cases: tuple[Case, ...]


def current() -> Project:
    """The project file the settings name (``$PIPELINE_PROJECT``, else the root's)."""
    return load(project_file.path())


def load(path: Path) -> Project:
    """Read and check one project file; ConfigError names the first bad key and value."""
    document = project_file.read(path)
    config.check_file_thresholds(document, path.name)
    where = _Where(path)
    unknown = set(document) - set(SECTIONS) - set(config.FILE_SECTIONS)
    if unknown:
        raise where.error(sorted(unknown)[0], "", "is not a section of a project file")
    about = where.table(document, "project", _KEYS["project"], required=True)
    columns = _columns(where, document.get("columns"))
    label = _label(
        where,
        where.table(document, "label", _KEYS["label"], required=True),
        {c.name: c for c in columns},
    )
    features = [c for c in columns if c.role != "ignored" and c.name != label.column]
    if not features:
        raise where.error("columns", "", "declares no feature (every column is ignored)")
    model = where.table(document, "model", _KEYS["model"], required=True)
    return Project(
        path=path,
        title=where.text(about, "project.title"),
        intended_use=where.texts(about, "project.intended_use"),
        limits=where.texts(about, "project.limits"),
        label=label,
        columns=tuple(columns),
        slices=_slices(where, document.get("slices", []), {c.name: c for c in features}),
        estimator=where.text(model, "model.estimator"),
        params=where.table(model, "params", None, required=False, prefix="model."),
        cases=_cases(where, document.get("behaviour_cases", []), features, label),
    )


class _Where:
    """Builds the one-line errors, each naming the file, the key and the value."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, key: str, value: Any, problem: str) -> ConfigError:
        shown = "" if value == "" else f" = {ascii(value)[:60]}"
        return ConfigError(f"{self.path.name}: {key}{shown} {problem}")

    def table(
        self,
        parent: dict[str, Any],
        key: str,
        allowed: set[str] | None,
        required: bool,
        prefix: str = "",
    ) -> dict[str, Any]:
        value = parent.get(key)
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            raise self.error(prefix + key, value if value is not None else "", "must be a table")
        for name in value:
            if allowed is not None and name not in allowed:
                raise self.error(f"{prefix}{key}.{name}", "", "is not a key of this table")
        return value

    def text(self, table: dict[str, Any], key: str, required: bool = True) -> str:
        value = table.get(key.rsplit(".", 1)[-1])
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, value if value is not None else "", "must be non-empty text")
        return value

    def texts(self, table: dict[str, Any], key: str) -> tuple[str, ...]:
        value = table.get(key.rsplit(".", 1)[-1], [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.error(key, value, "must be a list of non-empty text")
        return tuple(value)

    def tables(self, raw: Any, section: str, kind: str) -> list[tuple[str, dict[str, Any]]]:
        """A ``[[section]]`` list's tables, each with its key (``section[i]``), keys checked."""
        if not isinstance(raw, list):
            raise self.error(section, raw, f"must be a list of tables ([[{section}]])")
        found = []
        for i, item in enumerate(raw):
            key = f"{section}[{i}]"
            if not isinstance(item, dict):
                raise self.error(key, item, "must be a table")
            for name in item:
                if name not in _KEYS[kind]:
                    raise self.error(f"{key}.{name}", "", f"is not a key of a {kind}")
            found.append((key, item))
        return found

    def number(self, value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise self.error(key, value, "must be a number")
        return float(value)

    def code(self, value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, value, "must be a whole number (a code)")
        return value


def _columns(where: _Where, raw: Any) -> list[FeatureSpec]:
    if not isinstance(raw, list) or not raw:
        raise where.error("columns", "", "must list the dataset's columns ([[columns]])")
    columns: list[FeatureSpec] = []
    for key, item in where.tables(raw, "columns", "column"):
        name = where.text(item, f"{key}.name")
        if any(c.name == name for c in columns):
            raise where.error(f"{key}.name", name, "names a column already declared")
        role = item.get("role")
        if role not in ROLES:
            raise where.error(f"{key}.role", role, f"is not one of {', '.join(ROLES)}")
        columns.append(_column(where, key, item, name, role))
    return columns


def _column(where: _Where, key: str, item: dict[str, Any], name: str, role: str) -> FeatureSpec:
    low = high = None
    codes = unknown = None
    if "codes" in item:
        raw = item["codes"]
        if not isinstance(raw, list) or not raw:
            raise where.error(f"{key}.codes", raw, "must be a non-empty list of codes")
        codes = frozenset(where.code(code, f"{key}.codes") for code in raw)
    if "range" in item:
        raw = item["range"]
        if not isinstance(raw, list) or len(raw) != 2:
            raise where.error(f"{key}.range", raw, "must be [low, high]")
        low, high = (where.number(v, f"{key}.range") for v in raw)
        if low > high:
            raise where.error(f"{key}.range", raw, "must be [low, high] with low <= high")
    if role != "ignored" and (codes is None) == (low is None):
        raise where.error(key, name, "needs either a range or codes (not both)")
    if role == "categorical" and codes is None:
        raise where.error(key, name, "is categorical, so it lists its codes")
    if "unknown" in item:
        unknown = where.code(item["unknown"], f"{key}.unknown")
        if role != "numeric" or codes is None or unknown not in codes:
            raise where.error(f"{key}.unknown", unknown, "must be one of a numeric column's codes")
    direction = _direction(where, f"{key}.direction", item.get("direction"), role)
    return FeatureSpec(
        name=name,
        description=where.text(item, f"{key}.description"),
        low=low,
        high=high,
        codes=codes,
        unknown_code=unknown,
        direction=direction,
        role=role,
    )


def _direction(where: _Where, key: str, raw: Any, role: str) -> Direction | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise where.error(key, raw, "must be a table {sign, over, evidence}")
    for name in raw:
        if name not in _KEYS["direction"]:
            raise where.error(f"{key}.{name}", "", "is not a key of a direction")
    if role != "numeric":
        raise where.error(key, "", "is declared only on a numeric column (an ordered value)")
    sign = raw.get("sign")
    if sign not in SIGNS:
        raise where.error(f"{key}.sign", sign, 'must be "+" or "-"')
    over = raw.get("over")
    if not isinstance(over, list) or len(over) != 2:
        raise where.error(f"{key}.over", over, "must be [low, high]")
    low, high = (where.number(v, f"{key}.over") for v in over)
    if not low < high:
        raise where.error(f"{key}.over", over, "must be [low, high] with low < high")
    return Direction(SIGNS[sign], (low, high), where.text(raw, f"{key}.evidence", required=False))


def _label(where: _Where, raw: dict[str, Any], columns: dict[str, FeatureSpec]) -> Label:
    column = where.text(raw, "label.column")
    if column not in columns:
        raise where.error("label.column", column, "names no declared column")
    codes = columns[column].codes
    positive = raw.get("positive")
    if not isinstance(positive, list) or not positive:
        raise where.error("label.positive", positive, "must list the label's positive value(s)")
    for value in positive:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise where.error("label.positive", value, "must be numbers or text")
        if codes is not None and value not in codes:
            raise where.error("label.positive", value, f"is not one of {column}'s codes")
    answers = where.table(raw, "answers", {"positive", "negative"}, required=True, prefix="label.")
    positive_answer = where.text(answers, "label.answers.positive")
    negative_answer = where.text(answers, "label.answers.negative")
    if positive_answer == negative_answer:
        raise where.error("label.answers", positive_answer, "must be two different words")
    check = raw.get("check_directions", True)
    if not isinstance(check, bool):
        raise where.error("label.check_directions", check, "must be true or false")
    return Label(
        column=column,
        positive=tuple(positive),
        means=where.text(raw, "label.means"),
        positive_answer=positive_answer,
        negative_answer=negative_answer,
        check_directions=check,
    )


def _slices(where: _Where, raw: Any, features: dict[str, FeatureSpec]) -> tuple[Slice, ...]:
    slices = []
    for key, item in where.tables(raw, "slices", "slice"):
        column = where.text(item, f"{key}.column")
        if column not in features:
            raise where.error(f"{key}.column", column, "names no feature")
        spec = features[column]
        names = edges = None
        if "names" in item:
            if spec.codes is None:
                raise where.error(f"{key}.names", "", "needs a column with codes")
            table = where.table(item, "names", None, required=True, prefix=f"{key}.")
            names = {}
            for code in table:
                if not code.lstrip("-").isdigit() or int(code) not in spec.codes:
                    raise where.error(f"{key}.names.{code}", "", f"is not a code of {column}")
                names[int(code)] = where.text(table, f"{key}.names.{code}")
        if "edges" in item:
            values = item["edges"]
            if not isinstance(values, list) or not values:
                raise where.error(f"{key}.edges", values, "must be a non-empty list of numbers")
            edges = tuple(values)
            for value in edges:
                where.number(value, f"{key}.edges")
            if list(edges) != sorted(set(edges)):
                raise where.error(f"{key}.edges", values, "must rise strictly")
        if (names is None) == (edges is None):
            raise where.error(key, column, "gives either names (by code) or edges (bands)")
        slices.append(Slice(column, names, edges))
    return tuple(slices)


def _cases(where: _Where, raw: Any, features: list[FeatureSpec], label: Label) -> tuple[Case, ...]:
    specs = {spec.name: spec for spec in features}
    cases = []
    for key, item in where.tables(raw, "behaviour_cases", "behaviour case"):
        name = where.text(item, f"{key}.name")
        answer = item.get("answer")
        if answer not in (label.positive_answer, label.negative_answer):
            raise where.error(
                f"{key}.answer",
                answer,
                f"must be {label.positive_answer!r} or {label.negative_answer!r}",
            )
        record = where.table(item, "record", None, required=True, prefix=f"{key}.")
        for column, value in record.items():
            spec = specs.get(column)
            if spec is None:
                raise where.error(f"{key}.record.{column}", "", f"({name}) names no feature")
            if not spec.is_valid(where.number(value, f"{key}.record.{column}")):
                raise where.error(
                    f"{key}.record.{column}", value, f"({name}) must be {spec.limits()}"
                )
        absent = [spec.name for spec in features if spec.name not in record]
        if absent:
            raise where.error(f"{key}.record", "", f"({name}) gives no value for {absent[0]}")
        line = item.get("line")
        if line is not None:
            where.code(line, f"{key}.line")
        evidence = item.get("evidence", {})
        if not isinstance(evidence, dict):
            raise where.error(f"{key}.evidence", evidence, "must be a table")
        cases.append(
            Case(name, answer, {c: float(v) for c, v in record.items()}, line, dict(evidence))
        )
    return tuple(cases)
