"""Judge the trained candidate against the live model: ``python -m steps.gate``.

Adds the verdict to ``artifacts/metrics.json`` (so it is archived with the version)
and writes ``reports/gate.json``; exits 1 when the candidate is held back.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from heartml import artifacts, config, gate, serving
from heartml.dataset import read_dataset
from heartml.errors import PipelineError
from heartml.store import open_store
from steps._cli import run

log = logging.getLogger("steps.gate")


def gate_step(
    artifacts_dir: Path, dataset: Path, store_uri: str, reports: Path, params: gate.GateParams
) -> gate.Verdict:
    """Evaluate candidate and live model on the candidate's held-out rows; record the verdict."""
    model_bytes, metrics = artifacts.read_artifacts(artifacts_dir)
    candidate = serving.model_from_bytes(model_bytes, str(artifacts_dir / artifacts.MODEL_FILE))
    raw = dataset.read_bytes() if dataset.is_file() else b""  # read once: hashed, then parsed
    if artifacts.sha256_bytes(raw) != metrics["dataset"]["sha256"]:
        raise PipelineError(f"{dataset} is not the dataset run {metrics['run_id']} trained on")
    store = open_store(store_uri, timeout=config.store_timeout())
    verdict = gate.evaluate(candidate, read_dataset(raw, str(dataset)), metrics, store, params)

    metrics["gate"] = verdict.to_dict()
    checks = artifacts.read_json(reports / artifacts.VALIDATION_REPORT)
    if checks is not None:  # archived with the version: history shows what the data was like
        metrics["data_checks"] = gate.data_checks_summary(checks)
    artifacts.save_artifacts(artifacts_dir, model_bytes, metrics)
    reports.mkdir(parents=True, exist_ok=True)
    (reports / artifacts.GATE_REPORT).write_text(json.dumps(verdict.to_dict(), indent=2) + "\n")

    for note in verdict.notes:
        log.info("%s", note)
    if not verdict.passed:
        raise PipelineError(
            f"candidate {metrics['run_id']} held back: {'; '.join(verdict.reasons)}"
        )
    log.info(
        "candidate %s passed: roc_auc %.4f, val_acc %.4f (live %s)",
        metrics["run_id"],
        verdict.candidate["roc_auc"],
        verdict.candidate["val_acc"],
        (verdict.champion or {}).get("run_id") or "none",
    )
    return verdict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--artifacts", type=Path, default=artifacts.ARTIFACTS_DIR)
    parser.add_argument("--path", type=Path, default=Path("datasets/default.csv"))
    config.add_flag(parser, config.STORE_ENV)
    parser.add_argument("--reports", type=Path, default=artifacts.REPORTS_DIR)
    for env in gate.GATE_SETTINGS.values():
        config.add_flag(parser, env)
    args = parser.parse_args(argv)

    def body() -> None:
        params = gate.GateParams.from_settings(args)
        gate_step(args.artifacts, args.path, config.store_uri(args.store), args.reports, params)

    return run("gate", body)


if __name__ == "__main__":
    raise SystemExit(main())
