"""Render a run's Markdown summary from what its steps recorded.

Whatever came from the store or the dataset (run ids, reasons naming them, findings'
examples, slice and check names) reaches the Markdown through ``heartml.views.markdown``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from heartml.views.markdown import cell, code, number, paired, with_interval

# The scores the gate compares pairwise, as both the summary and the card name them.
PAIRED_SCORES = (("roc_auc", "ROC AUC"), ("val_acc", "accuracy (val_acc)"))


def reason_lines(gate: dict[str, Any]) -> list[str]:
    """The gate's reasons and notes as bullets: the verdict in words, wherever it is shown."""
    lines = [f"- {cell(reason, 400)}" for reason in gate.get("reasons", [])]
    return lines + [f"- {cell(note, 400)}" for note in gate.get("notes", [])]


def render(
    validation: dict[str, Any] | None,
    verdict: dict[str, Any] | None,
    metrics: dict[str, Any] | None,
    *,
    published: bool = False,
) -> str:
    """Return the summary: data checks, candidate vs live, the gate's verdict."""
    run_id = (metrics or {}).get("run_id") or (verdict or {}).get("candidate", {}).get("run_id")
    lines = [f"## Heart-disease model run {cell(run_id) if run_id else ''}".rstrip(), ""]

    if verdict is None:
        lines += ["**Gate:** not reached.", ""]
    else:
        state = "passed" if verdict["passed"] else "held back"
        lines += [f"**Gate: {state}.**" + (" Published to `latest`." if published else ""), ""]
        lines += reason_lines(verdict)
        lines += ["", *verdict_tables(verdict), ""]

    if metrics:
        dataset = metrics.get("dataset", {})
        lines += [
            f"Training: acc {number(metrics.get('acc'))}, "
            f"val_acc {number(metrics.get('val_acc'))}, "
            f"roc_auc {number(metrics.get('roc_auc'))}, {cell(dataset.get('rows'))} rows, dataset "
            f"sha256 {code(dataset.get('sha256'), 12)}, "
            f"commit {code(metrics.get('git_commit'), 12)}.",
            "",
        ]

    if validation is None:
        lines += ["**Data checks:** not run.", ""]
    else:
        state = "passed" if validation["passed"] else "FAILED"
        lines += [f"**Data checks: {state}** ({cell(validation['rows'])} rows).", ""]
        lines += [f"- error: {_finding(f)}" for f in validation["errors"]]
        lines += [f"- warning: {_finding(f)}" for f in validation["warnings"]]
        drift = validation.get("drift")
        if drift is None:
            lines += ["- drift: no reference dataset (no live model yet, or it predates archiving)"]
        else:
            shifted = cell(drift["drifted"] or "none", 400)
            threshold = drift["p_value_threshold"]
            lines += [f"- drift against the live model's data (p < {threshold}): {shifted}"]
            lines += ["", "| feature | test | p-value | drifted |", "| --- | --- | --- | --- |"]
            lines += [
                f"| {cell(name)} | {cell(r['test'])} | {r['p_value']:.4f} | "
                f"{'yes' if r['drifted'] else ''} |"
                for name, r in drift["features"].items()
            ]
        lines.append("")
    return "\n".join(lines)


def _scored(score: dict[str, Any], name: str) -> str:
    return with_interval(score.get(name), (score.get("intervals") or {}).get(name))


def verdict_tables(verdict: dict[str, Any]) -> list[str]:
    """Candidate beside live on the same rows: scores with intervals, the paired
    difference the decision rests on, calibration, slices and the behaviour checks."""
    cand, champ = verdict["candidate"], verdict.get("champion") or {}
    confidence = (verdict.get("params") or {}).get("confidence", 0.95)
    comparison = verdict.get("comparison") or {}
    lines = [
        f"Scores on the candidate's {verdict['rows']} evaluation rows, which neither model "
        f"trained on ({cand.get('positives', '—')} with heart disease; "
        f"{confidence:.0%} intervals):",
        "",
        "| | candidate | live | candidate - live (paired) |",
        "| --- | --- | --- | --- |",
        f"| run | {cell(cand['run_id'])} | {cell(champ.get('run_id'))} | |",
    ]
    for name, label in PAIRED_SCORES:
        lines.append(
            f"| {label} | {_scored(cand, name)} | {_scored(champ, name)} | "
            f"{paired(comparison.get(name))} |"
        )
    lines += [
        f"| Brier score | {_scored(cand, 'brier')} | {_scored(champ, 'brier')} | |",
        f"| expected calibration error | {number(cand.get('ece'))} | "
        f"{number(champ.get('ece'))} | |",
        "",
        "| slice | rows | candidate ROC AUC | live ROC AUC |",
        "| --- | --- | --- | --- |",
    ]
    live_slices = {s["slice"]: s for s in champ.get("slices") or []}
    for part in cand.get("slices") or []:
        theirs = live_slices.get(part["slice"], {})
        if not part.get("judged"):
            lines.append(
                f"| {cell(part['slice'])} | {cell(part['rows'])} | "
                f"not judged: {cell(part['note'], 200)} | |"
            )
            continue
        lines.append(
            f"| {cell(part['slice'])} | {cell(part['rows'])} | {_scored(part, 'roc_auc')} | "
            f"{number(theirs.get('roc_auc'))} |"
        )
    params = verdict.get("params") or {}
    if params:
        lines += [
            "",
            f"Decision rule: held back if ROC AUC < {params.get('min_roc_auc')}, accuracy < "
            f"{params.get('min_accuracy')}, Brier > {params.get('max_brier')} or a judged slice's "
            f"ROC AUC < {params.get('min_slice_roc_auc')} (point estimates), or if the whole "
            f"paired interval on candidate - live lies below -{params.get('max_roc_auc_drop')} "
            f"(ROC AUC) or -{params.get('max_accuracy_drop')} (accuracy).",
        ]
    lines += ["", "| behaviour check | result | detail |", "| --- | --- | --- |"]
    lines += [
        f"| {cell(b['check'])} | {'pass' if b['passed'] else 'FAIL'} | {cell(b['detail'], 200)} |"
        for b in verdict["behaviour"]
    ]
    return lines


def _finding(finding: dict[str, Any]) -> str:
    where = f"{code(finding['column'])} " if finding.get("column") else ""
    examples = finding.get("examples") or []
    shown = f" (e.g. {cell(examples, 200)})" if examples else ""
    return f"\\[{cell(finding['check'])}\\] {where}{cell(finding['message'], 400)}{shown}"


def render_run(reports_dir: Path, artifacts_dir: Path, *, published: bool = False) -> str:
    """Render the summary from the files a run's steps left (any of them may be missing).

    The model card, when the gate wrote one, follows in a folded section.
    """
    from heartml.store import run_folder  # here: rendering from dicts needs no file layout

    text = render(
        run_folder.read_json(reports_dir / run_folder.VALIDATION_REPORT),
        run_folder.read_json(reports_dir / run_folder.GATE_REPORT),
        run_folder.read_json(artifacts_dir / run_folder.METRICS_FILE),
        published=published,
    )
    card = run_folder.read_card(artifacts_dir)
    if card is not None:
        text += (
            "\n<details><summary>Model card</summary>\n\n"
            + ("\n" + card[1].decode("utf-8")).replace("\n# ", "\n### ").replace("\n## ", "\n#### ")
            + "\n</details>\n"
        )
    return text
