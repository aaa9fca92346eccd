"""Any value as one line of printable text: what the card's data and every view start from.

It stands on the ground floor because the model wing keeps such text in the card's JSON
and the views wing escapes it into Markdown (``views.markdown``); neither may import
the other's way up.
"""

from __future__ import annotations

from typing import Any


def plain(value: Any, limit: int | None = None) -> str:
    """A value as one line of text (floats to 4 places), before any escaping, cut to ``limit``."""
    if isinstance(value, float):
        text = f"{value:.4f}"
    elif isinstance(value, dict):
        text = ", ".join(f"{k}={v}" for k, v in value.items())
    elif isinstance(value, list | tuple):
        text = ", ".join(map(str, value)) or "none"
    else:
        text = "—" if value is None else str(value)
    return "".join(c if c.isprintable() else " " for c in text)[:limit]
