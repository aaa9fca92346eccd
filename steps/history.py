"""List every archived version, marking the live one: ``python -m steps.history``.

Reads only metrics files, never a model. Use it to pick a ``steps.rollback --to``.
"""

from __future__ import annotations

import argparse

from heartml import config
from heartml.errors import ConfigError
from heartml.features import label_coding_of, label_note
from heartml.store import registry
from heartml.store.backends import open_store
from steps._cli import run


def history_step(store_uri: str) -> None:
    """Print one line per version, oldest first."""
    store = open_store(store_uri)
    # The store's record of the promoted version: listing must not depend on latest.joblib,
    # which is the file a bad day breaks.
    promoted = registry.promoted_version(store)
    live = promoted[0] if promoted else None
    versions = registry.versions(store)
    if not versions and live is None:
        if not store.exists(registry.DATASET_KEY):
            # Most often a misspelt bucket, prefix or folder: say so rather than print nothing.
            raise ConfigError(
                f"{store.uri} holds no pipeline (no {registry.DATASET_KEY}, no versions): "
                f"check --store or {config.STORE_ENV}"
            )
        print(f"{store.uri} has a dataset but no versions yet: run `make retrain`.")
        return
    print(
        f"{'run id':<32} {'trained at':<21} {'val_acc':>7} {'roc_auc':>7}  gate       "
        f"{'label coding':<22} live"
    )
    for m in versions:
        verdict = "passed" if registry.gate_passed(m) else "held back"
        marker = "<- live" if m["run_id"] == live else ""
        print(
            f"{m['run_id']:<32} {m.get('timestamp', ''):<21} {m.get('val_acc', 0):7.4f} "
            f"{m.get('roc_auc', 0):7.4f}  {verdict:<10} {label_note(label_coding_of(m)):<22} "
            f"{marker}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    config.add_flag(parser, config.STORE_ENV)
    args = parser.parse_args(argv)
    return run("history", lambda: history_step(config.store_uri(args.store)))


if __name__ == "__main__":
    raise SystemExit(main())
