"""What names a version: the rule a run id follows, this run's id, the commit it was built from.

A run id names store files, so the rule lives on the ground floor, below the registry
that builds keys from it and the readers that check ids found in the store.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from datetime import UTC, datetime

from heartml import config
from heartml.errors import ConfigError

# A run id names store files: letters, digits, '.', '_', '-', starting with a letter or digit,
# so it can never climb out of the store ("../x") or name the pointer ("latest").
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
RESERVED_RUN_IDS = {"latest"}


def check_run_id(run_id: object) -> str:
    """Return ``run_id`` if it may name a version; raise ConfigError naming the rule if not."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id):
        raise ConfigError(
            f"run id {ascii(run_id)[:60]} must be 1-128 letters, digits, '.', '_' or '-' "
            "and start with a letter or digit"
        )
    if run_id.lower() in RESERVED_RUN_IDS:
        raise ConfigError(f"run id {run_id!r} is reserved: it names the promoted-version files")
    return run_id


def run_id(flag: str | None = None) -> str:
    """Return this run's id, which names its archived model and metrics.

    Order: the flag, ``$PIPELINE_RUN_ID``, GitHub's ``run_id-run_attempt`` (a re-run
    of a workflow keeps its run id, so the attempt keeps archives apart), and last a
    UTC timestamp with a random suffix for local runs.
    """
    value = flag or config.get(config.RUN_ID_ENV)
    if not value and os.environ.get("GITHUB_RUN_ID"):
        value = f"{os.environ['GITHUB_RUN_ID']}-{os.environ.get('GITHUB_RUN_ATTEMPT', '1')}"
    if not value:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        value = f"local-{stamp}-{secrets.token_hex(3)}"
    return check_run_id(value)


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
