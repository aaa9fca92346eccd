"""A model card as Markdown, from its JSON (``heartml.model.model_card`` builds it).

Every value from the card passes through ``heartml.views.markdown``, so a card read
back from the store renders as inert text in the run summary, the pull-request comment
and the dashboard alike.
"""

from __future__ import annotations

from typing import Any

from heartml.features import DIAGNOSES, LABEL
from heartml.views.markdown import cell, code, number, paired, with_interval
from heartml.views.run_summary import PAIRED_SCORES, reason_lines


def _with_interval(score: dict[str, Any] | None) -> str:
    score = score or {}
    return with_interval(score.get("value"), score.get("interval"))


def render(card: dict[str, Any]) -> str:
    """The card as Markdown, for people: the summary, the PR comment, the dashboard, the store.

    Every value from the card goes through ``heartml.views.markdown`` (a card may be read back
    from the store): only this module's own words and numbers are Markdown.
    """
    data, evaluation, gate = card["data"], card["evaluation"], card["gate"]
    confidence = evaluation.get("confidence")
    level = f"{confidence:.0%}" if isinstance(confidence, float) else "95%"
    balance = data.get("label_balance") or {}
    lines = [
        f"# Model card: {cell(card['run_id'])}",
        "",
        f"Trained {cell(card.get('trained_at'))}, commit {code(card.get('git_commit'), 12)}, "
        f"model sha256 {code(card.get('model_sha256'), 12)}. Gate: "
        + ("**passed**." if gate.get("passed") is True else "**held back**."),
        "",
        "## Intended use",
        *[f"- {cell(line, 400)}" for line in card["intended_use"]],
        "",
        "## Not intended for",
        *[f"- {cell(line, 400)}" for line in card["not_intended_use"]],
        "",
        "## Data",
        f"- dataset sha256 {code(data.get('sha256'))}, {cell(data.get('rows'))} rows",
        f"- label balance: {cell(balance.get(DIAGNOSES[1], '—'))} {DIAGNOSES[1]}, "
        f"{cell(balance.get(DIAGNOSES[0], '—'))} {DIAGNOSES[0]} (`{LABEL}` as coded in the data)",
        f"- duplicate rows: {cell(data.get('duplicates', '—'))} "
        f"(share {number(data.get('duplicate_share'))})",
        "- drift against "
        + (
            f"{cell(data['drift_reference'])}'s data: {cell(data.get('drifted') or 'none', 400)}"
            if data.get("drift_reference")
            else "the previous version: no reference (first version, or none archived)"
        ),
        "",
        "## Scores",
        f"On {cell(evaluation.get('rows'))} evaluation rows ({cell(evaluation.get('positives'))} "
        f"with heart disease) that the model never trained on, with {level} intervals:",
        "",
        "| score | value (interval) |",
        "| --- | --- |",
        f"| ROC AUC | {_with_interval(card['scores'].get('roc_auc'))} |",
        f"| accuracy | {_with_interval(card['scores'].get('val_acc'))} |",
        f"| Brier score | {_with_interval(card['scores'].get('brier'))} |",
        f"| expected calibration error | {number(card['calibration'].get('ece'))} |",
        "",
    ]
    lines += [*slice_table(card["slices"]), ""]
    lines += [*reliability_table(card["calibration"].get("reliability") or []), ""]
    lines += ["## Gate", ""]
    compared = card.get("compared_with")
    if compared:
        difference = compared.get("difference") or {}
        lines += [
            f"Compared with live {cell(compared['run_id'])} on the same rows (candidate - live):"
        ]
        for name, _label in PAIRED_SCORES:
            lines.append(f"- {name} {paired(difference.get(name))}")
        lines.append("")
    lines += reason_lines(gate)
    if not gate.get("reasons") and not gate.get("notes"):
        lines.append("- every check passed")
    against = card.get("differences_from_live")
    if card.get("live_run_id") is not None:
        live_id = cell(card.get("live_run_id"))
        lines += ["", f"## Against the live card ({live_id})", ""]
        if card.get("live_card_problem"):
            lines.append(
                f"{live_id}'s model card is malformed ({cell(card['live_card_problem'])}): "
                "not compared."
            )
        elif against is None:
            lines.append(f"{live_id} was archived without a model card.")
        elif against:
            lines += ["| | this version | live |", "| --- | --- | --- |"]
            lines += [
                f"| {cell(d['field'])} | {cell(d['this'])} | {cell(d['live'])} |" for d in against
            ]
        else:
            lines.append("No compared field differs.")
    lines += ["", "## Coefficients as odds ratios (association, not cause)", ""]
    lines += odds_ratio_table(card.get("odds_ratios"))
    versions = card.get("versions") or {}
    lines += [
        "",
        "## Built with",
        ", ".join(f"{cell(name)} {cell(version)}" for name, version in versions.items()) or "—",
        "",
    ]
    return "\n".join(lines)


def slice_table(slices: list[dict[str, Any]]) -> list[str]:
    """Rows per slice: counts always, scores and intervals where the slice is judged."""
    lines = [
        "| slice | rows | with disease | ROC AUC (interval) | accuracy (interval) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for part in slices:
        if not part.get("judged"):
            lines.append(
                f"| {cell(part['slice'])} | {cell(part['rows'])} | {cell(part['positives'])} | "
                f"not judged: {cell(part.get('note'), 200)} | |"
            )
            continue
        intervals = part.get("intervals") or {}
        lines.append(
            f"| {cell(part['slice'])} | {cell(part['rows'])} | {cell(part['positives'])} | "
            f"{_with_interval({'value': part['roc_auc'], 'interval': intervals.get('roc_auc')})} | "
            f"{_with_interval({'value': part['val_acc'], 'interval': intervals.get('val_acc')})} |"
        )
    return lines


def reliability_table(table: list[dict[str, Any]]) -> list[str]:
    """The ten-bin reliability table: predicted against observed share with heart disease."""
    lines = [
        "| P(heart disease) | rows | mean predicted | observed |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| {cell(b['bin'])} | {cell(b['rows'])} | {number(b['mean_predicted'], 3)} | "
        f"{number(b['observed'], 3)} |"
        for b in table
    ]
    return lines


def odds_ratio_table(rows: list[dict[str, Any]] | None) -> list[str]:
    if rows is None:
        return ["Not available: the model has no linear parameters."]
    lines = ["| feature | odds ratio | meaning |", "| --- | --- | --- |"]
    for row in rows:
        if "codes" in row:
            shown = ", ".join(f"{cell(c)}: {ratio:.2f}" for c, ratio in row["codes"].items())
            lines.append(
                f"| {cell(row['feature'])} | {cell(row['kind'])}: {shown} | "
                f"{cell(row['meaning'], 200)} |"
            )
        else:
            lines.append(
                f"| {cell(row['feature'])} | {row['per_unit']:.3f} per unit, {row['per_sd']:.2f} "
                f"per SD ({row['sd']:.3g}) | {cell(row['meaning'], 200)} |"
            )
    return lines
