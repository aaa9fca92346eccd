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
    defaults = validation.ValidationParams()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--path", type=Path, default=Path("datasets/default.csv"))
    parser.add_argument(
        "--store", help=f"gs://BUCKET[/PREFIX] or a folder (env {config.STORE_ENV})"
    )
    parser.add_argument("--reports", type=Path, default=artifacts.REPORTS_DIR)
    parser.add_argument("--min-rows", type=int, default=defaults.min_rows)
    parser.add_argument("--max-missing-share", type=float, default=defaults.max_missing_share)
    parser.add_argument(
        "--extra-columns", choices=["warn", "error"], default=defaults.extra_columns
    )
    parser.add_argument(
        "--fail-on-drift",
        action="store_true",
        default=config.env_flag("VALIDATE_FAIL_ON_DRIFT"),
        help="block on drift (env VALIDATE_FAIL_ON_DRIFT)",
    )
    args = parser.parse_args(argv)
    params = validation.ValidationParams(
        min_rows=args.min_rows,
        max_missing_share=args.max_missing_share,
        extra_columns=args.extra_columns,
        fail_on_drift=args.fail_on_drift,
    )
    return run(
        "validate",
        lambda: validate_step(args.path, config.store_uri(args.store), args.reports, params),
    )


if __name__ == "__main__":
    raise SystemExit(main())
