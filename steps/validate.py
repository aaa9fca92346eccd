"""Check the dataset before training: ``python -m steps.validate --path artifacts/dataset.csv``.

Writes ``reports/validation.json``; exits 1 naming every failing check. Drift against
the data the live model was trained on is reported, and blocks only with
``--fail-on-drift`` (or ``VALIDATE_FAIL_ON_DRIFT=true``).
"""

from __future__ import annotations

import argparse
import logging

from heartml import config
from heartml.data import validation
from heartml.store import run_folder
from steps._cli import run

log = logging.getLogger("steps.validate")
FLAGS = (
    "PIPELINE_DATASET",
    config.STORE_ENV,
    "PIPELINE_REPORTS",
    *validation.ValidationParams.settings().values(),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in FLAGS:
        config.add_flag(parser, name)
    args = parser.parse_args(argv)

    def body() -> None:
        path = config.resolve(args, "PIPELINE_DATASET")
        params = validation.ValidationParams.from_settings(args)
        report = validation.validate_file(path, config.store_uri(args.store), params)
        run_folder.write_report(
            config.resolve(args, "PIPELINE_REPORTS"), run_folder.VALIDATION_REPORT, report.to_dict()
        )
        for finding in report.warnings:
            log.warning("%s", finding.line())
        if report.drift is not None:
            log.info("drift against the live model's data: %s", report.drift["drifted"] or "none")
        for finding in report.errors:
            log.error("%s", finding.line())
        report.raise_if_failed(str(path))
        log.info("%s passed every check (%d rows)", path, report.rows)

    return run("validate", body)


if __name__ == "__main__":
    raise SystemExit(main())
