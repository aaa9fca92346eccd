"""The archive as a terminal table, one line per version, the live one marked (``make history``).

Read from metrics files only, never a model, so it works on the day a model file is
damaged; which version is live comes from the store's pointer, not ``latest.joblib``.
"""

from __future__ import annotations

from heartml import config
from heartml.errors import ConfigError
from heartml.features import label_coding_of, label_note
from heartml.store import registry
from heartml.store.backends import Store


def version_list(store: Store) -> str:
    """Every archived version, oldest first; ConfigError when the store holds no pipeline."""
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
        return f"{store.uri} has a dataset but no versions yet: run `make retrain`."
    lines = [
        f"{'run id':<32} {'trained at':<21} {'val_acc':>7} {'roc_auc':>7}  gate       "
        f"{'label coding':<22} live"
    ]
    for m in versions:
        verdict = "passed" if registry.gate_passed(m) else "held back"
        marker = "<- live" if m["run_id"] == live else ""
        lines.append(
            f"{m['run_id']:<32} {m.get('timestamp', ''):<21} {m.get('val_acc', 0):7.4f} "
            f"{m.get('roc_auc', 0):7.4f}  {verdict:<10} {label_note(label_coding_of(m)):<22} "
            f"{marker}"
        )
    return "\n".join(lines)
