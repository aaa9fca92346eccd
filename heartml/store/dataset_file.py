"""The store's ``dataset.csv``: published from a file, fetched into a run's folder.

Both ends are whole-file and safe to interrupt: a publish is one object write (the
backends write atomically), and a fetch writes beside its target and renames, so a
failed download never leaves half a CSV for validation to read.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from heartml.errors import DatasetError
from heartml.store.backends import Store
from heartml.store.model_file import sha256_bytes
from heartml.store.registry import DATASET_KEY

# The steps' names: their log lines read as they did when this was the steps' own code.
publish_log = logging.getLogger("steps.upload_dataset")
fetch_log = logging.getLogger("steps.download")


def publish_dataset(store: Store, source: Path, *, if_missing: bool = False) -> str | None:
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
    if if_missing and store.exists(DATASET_KEY):
        publish_log.info("kept the dataset already at %s", store.url(DATASET_KEY))
        return None
    store.write_bytes(DATASET_KEY, data)
    digest = sha256_bytes(data)
    publish_log.info(
        "uploaded %s -> %s (%d bytes, sha256 %s)", source, store.url(DATASET_KEY), len(data), digest
    )
    return digest


def fetch_dataset(store: Store, dest: Path) -> str:
    """Copy the store's ``dataset.csv`` to ``dest`` atomically; return its sha256."""
    data = store.read_bytes(DATASET_KEY)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
    digest = sha256_bytes(data)
    fetch_log.info(
        "downloaded %s -> %s (%d bytes, sha256 %s)", store.url(DATASET_KEY), dest, len(data), digest
    )
    return digest
