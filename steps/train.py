"""Train the heart-disease model: ``python -m steps.train --path artifacts/dataset.csv``.

Writes ``artifacts/pipeline.joblib`` and ``artifacts/metrics.json``.
"""

from __future__ import annotations

import argparse
import logging

from heartml import config, run_ids
from heartml.model import training
from heartml.store import run_folder
from steps._cli import run

log = logging.getLogger("steps.train")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    config.add_flag(parser, "PIPELINE_DATASET")
    config.add_flag(parser, "PIPELINE_ARTIFACTS", "--out")
    config.add_flag(parser, config.RUN_ID_ENV)
    for env in training.TrainParams.settings().values():
        config.add_flag(parser, env)
    args = parser.parse_args(argv)

    def body() -> None:
        path, out = (
            config.resolve(args, "PIPELINE_DATASET"),
            config.resolve(args, "PIPELINE_ARTIFACTS"),
        )
        model_bytes, metrics, evaluation = training.train_version(
            path,
            run_id=run_ids.run_id(args.run_id),
            git_commit=run_ids.git_commit(),
            params=training.TrainParams.from_settings(args),
            overrides=config.overridden(args, training.TrainParams.settings().values()),
        )
        run_folder.save_artifacts(out, model_bytes, metrics, evaluation)
        log.info(
            "run %s: acc %.3f, val_acc %.3f, roc_auc %.3f on %d rows -> %s",
            metrics["run_id"],
            metrics["acc"],
            metrics["val_acc"],
            metrics["roc_auc"],
            metrics["dataset"]["rows"],
            out,
        )

    return run("train", body)


if __name__ == "__main__":
    raise SystemExit(main())
