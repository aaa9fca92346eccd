"""Train the heart-disease model: ``python -m steps.train --path datasets/default.csv``.

Writes ``artifacts/pipeline.joblib`` and ``artifacts/metrics.json``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from heartml import artifacts, config, training
from heartml.dataset import read_dataset
from steps._cli import run

log = logging.getLogger("steps.train")


def train_step(path: Path, out_dir: Path, run_id: str, params: training.TrainParams) -> dict:
    """Train on the CSV at ``path`` and save the model and its metrics; return the metrics."""
    frame = read_dataset(path)
    result = training.train(frame, params)
    model_bytes, metrics = training.build_artifacts(
        result,
        run_id=run_id,
        dataset_bytes=path.read_bytes(),
        dataset_rows=len(frame),
        git_commit=config.git_commit(),
        params=params,
    )
    artifacts.save_artifacts(out_dir, model_bytes, metrics)
    log.info(
        "run %s: acc %.3f, val_acc %.3f, roc_auc %.3f on %d rows -> %s",
        run_id,
        metrics["acc"],
        metrics["val_acc"],
        metrics["roc_auc"],
        len(frame),
        out_dir,
    )
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--path", type=Path, default=Path("datasets/default.csv"), help="dataset CSV"
    )
    parser.add_argument(
        "--out", type=Path, default=artifacts.ARTIFACTS_DIR, help="artifacts folder"
    )
    config.add_flag(parser, config.RUN_ID_ENV)
    config.add_flag(parser, "TRAIN_TEST_SIZE")
    config.add_flag(parser, "TRAIN_SEED")
    args = parser.parse_args(argv)

    def body() -> None:
        params = training.TrainParams(
            test_size=config.resolve(args, "TRAIN_TEST_SIZE"),
            seed=config.resolve(args, "TRAIN_SEED"),
        )
        train_step(args.path, args.out, config.run_id(args.run_id), params)

    return run("train", body)


if __name__ == "__main__":
    raise SystemExit(main())
