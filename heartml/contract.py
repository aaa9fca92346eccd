"""The data contract's parts: what a valid value of a column is, and how a marker moves.

The project file declares them (``heartml.project``); the steps read them through
``heartml.features``; validation, training, the gate and serving all judge by them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


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
