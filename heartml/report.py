"""Render a run's Markdown summary from what its steps recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else ("—" if value is None else str(value))


def render(
    validation: dict[str, Any] | None,
    verdict: dict[str, Any] | None,
    metrics: dict[str, Any] | None,
    *,
    published: bool = False,
) -> str:
    """Return the summary: data checks, candidate vs live, the gate's verdict."""
    run_id = (metrics or {}).get("run_id") or (verdict or {}).get("candidate", {}).get("run_id")
    lines = [f"## Heart-disease model run {run_id or ''}".rstrip(), ""]

    if verdict is None:
        lines += ["**Gate:** not reached.", ""]
    else:
        state = "passed" if verdict["passed"] else "held back"
        lines += [f"**Gate: {state}.**" + (" Published to `latest`." if published else ""), ""]
        lines += [f"- {reason}" for reason in verdict["reasons"]]
        lines += [f"- {note}" for note in verdict.get("notes", [])]
        cand, champ = verdict["candidate"], verdict.get("champion") or {}
        lines += [
            "",
            f"Scores on the candidate's {verdict['rows']} held-out rows "
            "(positive class: heart disease):",
            "",
            "| | candidate | live |",
            "| --- | --- | --- |",
            f"| run | {cand['run_id']} | {champ.get('run_id', '—')} |",
            f"| ROC AUC | {_fmt(cand['roc_auc'])} | {_fmt(champ.get('roc_auc'))} |",
            f"| val_acc (accuracy) | {_fmt(cand['val_acc'])} | {_fmt(champ.get('val_acc'))} |",
            "",
            "| behaviour check | result | detail |",
            "| --- | --- | --- |",
        ]
        lines += [
            f"| {b['check']} | {'pass' if b['passed'] else 'FAIL'} | {b['detail']} |"
            for b in verdict["behaviour"]
        ]
        lines.append("")

    if metrics:
        dataset = metrics.get("dataset", {})
        lines += [
            f"Training: acc {_fmt(metrics.get('acc'))}, val_acc {_fmt(metrics.get('val_acc'))}, "
            f"roc_auc {_fmt(metrics.get('roc_auc'))}, {dataset.get('rows')} rows, dataset sha256 "
            f"`{str(dataset.get('sha256'))[:12]}`, commit `{str(metrics.get('git_commit'))[:12]}`.",
            "",
        ]

    if validation is None:
        lines += ["**Data checks:** not run.", ""]
    else:
        state = "passed" if validation["passed"] else "FAILED"
        lines += [f"**Data checks: {state}** ({validation['rows']} rows).", ""]
        lines += [f"- error: {_finding(f)}" for f in validation["errors"]]
        lines += [f"- warning: {_finding(f)}" for f in validation["warnings"]]
        drift = validation.get("drift")
        if drift is None:
            lines += ["- drift: no reference dataset (no live model yet, or it predates archiving)"]
        else:
            shifted = ", ".join(drift["drifted"]) or "none"
            threshold = drift["p_value_threshold"]
            lines += [f"- drift against the live model's data (p < {threshold}): {shifted}"]
            lines += ["", "| feature | test | p-value | drifted |", "| --- | --- | --- | --- |"]
            lines += [
                f"| {name} | {r['test']} | {r['p_value']:.4f} | {'yes' if r['drifted'] else ''} |"
                for name, r in drift["features"].items()
            ]
        lines.append("")
    return "\n".join(lines)


def _finding(finding: dict[str, Any]) -> str:
    where = f"`{finding['column']}` " if finding.get("column") else ""
    examples = finding.get("examples") or []
    shown = f" (e.g. {', '.join(map(str, examples))})" if examples else ""
    return f"[{finding['check']}] {where}{finding['message']}{shown}"


def render_run(reports_dir: Path, artifacts_dir: Path, *, published: bool = False) -> str:
    """Render the summary from the files a run's steps left (any of them may be missing)."""
    from heartml import artifacts  # here: rendering from dicts needs no file layout

    return render(
        artifacts.read_json(reports_dir / artifacts.VALIDATION_REPORT),
        artifacts.read_json(reports_dir / artifacts.GATE_REPORT),
        artifacts.read_json(artifacts_dir / artifacts.METRICS_FILE),
        published=published,
    )
