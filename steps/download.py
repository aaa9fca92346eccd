"""Download the latest dataset from the store: ``python -m steps.download``."""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from pathlib import Path

from heartml import config
from heartml.store.backends import open_store
from heartml.store.model_file import sha256_bytes
from heartml.store.registry import DATASET_KEY
from steps._cli import run

log = logging.getLogger("steps.download")


def download_dataset(store_uri: str, dest: Path) -> str:
    """Copy the store's ``dataset.csv`` to ``dest`` atomically; return its sha256."""
    store = open_store(store_uri)
    data = store.read_bytes(DATASET_KEY)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename, so a failed download never leaves half a CSV.
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
    digest = sha256_bytes(data)
    log.info(
        "downloaded %s -> %s (%d bytes, sha256 %s)", store.url(DATASET_KEY), dest, len(data), digest
    )
    return digest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    config.add_flag(parser, config.STORE_ENV)
    config.add_flag(parser, "PIPELINE_DATASET", "--dest")
    args = parser.parse_args(argv)
    return run(
        "download",
        lambda: download_dataset(
            config.store_uri(args.store), config.resolve(args, "PIPELINE_DATASET")
        ),
    )


if __name__ == "__main__":
    raise SystemExit(main())
