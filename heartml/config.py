"""Infrastructure settings: each comes from a flag, else the environment, else a default.

Model and gate parameters live with the code that uses them (``training``); this
module only answers "where" and "which run".
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from datetime import UTC, datetime

from heartml.errors import ConfigError

STORE_ENV = "PIPELINE_STORE"
# A new user needs no account: without a setting, a folder in the working tree is the store.
DEFAULT_STORE = "local-store"
STORE_TIMEOUT_ENV = "PIPELINE_STORE_TIMEOUT"
RUN_ID_ENV = "PIPELINE_RUN_ID"

_RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def store_uri(flag: str | None = None) -> str:
    """Return the store URI: the flag, else ``$PIPELINE_STORE``, else ``local-store``."""
    return flag or os.environ.get(STORE_ENV) or DEFAULT_STORE


def store_timeout() -> float:
    """Return the per-call store timeout in seconds (``$PIPELINE_STORE_TIMEOUT``, 60)."""
    raw = os.environ.get(STORE_TIMEOUT_ENV)
    if not raw:
        return 60.0
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{STORE_TIMEOUT_ENV}={raw!r} is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise ConfigError(f"{STORE_TIMEOUT_ENV}={raw!r} must be between 0 and 3600 seconds")
    return value


def run_id(flag: str | None = None) -> str:
    """Return this run's id, which names its archived model and metrics.

    Order: the flag, ``$PIPELINE_RUN_ID``, GitHub's ``run_id-run_attempt`` (a re-run
    of a workflow keeps its run id, so the attempt keeps archives apart), and last a
    UTC timestamp with a random suffix for local runs.
    """
    value = flag or os.environ.get(RUN_ID_ENV)
    if not value and os.environ.get("GITHUB_RUN_ID"):
        value = f"{os.environ['GITHUB_RUN_ID']}-{os.environ.get('GITHUB_RUN_ATTEMPT', '1')}"
    if not value:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        value = f"local-{stamp}-{secrets.token_hex(3)}"
    if not _RUN_ID_PATTERN.match(value):
        raise ConfigError(
            f"run id {value!r} must be 1-128 letters, digits, '.', '_' or '-' "
            "and start with a letter or digit"
        )
    return value


def git_commit() -> str | None:
    """Return the commit the code was built from, when it can be known."""
    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"]
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def env_float(name: str, default: float) -> float:
    """Return ``$name`` as a number, or ``default`` when unset; name it when malformed."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None


def env_flag(name: str) -> bool:
    """Return whether ``$name`` is set to true (``1``, ``true``, ``yes``; any case)."""
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes"}
