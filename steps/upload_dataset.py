"""Put a dataset into the store as the one to train on: ``python -m steps.upload_dataset``.

Seeds a new store (the local loop, or a fresh bucket) and is how new data is published.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from heartml import config
from heartml.errors import DatasetError
from heartml.store.backends import open_store
from heartml.store.model_file import sha256_bytes
from heartml.store.registry import DATASET_KEY
from steps._cli import run

log = logging.getLogger("steps.upload_dataset")


def upload_dataset(store_uri: str, source: Path, *, if_missing: bool = False) -> str | None:
    """Write ``source`` to the store's ``dataset.csv``; return its sha256.

    With ``if_missing`` a dataset already in the store is kept (and None returned), so
    seeding a store never replaces data someone published there.
    """
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read {source}: {exc.strerror or exc}") from None
    if not data:
        raise DatasetError(f"{source} is empty (0 bytes); nothing uploaded")
    store = open_store(store_uri)
    if if_missing and store.exists(DATASET_KEY):
        log.info("kept the dataset already at %s", store.url(DATASET_KEY))
        return None
    store.write_bytes(DATASET_KEY, data)
    digest = sha256_bytes(data)
    log.info(
        "uploaded %s -> %s (%d bytes, sha256 %s)", source, store.url(DATASET_KEY), len(data), digest
    )
    return digest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    config.add_flag(parser, config.STORE_ENV)
    config.add_flag(parser, "DATASET_SOURCE")
    config.add_flag(parser, "DATASET_IF_MISSING")
    args = parser.parse_args(argv)
    return run(
        "upload_dataset",
        lambda: upload_dataset(
            config.store_uri(args.store),
            config.resolve(args, "DATASET_SOURCE"),
            if_missing=config.resolve(args, "DATASET_IF_MISSING"),
        ),
    )


if __name__ == "__main__":
    raise SystemExit(main())
