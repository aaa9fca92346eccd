"""Put a dataset into the store as the one to train on: ``python -m steps.upload_dataset``.

Seeds a new store (the local loop, or a fresh bucket) and is how new data is published.
"""

from __future__ import annotations

import argparse

from heartml import config
from heartml.store.backends import open_store
from heartml.store.dataset_file import publish_dataset
from steps._cli import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in (config.STORE_ENV, "DATASET_SOURCE", "DATASET_IF_MISSING"):
        config.add_flag(parser, name)
    args = parser.parse_args(argv)
    return run(
        "upload_dataset",
        lambda: publish_dataset(
            open_store(config.store_uri(args.store)),
            config.resolve(args, "DATASET_SOURCE"),
            if_missing=config.resolve(args, "DATASET_IF_MISSING"),
        ),
    )


if __name__ == "__main__":
    raise SystemExit(main())
