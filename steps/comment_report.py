"""Post the run report as one pull-request comment: ``python -m steps.comment_report --pr N``.

Edits the same comment on later pushes (found by a hidden marker). Needs
``GITHUB_REPOSITORY`` and ``GITHUB_TOKEN`` (the job's token, ``pull-requests: write``).
A comment GitHub refuses (a fork's read-only token) or cannot take (GitHub down) is a
warning, not a failed evaluation: the report is on the run page either way.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from heartml import config
from heartml.errors import ConfigError, DownstreamRefused, DownstreamUnavailable
from heartml.ops import pull_request
from heartml.ops.downstream import RetryPolicy
from heartml.views import run_summary
from steps._cli import annotation_text, run

log = logging.getLogger("steps.comment_report")


def comment_step(number: int | None, reports: Path, artifacts_dir: Path) -> str:
    """Render the report and post it; return what happened."""
    repository, token = config.get("GITHUB_REPOSITORY"), config.get("GITHUB_TOKEN").strip()
    if number is None or not repository or not token:
        raise ConfigError("set --pr (or PR_NUMBER), GITHUB_REPOSITORY and GITHUB_TOKEN")
    text = run_summary.render_run(reports, artifacts_dir)
    api = config.get("GITHUB_API_URL").rstrip("/")
    try:
        outcome = pull_request.post_report(
            api, repository, number, token, text, RetryPolicy.from_settings()
        )
    except (DownstreamRefused, DownstreamUnavailable) as exc:
        log.warning("report not commented on pull request #%d: %s", number, exc)
        if os.environ.get("GITHUB_ACTIONS") == "true":
            print(f"::warning title=report comment::{annotation_text(exc)}", file=sys.stderr)
        return "not commented"
    log.info("report comment %s on pull request #%d", outcome, number)
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    names = ("PR_NUMBER", "PIPELINE_REPORTS", "PIPELINE_ARTIFACTS")
    for name in names:
        config.add_flag(parser, name)
    args = parser.parse_args(argv)
    return run("comment_report", lambda: comment_step(*(config.resolve(args, n) for n in names)))


if __name__ == "__main__":
    raise SystemExit(main())
