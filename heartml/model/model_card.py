"""A model card per version: what the model is for, what it was trained on, how it scored.

Built by ``steps.gate`` from the version's metrics (lineage, data checks, the gate's
verdict) and its linear coefficients, written beside the model as JSON (for tools)
and Markdown (for people), and archived with the version under ``models/cards/``.
Rendering is plain string work over the JSON: the run summary, the pull-request
comment and the dashboard all show the same Markdown.
"""

from __future__ import annotations

import math
from typing import Any

from heartml.features import PROJECT, SPECS
from heartml.text import plain

FORMAT = "heartml-model-card/1"

# The project file's words (project.intended_use and project.limits).
INTENDED_USE = PROJECT.intended_use
NOT_INTENDED_USE = PROJECT.limits


def build(
    metrics: dict[str, Any], linear_params: dict[str, Any] | None, keys: dict[str, str]
) -> dict[str, Any]:
    """Return the card as JSON-ready data from a gated version's metrics and coefficients."""
    verdict = metrics.get("gate") or {}
    candidate = verdict.get("candidate") or {}
    checks = metrics.get("data_checks") or {}
    dataset = metrics.get("dataset") or {}
    champion = verdict.get("champion") or {}
    return {
        "format": FORMAT,
        "run_id": metrics.get("run_id"),
        "trained_at": metrics.get("timestamp"),
        "files": keys,
        "intended_use": list(INTENDED_USE),
        "not_intended_use": list(NOT_INTENDED_USE),
        "data": {
            "sha256": dataset.get("sha256"),
            "rows": dataset.get("rows"),
            "label_balance": metrics.get("label_balance"),
            "duplicates": checks.get("duplicates"),
            "duplicate_share": checks.get("duplicate_share"),
            "drifted": checks.get("drifted"),
            "drift_reference": checks.get("drift_reference"),
        },
        "evaluation": {
            "split": metrics.get("split"),
            "rows": verdict.get("rows"),
            "positives": candidate.get("positives"),
            "confidence": (verdict.get("params") or {}).get("confidence"),
        },
        "scores": {
            name: {
                "value": candidate.get(name),
                "interval": (candidate.get("intervals") or {}).get(name),
            }
            for name in ("roc_auc", "val_acc", "brier")
        },
        "slices": candidate.get("slices") or [],
        "calibration": {
            "brier": candidate.get("brier"),
            "ece": candidate.get("ece"),
            "reliability": candidate.get("reliability") or [],
        },
        "compared_with": {
            "run_id": champion.get("run_id"),
            "scores": {k: champion.get(k) for k in ("roc_auc", "val_acc", "brier", "ece")},
            "difference": verdict.get("comparison"),
        }
        if champion
        else None,
        "gate": {
            "passed": verdict.get("passed"),
            "reasons": verdict.get("reasons") or [],
            "notes": verdict.get("notes") or [],
            "params": verdict.get("params") or {},
        },
        "odds_ratios": odds_ratios(linear_params),
        "versions": metrics.get("versions"),
        "git_commit": metrics.get("git_commit"),
        "model_sha256": metrics.get("model_sha256"),
        "params": metrics.get("params"),
    }


# What the differences table compares: a label and where the value sits in a card.
COMPARED_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("dataset sha256", ("data", "sha256")),
    ("dataset rows", ("data", "rows")),
    ("label balance", ("data", "label_balance")),
    ("duplicate rows", ("data", "duplicates")),
    ("drifted features", ("data", "drifted")),
    ("evaluation rows", ("evaluation", "rows")),
    ("split rule", ("evaluation", "split")),
    ("ROC AUC", ("scores", "roc_auc", "value")),
    ("accuracy", ("scores", "val_acc", "value")),
    ("Brier score", ("scores", "brier", "value")),
    ("calibration error", ("calibration", "ece")),
    ("gate passed", ("gate", "passed")),
    ("parameters", ("params",)),
    ("libraries", ("versions",)),
    ("commit", ("git_commit",)),
)


def _at(card: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = card
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _scalar(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= 1000
    if isinstance(value, bool) or value is None:
        return True
    return _number(value)


def _is_plain(value: Any) -> bool:
    """A value a card field could hold: a scalar, or a short flat list or map of scalars."""
    if isinstance(value, list):
        return len(value) <= 100 and all(map(_scalar, value))
    if isinstance(value, dict):
        return len(value) <= 100 and all(
            isinstance(k, str) and len(k) <= 100 and _scalar(v) for k, v in value.items()
        )
    return _scalar(value)


def _number(value: Any) -> bool:
    """A finite number a ratio could be (JSON also parses Infinity, NaN and 10**400)."""
    if not isinstance(value, float | int) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value)) and abs(float(value)) < 1e300
    except OverflowError:
        return False


def _ratio_row_problem(row: Any) -> bool:
    if not isinstance(row, dict) or not isinstance(row.get("feature"), str):
        return True
    codes, per_sd = row.get("codes"), row.get("per_sd")
    if codes is not None and not (
        isinstance(codes, dict) and len(codes) <= 100 and all(map(_number, codes.values()))
    ):
        return True
    return per_sd is not None and not _number(per_sd)


def live_card_problem(card: Any) -> str | None:
    """The first field of a card read from the store that no gate could have written, or None.

    A live card is someone else's JSON: only a card whose compared fields are plain values
    and whose odds ratios are rows of numbers is compared, so no shape of it can crash a gate.
    """
    if not isinstance(card, dict):
        return "the card (not a JSON object)"
    for _, path in COMPARED_FIELDS:
        if not _is_plain(_at(card, path)):
            return ".".join(path)
    ratios = card.get("odds_ratios")
    if ratios is not None and (
        not isinstance(ratios, list) or len(ratios) > 200 or any(map(_ratio_row_problem, ratios))
    ):
        return "odds_ratios"
    return None


def differences(card: dict[str, Any], live: dict[str, Any] | None) -> list[dict[str, str]]:
    """Each compared field where this version's card differs from the live version's.

    Odds ratios count as differing when one moved by more than 10 % per SD or per code.
    """
    if not isinstance(live, dict):
        return []
    rows = []
    for label, path in COMPARED_FIELDS:
        ours, theirs = _at(card, path), _at(live, path)
        if isinstance(ours, float) and isinstance(theirs, float):
            same = round(ours, 4) == round(theirs, 4)
        else:
            same = ours == theirs
        if not same:
            rows.append({"field": label, "this": plain(ours, 100), "live": plain(theirs, 100)})
    theirs_ratios = {
        r.get("feature"): r for r in live.get("odds_ratios") or [] if isinstance(r, dict)
    }
    for row in card.get("odds_ratios") or []:
        other = theirs_ratios.get(row["feature"])
        ours_value, theirs_value = _ratio_summary(row), _ratio_summary(other)
        if other is None or any(
            abs(math.log(a / b)) > math.log(1.1)
            for a, b in zip(ours_value.values(), theirs_value.values(), strict=False)
            if isinstance(a, float) and isinstance(b, float) and a > 0 and b > 0
        ):
            rows.append(
                {
                    "field": f"odds ratio {row['feature']}",
                    "this": plain(ours_value, 100),
                    "live": plain(theirs_value, 100),
                }
            )
    return rows


def _ratio_summary(row: Any) -> dict[str, Any]:
    if not isinstance(row, dict):
        return {}
    if "codes" in row:
        return {k: round(v, 2) for k, v in (row.get("codes") or {}).items() if isinstance(v, float)}
    per_sd = row.get("per_sd")
    return {"per SD": round(per_sd, 2)} if isinstance(per_sd, float) else {}


def odds_ratios(linear_params: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    """Each original feature's odds ratio for heart disease, largest effect first.

    A measurement's is per one unit and per one standard deviation of the training
    rows (the standardised coefficient, comparable across features); a coded
    feature's is each code against its lowest code (the one-hot columns read back as
    one feature). None for a model without linear parameters.
    """
    if linear_params is None:
        return None
    rows: list[dict[str, Any]] = []
    for name, part in linear_params["numeric"].items():
        rows.append(
            {
                "feature": name,
                "meaning": SPECS[name].description,
                "kind": "per unit",
                "per_unit": math.exp(part["weight"] / part["scale"]),
                "per_sd": math.exp(part["weight"]),
                "sd": part["scale"],
                "strength": abs(part["weight"]),
            }
        )
    for name, part in linear_params["coded"].items():
        weights = sorted((float(code), w) for code, w in part["weights"].items())
        reference_code, reference = weights[0]
        codes = {f"{code:g}": math.exp(w - reference) for code, w in weights[1:]}
        rows.append(
            {
                "feature": name,
                "meaning": SPECS[name].description,
                "kind": f"against {name}={reference_code:g}",
                "codes": codes,
                "strength": max((abs(w - reference) for _, w in weights), default=0.0),
            }
        )
    return sorted(rows, key=lambda row: -row["strength"])
