"""Write the run's Markdown summary: ``python -m steps.report``.

Appends to ``$GITHUB_STEP_SUMMARY`` on GitHub Actions, else writes
``reports/summary.md``. Runs whatever happened before it, so it reads only the
files earlier steps left and never fails the run on its own.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from heartml import config
from heartml.store import run_folder
from heartml.views import run_summary
from steps._cli import run

log = logging.getLogger("steps.report")


def report_step(reports: Path, artifacts_dir: Path, published: bool) -> Path:
    """Render the summary from ``reports/`` and the artifacts; return where it went."""
    text = run_summary.render_run(reports, artifacts_dir, published=published)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    target = Path(summary) if summary else reports / run_folder.SUMMARY_REPORT
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a" if summary else "w") as handle:
        handle.write(text + "\n")
    log.info("run summary written to %s", target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("PIPELINE_REPORTS", "PIPELINE_ARTIFACTS", "REPORT_PUBLISHED"):
        config.add_flag(parser, name)
    args = parser.parse_args(argv)
    return run(
        "report",
        lambda: report_step(
            *(config.resolve(args, n) for n in ("PIPELINE_REPORTS", "PIPELINE_ARTIFACTS")),
            config.resolve(args, "REPORT_PUBLISHED"),
        ),
    )


if __name__ == "__main__":
    raise SystemExit(main())
