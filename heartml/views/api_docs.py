"""The API's documents, written from the project file: ``openapi.yaml`` and the sample request.

The function answers by its model file's contract, which training takes from the project
file; these documents take the same columns, words and limits from the same file, through
``openapi_template.yaml`` beside this module. ``python -m steps.api_docs`` writes them and a
test fails when the committed ones are stale.
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path
from typing import Any

from heartml.contract import FeatureSpec
from heartml.features import CONTRACT, PROJECT, SPECS
from heartml.serving.api import MAX_MISSING_SHARE

TEMPLATE = Path(__file__).with_name("openapi_template.yaml")
OPENAPI_FILE = "openapi.yaml"
SAMPLE_FILE = Path("datasets") / "sample_request.json"
GENERATED = (
    "# Generated from project.toml by `make api-docs` (python -m steps.api_docs): edit the\n"
    "# project file or heartml/views/openapi_template.yaml, then regenerate; never this file."
)


def sample_record() -> dict[str, float | int]:
    """The example request: the first behaviour case, else each feature's middle value."""
    if PROJECT.cases:
        values = PROJECT.cases[0].record
    else:
        values = {spec.name: _middle(spec) for spec in CONTRACT.features}
    return {name: _number(values[name]) for name in _dataset_order()}


def sample_json() -> str:
    """The sample request file's text."""
    return json.dumps(sample_record(), indent=2) + "\n"


def openapi() -> str:
    """``openapi.yaml``'s text for the project file in force."""
    features = CONTRACT.features
    unknown = [f"`{s.name}` {s.unknown_code}" for s in features if s.unknown_code is not None]
    values = {
        "generated": GENERATED,
        "title": PROJECT.title,
        "means": CONTRACT.means,
        "positive": CONTRACT.answers[1],
        "negative": CONTRACT.answers[0],
        "answers": _answers(),
        "intended_use": _paragraphs(),
        "example": _example(),
        "missing_allowed": str(math.floor(MAX_MISSING_SHARE * len(features))),
        "feature_count": str(len(features)),
        "unknown_codes": f" ({', '.join(unknown)} is unknown)" if unknown else "",
        "imputed_codes": f" (or an unknown code: {', '.join(unknown)})" if unknown else "",
        "required": ", ".join(_key(name) for name in _dataset_order()),
        "properties": "\n".join(_property(spec) for spec in features),
    }
    text = TEMPLATE.read_text()
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", value)
    return text


def write(folder: Path, *, check: bool = False) -> list[Path]:
    """Write both documents under ``folder`` (the project file's); return those that changed.

    With ``check`` nothing is written: the list names the documents that are stale.
    """
    changed = []
    for relative, text in ((Path(OPENAPI_FILE), openapi()), (SAMPLE_FILE, sample_json())):
        path = folder / relative
        if path.exists() and path.read_text() == text:
            continue
        changed.append(path)
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return changed


def _dataset_order() -> list[str]:
    """The features in the dataset's column order, as a record is written."""
    return [column.name for column in PROJECT.columns if column.name in CONTRACT.specs]


def _answers() -> str:
    shown = " or ".join(repr(v) if isinstance(v, str) else f"{v:g}" for v in CONTRACT.positive)
    text = (
        f"`probability` is always the model's probability of {CONTRACT.means}, and `diagnosis` "
        f"is `{CONTRACT.answers[1]}` when it is above 0.5, else `{CONTRACT.answers[0]}`. (The "
        f"data's `{CONTRACT.label}` {shown} is {CONTRACT.means}. Versions trained before the "
        "label coding was recorded are still served, their answers turned the right way round; "
        "GET shows which coding the live one has.)"
    )
    return "\n".join(
        textwrap.wrap(
            text, 96, initial_indent="    ", subsequent_indent="    ", break_on_hyphens=False
        )
    )


def _paragraphs() -> str:
    lines = []
    for heading, items in (("Intended use", PROJECT.intended_use), ("Not for", PROJECT.limits)):
        for item in items:
            lines += textwrap.wrap(f"{heading}: {item}", 96, initial_indent="    ",
                                   subsequent_indent="    ", break_on_hyphens=False)  # fmt: skip
    return "\n".join(lines)


def _example() -> str:
    pairs = [f"{_key(k)}: {json.dumps(v)}" for k, v in sample_record().items()]
    wrapped = textwrap.wrap("{" + ", ".join(pairs) + "}", 96 - 16, break_on_hyphens=False)
    first, *rest = wrapped
    return "\n".join([f"                value: {first}", *(" " * 24 + line for line in rest)])


def _property(spec: FeatureSpec) -> str:
    if spec.codes is not None:
        allowed = f"enum: [{', '.join(str(c) for c in sorted(spec.codes))}, null]"
    else:
        allowed = f"minimum: {_number(spec.low)}, maximum: {_number(spec.high)}"
    shown = json.dumps(SPECS[spec.name].description)
    fields = f"type: number, nullable: true, {allowed}, description: {shown}"
    return f"        {_key(spec.name)}: {{{fields}}}"


def _key(name: str) -> str:
    """A column name as a YAML key: bare when plain, quoted otherwise."""
    return name if name.replace("_", "").isalnum() and not name[0].isdigit() else json.dumps(name)


def _middle(spec: FeatureSpec) -> float:
    if spec.codes is not None:
        return sorted(spec.codes)[0]
    return (spec.low + spec.high) / 2


def _number(value: Any) -> float | int:
    return int(value) if float(value).is_integer() else float(value)
