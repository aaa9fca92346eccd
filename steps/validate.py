"""Check the dataset before training: ``python -m steps.validate --path datasets/default.csv``.

Writes ``reports/validation.json``; exits 1 naming every failing check. Drift against
the data the live model was trained on is reported, and blocks only with
``--fail-on-drift`` (or ``VALIDATE_FAIL_ON_DRIFT=true``).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from heartml import artifacts, config, registry, validation
from heartml.dataset import read_dataset
from heartml.errors import DatasetError, PipelineError
from heartml.store import open_store
from steps._cli import run

log = logging.getLogger("steps.validate")


def validate_step(
    path: Path, store_uri: str, reports: Path, params: validation.ValidationParams
) -> validation.ValidationReport:
    """Validate ``path``, compare it with the live model's data, write the report."""
    frame = read_dataset(path)
    reference = None
    try:
        store = open_store(store_uri, timeout=config.store_timeout())
        live_data = registry.live_training_dataset(store)
        if live_data is not None:
            reference = read_dataset(live_data, "the live model's dataset")
    except PipelineError as exc:
        log.warning("drift not measured: %s", exc)
    report = validation.validate(frame, params, reference)
    reports.mkdir(parents=True, exist_ok=True)
    (reports / artifacts.VALIDATION_REPORT).write_text(
        json.dumps(report.to_dict(), indent=2) + "\n"
    )
    for finding in report.warnings:
        log.warning("%s", finding.line())
    if report.drift is not None:
        log.info("drift against the live model's data: %s", report.drift["drifted"] or "none")
    if not report.passed:
        for finding in report.errors:
            log.error("%s", finding.line())
        lines = "; ".join(f.line() for f in report.errors)
        raise DatasetError(f"{path}: {len(report.errors)} check(s) failed: {lines}")
    log.info("%s passed every check (%d rows)", path, report.rows)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--path", type=Path, default=Path("datasets/default.csv"))
    config.add_flag(parser, config.STORE_ENV)
    parser.add_argument("--reports", type=Path, default=artifacts.REPORTS_DIR)
    config.add_flag(parser, "VALIDATE_MIN_ROWS")
    config.add_flag(parser, "VALIDATE_MAX_MISSING_SHARE")
    config.add_flag(parser, "VALIDATE_EXTRA_COLUMNS", choices=["warn", "error"])
    config.add_flag(parser, "VALIDATE_FAIL_ON_DRIFT")
    args = parser.parse_args(argv)

    def body() -> None:
        params = validation.ValidationParams(
            min_rows=config.resolve(args, "VALIDATE_MIN_ROWS"),
            max_missing_share=config.resolve(args, "VALIDATE_MAX_MISSING_SHARE"),
            extra_columns=config.resolve(args, "VALIDATE_EXTRA_COLUMNS"),
            fail_on_drift=config.resolve(args, "VALIDATE_FAIL_ON_DRIFT"),
        )
        validate_step(args.path, config.store_uri(args.store), args.reports, params)

    return run("validate", body)


if __name__ == "__main__":
    raise SystemExit(main())
