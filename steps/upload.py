"""Archive the trained model and its metrics, then promote it: ``python -m steps.upload``."""

from __future__ import annotations

import argparse
from pathlib import Path

from heartml import artifacts, config, registry
from heartml.store import open_store
from steps._cli import run


def upload_step(store_uri: str, artifacts_dir: Path) -> str:
    """Publish the trained model under its run id; return the run id."""
    model_bytes, metrics = artifacts.read_artifacts(artifacts_dir)
    store = open_store(store_uri, timeout=config.store_timeout())
    return registry.publish(store, model_bytes, metrics)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--store", help=f"gs://BUCKET[/PREFIX] or a folder (env {config.STORE_ENV})"
    )
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    args = parser.parse_args(argv)
    return run("upload", lambda: upload_step(config.store_uri(args.store), args.artifacts))


if __name__ == "__main__":
    raise SystemExit(main())
