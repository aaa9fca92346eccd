"""Where the project file is and how its TOML is read: below the settings, which read it too.

``heartml.config`` takes its thresholds from it (flag > environment > file > built-in)
and ``heartml.project`` the rest; both read the one parse cached here, renewed when the
file changes.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from heartml.errors import ConfigError

PROJECT_ENV = "PIPELINE_PROJECT"
ROOT_PROJECT = Path(__file__).resolve().parents[1] / "project.toml"


def path() -> Path:
    """The project file: ``$PIPELINE_PROJECT``, else ``project.toml`` at the repository's root."""
    raw = os.environ.get(PROJECT_ENV, "").strip()
    return Path(raw) if raw else ROOT_PROJECT


def read(file: Path) -> dict[str, Any]:
    """The file's TOML as a dict; ConfigError names a missing file or a syntax error in one line."""
    try:
        stat = file.stat()
    except OSError:
        raise ConfigError(
            f"no project file at {file} (set {PROJECT_ENV}, or restore project.toml)"
        ) from None
    return _parsed(str(file), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _parsed(file: str, _mtime_ns: int, _size: int) -> dict[str, Any]:
    import tomllib  # here: the served function never reads the file

    try:
        with open(file, "rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{Path(file).name}: {exc}") from None


def type_problem(kind: type, choices: tuple[str, ...] | None, value: Any) -> str | None:
    """Say why a value from the file cannot be of ``kind``; None when it can."""
    if kind is bool:
        return None if isinstance(value, bool) else "must be true or false"
    if kind in (str, Path):
        if not isinstance(value, str) or not value.strip():
            return "must be text"
        if choices and value not in choices:
            return f"is not one of {', '.join(choices)}"
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "must be a whole number" if kind is int else "must be a number"
    if kind is int and not isinstance(value, int):
        return "must be a whole number"
    return None


def beside(file: Path, value: str) -> Path:
    """A path the file gives, read from the file's folder (shown relative to here if it can)."""
    found = file.parent / value
    try:
        return found.relative_to(Path.cwd())
    except ValueError:
        return found
