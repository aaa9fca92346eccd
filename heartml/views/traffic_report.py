"""The monitor's report for people: one summary line, and the Markdown page beside the JSON.

What came from the bucket (run ids, problems, actions, times) goes through ``markdown.cell``.
"""

from __future__ import annotations

from typing import Any

from heartml.views.markdown import cell


def summary(report: dict[str, Any]) -> str:
    """The one line the step prints: drift or not, on how many records of which version."""
    live = report["live"]
    if live is None:
        return f"no traffic for the live version {report['live_run_id']} in these windows"
    if not live["judged"]:
        binned = live["records"] - live["held_records"]
        return f"{binned} records counted per bin for {live['run_id']}: too few to judge drift"
    if not live["drifted"]:
        return (
            f"no drift: {live['records']} records for {live['run_id']} look like its training data"
        )
    return f"drift in {', '.join(live['drifted'])}: {live['records']} records for {live['run_id']}"


def render(report: dict[str, Any]) -> str:
    """The report as Markdown."""
    live = report["live"]
    lines = [
        f"# Live traffic against training, {cell(report['generated'])}",
        "",
        cell(summary(report), 400),
        "",
    ]
    if live:
        share = live["positive_share"]
        trained = live["training_positive_share"]
        lines += [
            f"{live['requests']} requests, {live['records']} records, {live['windows']} windows "
            f"from {live['instances']} instances of {len(live['revisions'])} revision(s), "
            f"{cell(live['first'])} to {cell(live['last'])}."
            + (
                f" {live['held_records']} of the records came in count-only windows (an "
                "instance stopped before k records) and are not binned."
                if live["held_records"]
                else ""
            ),
            "",
            f"Answered heart disease (P ≥ 0.5): "
            f"{'—' if share is None else f'{share:.1%}'} live, "
            f"{'—' if trained is None else f'{trained:.1%}'} on the training rows.",
            "",
            "| feature | PSI | chi-squared p | drifted |",
            "| --- | --- | --- | --- |",
        ]
        for name, f in live["features"].items():
            p = "—" if f["p_value"] is None else f"{f['p_value']:.2g}"
            lines.append(
                f"| {cell(name)} | {f['psi']:.3f} | {p} | {'yes' if f['drifted'] else ''} |"
            )
    lines += [f"- {cell(problem, 400)}" for problem in report["problems"]]
    lines += [f"- {cell(action, 400)}" for action in report.get("actions", [])]
    for run_id, other in report["other_versions"].items():
        lines.append(
            f"- {other['records']} records served by {cell(run_id)}: kept apart, not compared"
        )
    return "\n".join(lines)
