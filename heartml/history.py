"""Shape the archive's metrics into the tables the dashboard draws. Reads no model."""

from __future__ import annotations

from typing import Any

import pandas as pd

from heartml import registry
from heartml.features import label_coding_of, label_note
from heartml.store import Store

SCORES = ("val_acc", "roc_auc", "acc")


def versions_table(records: list[dict[str, Any]], live_run_id: str | None) -> pd.DataFrame:
    """One row per version, oldest first, with its verdict and the command to make it live."""
    rows = []
    for m in records:
        dataset = m.get("dataset") or {}
        passed = registry.gate_passed(m)
        rows.append(
            {
                "run_id": m.get("run_id"),
                "trained_at": pd.to_datetime(m.get("timestamp"), utc=True, errors="coerce"),
                "val_acc": m.get("val_acc"),
                "roc_auc": m.get("roc_auc"),
                "acc": m.get("acc"),
                "elapsed_s": m.get("elapsed"),
                "rows": dataset.get("rows"),
                "dataset_sha256": str(dataset.get("sha256") or "")[:12],
                "gate": "passed" if passed else ("held back" if m.get("gate") else "none"),
                "drifted": ", ".join((m.get("data_checks") or {}).get("drifted") or []),
                "label coding": label_note(label_coding_of(m)),
                "live": m.get("run_id") == live_run_id,
                "rollback": f"python -m steps.rollback --to {m.get('run_id')}",
            }
        )
    return pd.DataFrame(rows)


def scores_long(table: pd.DataFrame) -> pd.DataFrame:
    """The scores in long form (one row per run and score) for a layered chart."""
    if table.empty:
        return pd.DataFrame(columns=["trained_at", "run_id", "score", "value", "gate"])
    return table.melt(
        id_vars=["trained_at", "run_id", "gate"],
        value_vars=list(SCORES),
        var_name="score",
        value_name="value",
    )


def load(store: Store) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Return every version's metrics and the live pointer."""
    return registry.history(store), registry.live_pointer(store)


def served_version(url: str, token: str = "", timeout: float = 5.0) -> dict[str, Any]:
    """Ask the deployed function which version it serves (its GET); say why if it cannot.

    The store records what was *promoted*; only the function knows what it *serves* (the
    revision's pin). A private function needs an identity token (``gcloud auth
    print-identity-token``).
    """
    import requests

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = requests.get(url, headers=headers, timeout=timeout)
        body = response.json()
    except (requests.RequestException, ValueError) as exc:
        return {"error": f"cannot ask {url}: {type(exc).__name__}"}
    if not isinstance(body, dict):
        return {"error": f"{url} answered {response.status_code} without a JSON object"}
    model = body.get("model") if isinstance(body.get("model"), dict) else {}
    if response.status_code != 200 or not model:
        message = ((body.get("error") or {}) if isinstance(body.get("error"), dict) else {}).get(
            "message"
        )
        return {"error": f"{url} answered {response.status_code}: {message or 'no model'}"}
    return {"run_id": model.get("run_id"), "sha256": model.get("sha256"), "file": model.get("file")}
