"""Text from a store, a dataset or a server, made inert before it joins Markdown people read.

Every renderer (the run summary, the pull-request comment, the model card, the monitor's
report, the dashboard) puts such text through ``cell`` or ``code``, and every score
through ``number``, ``with_interval`` or ``paired``: whoever wrote the
bucket or the CSV can then neither mention a team, link a page, format, nor reference an
issue there. Backslash escapes cover Markdown's punctuation (CommonMark allows one before
any ASCII punctuation); GitHub finds mentions, issue references and bare links in the
rendered text, after escapes are gone, so those get a zero-width space that breaks them.
"""

from __future__ import annotations

import re
from typing import Any

from heartml.text import plain

_ESCAPED = frozenset("\\`*_{}[]()<>#!|~&$")
_BREAK = "\u200b"  # zero-width space: invisible, but no mention, reference or link spans it
# Where GitHub would see a mention, an issue reference or a bare link: broken visibly nowhere.
_BROKEN = {"@": f"@{_BREAK}", "\\#": f"\\#{_BREAK}", "://": f":{_BREAK}//", "www.": f"www{_BREAK}."}
# GitHub also reads "GH-26" as an issue and a standalone run of 7-40 hex digits as a commit.
_GH_REFERENCE = re.compile(r"(?i)\b(gh)(-\d)")
_COMMIT_LIKE = re.compile(r"(?<![0-9A-Za-z_])(?=[0-9]*[a-fA-F])[0-9a-fA-F]{7,40}(?![0-9A-Za-z_])")
_LIST_START = re.compile(r"^(\d+)([.)])(?=\s|$)")  # "1." or "1)" at the start would open a list


def cell(value: Any, limit: int = 100) -> str:
    """``value`` as one line of inert Markdown text, cut to ``limit`` characters."""
    text = plain(value).strip()  # leading spaces would make a code block or a nested list
    text = text[:limit] + ("…" if len(text) > limit else "")
    escaped = "".join(f"\\{c}" if c in _ESCAPED else c for c in text)
    escaped = _LIST_START.sub(r"\1\\\2", escaped)
    if escaped[:1] in ("-", "+", "=", ">"):
        escaped = "\\" + escaped
    for mark, broken in _BROKEN.items():
        escaped = escaped.replace(mark, broken)
    escaped = _GH_REFERENCE.sub(lambda m: f"{m[1]}{_BREAK}{m[2]}", escaped)
    return _COMMIT_LIKE.sub(lambda m: f"{m[0][:6]}{_BREAK}{m[0][6:]}", escaped)


def code(value: Any, limit: int = 64) -> str:
    """``value`` as an inline code span (a hash, a commit): nothing inside one is live."""
    text = "".join(c for c in plain(value) if c not in "`|\\")
    return f"`{text[:limit] or ' '}`"


def number(value: Any, digits: int = 4) -> str:
    """A score as shown everywhere: fixed digits, "—" when absent, anything else a cell."""
    if value is None:
        return "—"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.{digits}f}"
    return cell(value)


def with_interval(value: Any, interval: Any, digits: int = 4) -> str:
    """A score and its interval: ``0.9012 (0.8700 to 0.9300)``; the score alone without one."""
    shown = number(value, digits)
    if isinstance(interval, list | tuple) and len(interval) == 2:
        shown += f" ({number(interval[0], digits)} to {number(interval[1], digits)})"
    return shown


def paired(part: dict[str, Any] | None) -> str:
    """A paired difference candidate - live, signed, with its interval: "—" when not computed."""
    part = part or {}
    if "difference" not in part:
        return "—"
    shown = f"{part['difference']:+.4f}"
    interval = part.get("interval")
    return shown + (f" ({interval[0]:+.4f} to {interval[1]:+.4f})" if interval else "")


def fact(value: Any) -> str:
    """A fact as a table shows it: long hashes cut to 12 digits (comparisons use them whole)."""
    text = "" if value is None else str(value)
    is_hash = len(text) >= 40 and all(c in "0123456789abcdef" for c in text)
    return f"{text[:12]}…" if is_hash else text
