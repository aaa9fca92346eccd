"""Archive the trained version, then promote it if the gate passed it: ``python -m steps.upload``.

A version the gate held back is archived with its verdict (so the history and the
alerts see it) but ``latest`` does not change. A promoted version's run id and model
sha256 are handed to the deploy as step outputs: they come from this run's own
artifacts, never from the bucket, and become the function's pin.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from heartml import config
from heartml.errors import DatasetError
from heartml.store import registry, run_folder
from heartml.store.backends import open_store
from steps._cli import run, set_outputs

log = logging.getLogger("steps.upload")


def upload_step(store_uri: str, artifacts_dir: Path, dataset: Path) -> bool:
    """Publish the trained version with its dataset; return whether it went live."""
    model_bytes, metrics = run_folder.read_artifacts(artifacts_dir)
    try:
        dataset_bytes = dataset.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read the training dataset {dataset}: {exc.strerror}") from None
    store = open_store(store_uri)
    card = run_folder.read_card(artifacts_dir)
    promoted = registry.publish(store, model_bytes, metrics, dataset_bytes, card)
    if promoted:
        set_outputs(run_id=metrics["run_id"], model_sha256=metrics["model_sha256"])
    set_outputs(promoted=str(promoted).lower())
    return promoted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    config.add_flag(parser, config.STORE_ENV)
    config.add_flag(parser, "PIPELINE_ARTIFACTS")
    config.add_flag(parser, "PIPELINE_DATASET")
    args = parser.parse_args(argv)
    return run(
        "upload",
        lambda: upload_step(
            config.store_uri(args.store),
            config.resolve(args, "PIPELINE_ARTIFACTS"),
            config.resolve(args, "PIPELINE_DATASET"),
        ),
    )


if __name__ == "__main__":
    raise SystemExit(main())
