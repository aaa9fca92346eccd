"""Download the latest dataset from the store: ``python -m steps.download``."""

from __future__ import annotations

import argparse

from heartml import config
from heartml.store.backends import open_store
from heartml.store.dataset_file import fetch_dataset
from steps._cli import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    config.add_flag(parser, config.STORE_ENV)
    config.add_flag(parser, "PIPELINE_DATASET", "--dest")
    args = parser.parse_args(argv)
    return run(
        "download",
        lambda: fetch_dataset(
            open_store(config.store_uri(args.store)), config.resolve(args, "PIPELINE_DATASET")
        ),
    )


if __name__ == "__main__":
    raise SystemExit(main())
