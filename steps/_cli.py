"""What every step shares: logging, and turning a PipelineError into a one-line exit."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

from heartml import config, project
from heartml.errors import ConfigError, PipelineError
from heartml.logs import OneLineFormatter

log = logging.getLogger("steps")


def set_outputs(**values: str) -> None:
    """Hand values to later workflow steps (``steps.<id>.outputs.<name>``); no-op elsewhere."""
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as outputs:
        for name, value in values.items():
            if "\n" in value or "\r" in value:
                raise ValueError(f"output {name} must be one line")
            outputs.write(f"{name}={value}\n")


def annotation_text(exc: Exception) -> str:
    """Escape a message for a workflow command, so text it quotes cannot start a command."""
    text = str(exc)
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def check_project() -> None:
    """Exit 2 in one line on a bad project file or a threshold set as a repository variable."""
    try:
        project.current()
        config.check_repository_variables()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if os.environ.get("GITHUB_ACTIONS") == "true":
            print(f"::error title=settings::{annotation_text(exc)}", file=sys.stderr)
        raise SystemExit(2) from None


def run(step: str, main: Callable[[], None]) -> int:
    """Run a step's body; on a PipelineError log one line, annotate GitHub, return 1."""
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    try:
        main()
    except PipelineError as exc:
        log.error("%s failed: %s", step, exc)
        if os.environ.get("GITHUB_ACTIONS") == "true":
            # Shows the reason on the run's page, not only in the log.
            print(f"::error title={step} failed::{annotation_text(exc)}", file=sys.stderr)
        return 1
    return 0
