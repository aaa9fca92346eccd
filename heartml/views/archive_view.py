"""Shape the archive's metrics into what the dashboard shows. Reads no model.

Everything here is plain data (frames, dicts, a Vega-Lite spec), so the page's
content is tested without a browser and ``dashboard/app.py`` only lays it out.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from heartml import config
from heartml.errors import ConfigError, ObjectNotFound
from heartml.features import label_coding_of, label_note
from heartml.store import registry
from heartml.store.backends import Store, parse_stored
from heartml.views.markdown import cell, fact

SCORES = ("val_acc", "roc_auc", "acc")
# What each score measures, for tiles, axes and the compare view.
SCORE_TITLES = {
    "roc_auc": "ROC AUC on held-out rows",
    "val_acc": "accuracy on held-out rows",
    "acc": "accuracy on training rows",
}
# The gate's floor for each score it holds a candidate to, by setting.
FLOOR_SETTINGS = {"roc_auc": "GATE_MIN_ROC_AUC", "val_acc": "GATE_MIN_ACCURACY"}
TIME_FORMAT = "%Y-%m-%d %H:%M UTC"  # the one way the dashboard writes a time
NO_CHANGE = 0.00005  # a delta that rounds to 0.0000 is no change


def _part(record: dict[str, Any], key: str) -> dict[str, Any]:
    """A nested object of a metrics record, or {} when absent or not an object."""
    value = record.get(key)
    return value if isinstance(value, dict) else {}


def format_time(value: Any) -> str:
    """Write a timestamp (ISO text or datetime) as TIME_FORMAT; '' when unknown."""
    stamp = pd.to_datetime(value, utc=True, errors="coerce")
    return "" if pd.isna(stamp) else stamp.strftime(TIME_FORMAT)


def status_of(metrics: dict[str, Any], live_run_id: str | None) -> str:
    """One word a reader needs first: live, passed (promotable), held back, or unjudged."""
    if metrics.get("run_id") == live_run_id:
        return "live"
    if registry.gate_passed(metrics):
        return "passed"
    return "held back" if metrics.get("gate") else "not judged"


def gate_reasons(metrics: dict[str, Any]) -> str:
    """The gate's reasons for holding a version back, as one line ('' if it passed)."""
    gate = _part(metrics, "gate")
    return "; ".join(str(reason) for reason in gate.get("reasons") or [])


def drift_reference(metrics: dict[str, Any]) -> str:
    """The version whose data drift was measured against: recorded, else the gate's champion."""
    checks = _part(metrics, "data_checks")
    gate = _part(metrics, "gate")
    champion = _part(gate, "champion")
    return str(checks.get("drift_reference") or champion.get("run_id") or "")


def rollback_command(metrics: dict[str, Any], live_run_id: str | None) -> str:
    """The command that makes this version live, as README spells it; '' for the live one."""
    status = status_of(metrics, live_run_id)
    if status == "live":
        return ""
    force = "" if status == "passed" else " FORCE=1"
    return f"make rollback TO={metrics.get('run_id')}{force}"


def versions_table(records: list[dict[str, Any]], live_run_id: str | None) -> pd.DataFrame:
    """One row per version, oldest first; what a reader needs first comes first."""
    rows = []
    for m in records:
        dataset = _part(m, "dataset")
        checks = _part(m, "data_checks")
        rows.append(
            {
                "status": status_of(m, live_run_id),
                "run_id": m.get("run_id"),
                "roc_auc": m.get("roc_auc"),
                "val_acc": m.get("val_acc"),
                "roc_auc interval": score_interval(m, "roc_auc"),
                "trained": format_time(m.get("timestamp")),
                "why held back": gate_reasons(m),
                "acc": m.get("acc"),
                "rows": dataset.get("rows"),
                "dataset_sha256": str(dataset.get("sha256") or "")[:12],
                "drifted": ", ".join(checks.get("drifted") or []),
                "drift against": drift_reference(m) if checks.get("drifted") else "",
                "label coding": label_note(label_coding_of(m)),
                "fit_s": m.get("elapsed"),
                "make it live": rollback_command(m, live_run_id),
                "trained_at": pd.to_datetime(m.get("timestamp"), utc=True, errors="coerce"),
                "live": m.get("run_id") == live_run_id,
            }
        )
    return pd.DataFrame(rows)


def score_interval(m: dict[str, Any], score: str) -> str:
    """The gate's interval on a version's score, '' for versions gated before intervals."""
    candidate = _part(_part(m, "gate"), "candidate")
    interval = _part(candidate, "intervals").get(score)
    if not isinstance(interval, list) or len(interval) != 2:
        return ""
    return f"{interval[0]:.3f} to {interval[1]:.3f}"


def score_delta(live: float, before: float | None) -> str | None:
    """The tile's change against the version before: None if none, 'no change' if ~0."""
    if before is None:
        return None
    change = float(live) - float(before)
    return "no change" if abs(change) < NO_CHANGE else f"{change:+.4f}"


def floors() -> dict[str, float]:
    """The gate's floors a candidate faces now, per score."""
    return {score: float(config.get(setting)) for score, setting in FLOOR_SETTINGS.items()}


def _points(table: pd.DataFrame, score: str) -> list[dict[str, Any]]:
    """Chart rows with a finite score and a known time, as JSON-ready dicts."""
    kept = table[table["trained_at"].notna() & pd.to_numeric(table[score], errors="coerce").notna()]
    return [
        {
            "trained_at": row.trained_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "trained": row.trained,
            "run_id": row.run_id,
            "status": row.status,
            "value": float(getattr(row, score)),
            "why": row.why_held_back,
        }
        for row in kept.rename(columns={"why held back": "why_held_back"}).itertuples()
    ]


def score_chart(table: pd.DataFrame, score: str, floor: float | None) -> dict[str, Any]:
    """A Vega-Lite spec: the promoted versions as the line, held back as crosses, the floor
    as a rule, the live version ringed. A layer with no data is left out (an empty layer
    makes Vega warn "Infinite extent")."""
    points = _points(table, score)
    promoted = [p for p in points if p["status"] in ("live", "passed")]
    held = [p for p in points if p["status"] not in ("live", "passed")]
    live = [p for p in points if p["status"] == "live"]
    values = [p["value"] for p in points] + ([floor] if floor is not None else [])
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    pad = max(0.01, (high - low) * 0.1)
    y = {
        "field": "value",
        "type": "quantitative",
        "title": SCORE_TITLES[score],
        "scale": {"domain": [max(0.0, low - pad), min(1.0, high + pad)]},
    }
    x = {"field": "trained_at", "type": "temporal", "title": "trained (UTC)"}
    tooltip = [
        {"field": "run_id", "title": "run id"},
        {"field": "trained"},
        {"field": "status"},
        {"field": "value", "title": score, "format": ".4f"},
        {"field": "why", "title": "why held back"},
    ]
    layers: list[dict[str, Any]] = []
    if promoted:
        layers.append(
            {
                "data": {"values": promoted},
                "mark": {"type": "line", "point": True, "color": "#1f77b4"},
                "encoding": {"x": x, "y": y, "tooltip": tooltip},
            }
        )
    if held:
        layers.append(
            {
                "data": {"values": held},
                "mark": {"type": "point", "shape": "cross", "size": 90, "color": "#d62728"},
                "encoding": {"x": x, "y": y, "tooltip": tooltip},
            }
        )
    if floor is not None and points:
        layers.append(
            {
                "data": {"values": [{"value": floor, "label": f"gate floor {floor:g}"}]},
                "mark": {"type": "rule", "strokeDash": [6, 4], "color": "#7f7f7f"},
                "encoding": {"y": y, "tooltip": [{"field": "label"}]},
            }
        )
    if live:
        layers.append(
            {
                "data": {"values": live},
                "mark": {"type": "point", "size": 300, "strokeWidth": 3, "color": "#2ca02c"},
                "encoding": {"x": x, "y": y, "tooltip": tooltip},
            }
        )
        layers.append(
            {
                "data": {"values": [{**live[0], "text": f"live {live[0]['run_id']}"}]},
                "mark": {"type": "text", "dy": -16, "align": "right", "color": "#2ca02c"},
                "encoding": {"x": x, "y": y, "text": {"field": "text"}},
            }
        )
    return {"title": SCORE_TITLES[score], "height": 260, "layer": layers}


def held_back(records: list[dict[str, Any]], newest: int = 5) -> list[dict[str, str]]:
    """The newest held-back versions with the gate's reasons, newest first."""
    rows = [
        {"run_id": str(m.get("run_id")), "trained": format_time(m.get("timestamp")),
         "why": gate_reasons(m) or "no reason recorded"}
        for m in records
        if m.get("gate") and not registry.gate_passed(m)
    ]  # fmt: skip
    return rows[::-1][:newest]


def _lineage_rows(m: dict[str, Any], live_run_id: str | None) -> dict[str, Any]:
    dataset = _part(m, "dataset")
    checks = _part(m, "data_checks")
    gate = _part(m, "gate")
    params = _part(m, "params")
    versions = _part(m, "versions")
    evaluation = _part(m, "evaluation")
    champion = _part(gate, "champion")
    drifted = ", ".join(checks.get("drifted") or []) or "none"
    reference = drift_reference(m)
    return {
        "run id": m.get("run_id"),
        "status": status_of(m, live_run_id),
        "trained": format_time(m.get("timestamp")),
        **{SCORE_TITLES[s]: None if m.get(s) is None else f"{float(m[s]):.4f}" for s in SCORES},
        "evaluation rows": evaluation.get("rows", m.get("n_val")),
        "gate verdict": "passed" if registry.gate_passed(m) else ("held back" if gate else "none"),
        "gate reasons": gate_reasons(m) or "none",
        "compared with": champion.get("run_id") or "none",
        "dataset sha256": dataset.get("sha256"),
        "dataset rows": dataset.get("rows"),
        "drifted": drifted + (f" (against {reference})" if reference and drifted != "none" else ""),
        "duplicates": checks.get("duplicates"),
        "label coding": label_note(label_coding_of(m)),
        "git commit": m.get("git_commit"),
        **{f"param {k}": v for k, v in sorted(params.items())},
        **{f"{k} version": v for k, v in sorted(versions.items())},
        "model sha256": m.get("model_sha256"),
    }


def compare(a: dict[str, Any], b: dict[str, Any], live_run_id: str | None) -> pd.DataFrame:
    """Two versions side by side, one row per fact, with a column saying what differs."""
    left, right = _lineage_rows(a, live_run_id), _lineage_rows(b, live_run_id)
    facts = list(dict.fromkeys([*left, *right]))
    return pd.DataFrame(
        {
            "": facts,
            "version": [fact(left.get(f)) for f in facts],
            "with": [fact(right.get(f)) for f in facts],
            "differs": ["≠" if left.get(f) != right.get(f) else "" for f in facts],
        }
    )


def lineage(m: dict[str, Any], store: Store) -> list[tuple[str, str]]:
    """Where a version came from: its data (and where it is archived), code and parameters."""
    dataset = _part(m, "dataset")
    sha = str(dataset.get("sha256") or "")
    commit = str(m.get("git_commit") or "")
    repository = config.get("GITHUB_REPOSITORY")
    if commit and repository:
        code = f"{config.get('GITHUB_SERVER_URL')}/{repository}/commit/{commit}"
    else:
        code = commit or "unknown"
    params = _part(m, "params")
    versions = _part(m, "versions")
    run_id = str(m.get("run_id"))
    return [
        ("dataset", f"{dataset.get('rows', '?')} rows, sha256 {fact(sha) or 'unknown'}"),
        ("archived data", _archived_data(store, sha)),
        ("code", code),
        ("parameters", ", ".join(f"{k}={v}" for k, v in sorted(params.items())) or "unknown"),
        ("libraries", ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) or "unknown"),
        (
            "model",
            f"{store.url(registry.model_key(run_id))}, sha256 {fact(m.get('model_sha256'))}",
        ),
        ("metrics", store.url(registry.metrics_key(run_id))),
        ("model card", store.url(registry.card_keys(run_id)["markdown"])),
    ]


def _archived_data(store: Store, sha: str) -> str:
    if not sha:
        return "not archived"
    try:
        return store.url(registry.dataset_key(sha))
    except ConfigError:
        return "not archived: the recorded sha256 is not one"


def model_card_text(m: dict[str, Any], store: Store) -> str:
    """A version's model card as Markdown, or a sentence saying why there is none.

    Rendered from the card's JSON, never the stored Markdown: the renderer escapes each
    value, so a card written into the bucket by someone else can neither link, mention
    nor format. A card whose shape no gate wrote is named, not shown.
    """
    from heartml.views import card_page

    run_id = str(m.get("run_id"))
    try:
        card = parse_stored(store.read_bytes(registry.card_keys(run_id)["json"]))
        return card_page.render(card)
    except ObjectNotFound:
        return f"{cell(run_id)} was archived before model cards were written: it has none."
    except ConfigError:
        return "this run id cannot name a model card."
    # Any other failure is the card's shape (a renderer of our own JSON meets a stranger's).
    except (
        ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError,
        UnicodeDecodeError, RecursionError,
    ):  # fmt: skip
        return f"The stored model card of {cell(run_id)} is malformed: not shown."


def load(store: Store) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Return every version's metrics and the live pointer."""
    return registry.versions(store), registry.live_pointer(store)


def served_version(url: str, token: str = "", timeout: float = 5.0) -> dict[str, Any]:
    """Ask the deployed function which version it serves (its GET); say why if it cannot.

    The store records what was *promoted*; only the function knows what it *serves* (the
    revision's pin). A private function needs an identity token (``gcloud auth
    print-identity-token``).
    """
    import requests

    from heartml.ops.downstream import ask_function, server_text

    try:
        response = ask_function(url, token, timeout)
        body = response.json()
    except (requests.RequestException, ValueError) as exc:
        return {"error": f"cannot ask {url}: {type(exc).__name__}"}
    if not isinstance(body, dict):
        return {"error": f"{url} answered {response.status_code} without a JSON object"}
    model = _part(body, "model")
    if response.status_code != 200 or not model:
        message = ((body.get("error") or {}) if isinstance(body.get("error"), dict) else {}).get(
            "message"
        )
        shown = server_text(message, 200, (token,)) if message else "no model"
        return {"error": f"{url} answered {response.status_code}: {shown}"}
    return {"run_id": model.get("run_id"), "sha256": model.get("sha256"), "file": model.get("file")}
