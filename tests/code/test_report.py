"""The run report: rendered from what the steps recorded, written where GitHub shows it."""

from __future__ import annotations

import json

import pytest

from heartml.data import validation
from heartml.data.dataset import read_dataset
from heartml.views import run_summary
from tests.helpers import DATASET, call_step
from tests.markdown import read, rendered


def test_the_step_appends_to_the_github_job_summary(trained_artifacts, tmp_path) -> None:
    summary = tmp_path / "step_summary.md"
    summary.write_text("earlier step's text\n")
    args = ["--reports", str(trained_artifacts / "reports"), "--artifacts", str(trained_artifacts)]
    result = call_step("report", *args, "--published", GITHUB_STEP_SUMMARY=str(summary))
    assert result.returncode == 0
    text = summary.read_text()
    assert text.startswith("earlier step's text\n")
    assert "## Heart-disease model run fixture-run" in text
    assert "**Gate: passed.** Published to `latest`." in text
    assert "| clear-cut cases | pass | 9 of 9 right |" in text
    rows = json.loads((trained_artifacts / "metrics.json").read_text())["evaluation"]["rows"]
    assert (
        f"Scores on the candidate's {rows} evaluation rows, which neither model trained on" in text
    )
    assert "| slice | rows | candidate ROC AUC | live ROC AUC |" in text
    assert "Decision rule: held back if ROC AUC < 0.8" in text
    # The model card follows, folded, its headings demoted below the summary's.
    assert "<details><summary>Model card</summary>" in text
    assert "\n### Model card: fixture-run\n" in text and "\n#### Intended use\n" in text


def test_without_github_it_writes_reports_summary(trained_artifacts, tmp_path) -> None:
    reports = tmp_path / "reports"
    result = call_step(
        "report", "--reports", str(reports), "--artifacts", str(tmp_path / "none"),
        GITHUB_STEP_SUMMARY="",
    )  # fmt: skip
    assert result.returncode == 0
    text = (reports / "summary.md").read_text()
    assert "**Gate:** not reached." in text and "**Data checks:** not run." in text


def test_a_held_back_verdict_and_failed_checks_are_spelled_out(trained_artifacts) -> None:
    verdict = json.loads((trained_artifacts / "reports" / "gate.json").read_text())
    verdict.update(passed=False, reasons=["roc_auc 0.7000 < floor 0.8"])
    frame = read_dataset(DATASET).head(10)
    checks = validation.validate(frame).to_dict()
    text = run_summary.render(checks, verdict, None)
    assert "**Gate: held back.**" in text
    assert "- roc\\_auc 0.7000 \\< floor 0.8" in text  # a reason is text, never Markdown
    assert "roc_auc 0.7000 < floor 0.8" in read(text)
    assert "**Data checks: FAILED** (10 rows)." in text
    assert "error: [rows] 10 rows, at least 100 needed" in read(text)


@pytest.mark.parametrize(
    ("text", "not_made"),
    [
        (" - x", "<ul>"),
        ("    code", "<pre>"),
        ("  1. y", "<ol>"),
        (" ---", "<hr"),
        ("> quoted", "<blockquote>"),
    ],
)
def test_a_cell_cannot_start_a_block_even_after_spaces(text, not_made) -> None:
    from heartml.views.markdown import cell

    for shape in ("- {}", "{}", "| a | {} |"):
        markdown = shape.format(cell(text))
        if shape.startswith("|"):
            markdown = "| a | b |\n| --- | --- |\n" + markdown
        assert not_made not in rendered(markdown).replace(
            "<ul>\n<li>", "", 1 if shape == "- {}" else 0
        )


def test_a_cell_breaks_githubs_issue_and_commit_references() -> None:
    from heartml.views.markdown import cell

    assert "GH-1" not in cell("see GH-1 and gh-22") and "gh-22" not in cell("gh-22")
    sha = "a5c3785ed8d6a35868bc169f07e40e889087fd2e"
    assert sha not in cell(sha)
    assert cell(sha).replace("\u200b", "") == sha  # the characters are all kept
    for kept in ("1234567", "local-20261207T123856Z-df0526", "0.8544"):
        assert cell(kept) == kept  # plain numbers and run ids untouched
