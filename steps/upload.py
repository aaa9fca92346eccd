"""Archive the trained model and its metrics, then promote it: ``python -m steps.upload``."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from heartml import config, registry, training
from heartml.errors import PipelineError
from heartml.store import open_store
from steps._cli import run

log = logging.getLogger("steps.upload")


def upload_step(store_uri: str, artifacts: Path) -> str:
    """Publish ``artifacts/pipeline.joblib`` under its run id; return the run id."""
    try:
        model_bytes = (artifacts / training.MODEL_FILE).read_bytes()
        metrics = json.loads((artifacts / training.METRICS_FILE).read_text())
    except FileNotFoundError as exc:
        raise PipelineError(f"no trained artifact at {exc.filename}; run steps.train first") from None
    except ValueError as exc:
        raise PipelineError(f"{artifacts / training.METRICS_FILE} is not valid JSON: {exc}") from None
    store = open_store(store_uri, timeout=config.store_timeout())
    return registry.publish(store, model_bytes, metrics)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", help=f"gs://BUCKET[/PREFIX] or a folder (env {config.STORE_ENV})")
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    args = parser.parse_args(argv)
    return run("upload", lambda: upload_step(config.store_uri(args.store), args.artifacts) and None)


if __name__ == "__main__":
    raise SystemExit(main())
