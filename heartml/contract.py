"""The data contract: what a valid value of a column is, how a marker moves, what a model reads.

The project file declares it (``heartml.project``); the steps read it through
``heartml.features``; every model file records the ``Contract`` it was trained for, and
the served function parses requests and words its answers by that record alone, so it
reads no project file and never feeds a model columns it was not built for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# The answers of every model file written before files recorded their contract: the words
# of this template's first example, the only contract there was.
LEGACY_ANSWERS = {0: "clear", 1: "heart-disease"}
LEGACY_MEANS = "heart disease"
ROLES = ("numeric", "categorical")


@dataclass(frozen=True)
class Direction:
    """How a feature moves with the positive class in the data, other things aside.

    ``sign`` is +1 when higher values go with more of the positive class and -1 when
    with less; ``over`` is the span of values it holds for; ``evidence`` the class means
    behind it. Tests and the gate hold the model to it; validation checks the label.
    """

    sign: int
    over: tuple[float, float]
    evidence: str


@dataclass(frozen=True)
class FeatureSpec:
    """What a valid value of one column looks like, and how the model reads it.

    Numeric columns have an inclusive plausible range (wide limits, not the training
    data's extremes) or a set of codes; categorical columns have the codes they may take.
    """

    name: str
    description: str
    low: float | None = None
    high: float | None = None
    codes: frozenset[int] | None = None
    unknown_code: int | None = None
    direction: Direction | None = None
    role: str = "numeric"

    def is_valid(self, value: float) -> bool:
        """Tell whether one non-missing value is plausible for this column."""
        if self.codes is not None:
            return float(value).is_integer() and int(value) in self.codes
        return self.low <= value <= self.high

    def limits(self) -> str:
        """Say in words what values are plausible, for error messages."""
        if self.codes is not None:
            return "one of " + ", ".join(str(code) for code in sorted(self.codes))
        return f"between {self.low:g} and {self.high:g}"

    def is_unknown(self, value: float | None) -> bool:
        """Tell whether the model will impute this value: missing, or the "unknown" code."""
        return value is None or (self.unknown_code is not None and value == self.unknown_code)

    def valid(self, values: np.ndarray) -> np.ndarray:
        """Tell, value by value, which non-missing values are plausible (one pass, no loop)."""
        import numpy as np  # here: steps that only move files never import numpy

        if self.codes is not None:
            return np.isin(values, np.array(sorted(self.codes), dtype=float))
        return (values >= self.low) & (values <= self.high)


@dataclass(frozen=True)
class Contract:
    """What a model was built for: its features in the model's order, its label, its words.

    ``answers`` names class 0 and class 1 as the API says them; ``positive`` lists the
    label values that are class 1; ``means`` says what class 1 is ("heart disease").
    """

    features: tuple[FeatureSpec, ...]
    label: str | None
    positive: tuple[Any, ...]
    answers: dict[int, str]
    means: str

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.features)

    @cached_property
    def specs(self) -> dict[str, FeatureSpec]:
        return {spec.name: spec for spec in self.features}

    def class_1_is_positive(self, coding: dict[str, Any]) -> bool:
        """Tell which way a recorded label coding points; refuse one of other words."""
        meaning = coding.get("class_1")
        if meaning not in self.answers.values():
            names = " or ".join(repr(name) for name in self.answers.values())
            raise ValueError(f"its label coding is missing or unknown (class_1 must be {names})")
        return meaning == self.answers[1]

    def to_record(self) -> dict[str, Any]:
        """The contract as plain JSON values, as a model file keeps it."""
        return {
            "features": [_spec_record(spec) for spec in self.features],
            "label": {
                "column": self.label,
                "positive": list(self.positive),
                "answers": {"negative": self.answers[0], "positive": self.answers[1]},
                "means": self.means,
            },
        }

    @classmethod
    def from_record(cls, record: Any) -> Contract:
        """Read a model file's contract; ValueError says in a few words what is wrong."""
        if not isinstance(record, dict) or not isinstance(record.get("features"), list):
            raise ValueError("its contract has no list of features")
        specs = [_spec_from_record(item) for item in record["features"]]
        if not specs or len({spec.name for spec in specs}) != len(specs):
            raise ValueError("its contract's features are empty or repeat a name")
        label = record.get("label")
        answers = label.get("answers") if isinstance(label, dict) else None
        if not isinstance(answers, dict) or not all(
            isinstance(answers.get(k), str) and answers[k] for k in ("negative", "positive")
        ):
            raise ValueError("its contract names no two answer words")
        positive = label.get("positive")
        return cls(
            features=tuple(specs),
            label=str(label.get("column")),
            positive=tuple(positive) if isinstance(positive, list) else (),
            answers={0: answers["negative"], 1: answers["positive"]},
            means=str(label.get("means") or answers["positive"]),
        )

    @classmethod
    def legacy(cls, metadata: dict[str, Any], linear: dict[str, Any] | None) -> Contract:
        """The contract of a file written before contracts were recorded, from what it keeps.

        Its feature names (``features``), their roles and codes from the fast path's
        parameters and the training codes (``feature_ranges``); it kept no plausible
        ranges, so any finite value of a measurement is taken (and flagged out of range).
        """
        names = metadata.get("features")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise ValueError("it records neither a contract nor its features")
        ranges = metadata.get("feature_ranges") or {}
        numeric = (linear or {}).get("numeric") or {}
        coded = (linear or {}).get("coded") or {}
        specs = []
        for name in names:
            seen = ranges.get(name) if isinstance(ranges.get(name), dict) else {}
            unknown = numeric.get(name, {}).get("unknown")
            codes = [float(k) for k in coded[name]["weights"]] if name in coded else None
            codes = codes or seen.get("codes")
            code_set = None
            if codes is not None:
                code_set = frozenset(int(c) for c in [*codes, *([unknown] if unknown else [])])
            specs.append(
                FeatureSpec(
                    name=name,
                    description=name,
                    low=None if code_set else -math.inf,
                    high=None if code_set else math.inf,
                    codes=code_set,
                    unknown_code=None if unknown is None else int(unknown),
                    role="categorical" if name in coded else "numeric",
                )
            )
        coding = metadata.get("label_coding") or {}
        return cls(tuple(specs), coding.get("column"), (), dict(LEGACY_ANSWERS), LEGACY_MEANS)


def _spec_record(spec: FeatureSpec) -> dict[str, Any]:
    record: dict[str, Any] = {"name": spec.name, "role": spec.role, "description": spec.description}
    if spec.codes is not None:
        record["codes"] = sorted(spec.codes)
    else:
        record["range"] = [spec.low, spec.high]
    if spec.unknown_code is not None:
        record["unknown"] = spec.unknown_code
    return record


def _spec_from_record(item: Any) -> FeatureSpec:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
        raise ValueError("its contract has a feature without a name")
    name = item["name"][:64]
    if item.get("role") not in ROLES:
        raise ValueError(f"its contract gives {name!r} no role")
    codes, bounds = item.get("codes"), item.get("range")
    if isinstance(codes, list) and codes and all(_whole(c) for c in codes):
        low = high = None
        code_set: frozenset[int] | None = frozenset(int(c) for c in codes)
    elif isinstance(bounds, list) and len(bounds) == 2 and all(_number(b) for b in bounds):
        (low, high), code_set = (float(b) for b in bounds), None
    else:
        raise ValueError(f"its contract gives {name!r} neither codes nor a range")
    unknown = item.get("unknown")
    if unknown is not None and not (_whole(unknown) and code_set and int(unknown) in code_set):
        raise ValueError(f"its contract gives {name!r} an unknown code it does not list")
    return FeatureSpec(
        name=name,
        description=str(item.get("description") or name),
        low=low,
        high=high,
        codes=code_set,
        unknown_code=None if unknown is None else int(unknown),
        role=item["role"],
    )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _whole(value: Any) -> bool:
    return _number(value) and float(value).is_integer()
