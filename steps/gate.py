"""Judge the trained candidate against the live model: ``python -m steps.gate``.

Adds the verdict to ``artifacts/metrics.json`` (so it is archived with the version)
and writes ``reports/gate.json``; exits 1 when the candidate is held back.
"""

from __future__ import annotations

import argparse
import logging

from heartml import config
from heartml.errors import PipelineError
from heartml.model import gate
from heartml.store import run_folder
from heartml.store.backends import open_store
from heartml.views import card_page
from steps._cli import run

log = logging.getLogger("steps.gate")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("PIPELINE_ARTIFACTS", config.STORE_ENV, "PIPELINE_REPORTS"):
        config.add_flag(parser, name)
    for env in gate.GateParams.settings().values():
        config.add_flag(parser, env)
    args = parser.parse_args(argv)

    def body() -> None:
        out, reports = (config.resolve(args, n) for n in ("PIPELINE_ARTIFACTS", "PIPELINE_REPORTS"))
        verdict, model_bytes, metrics, card = gate.judge_trained(
            out,
            open_store(config.store_uri(args.store)),
            gate.GateParams.from_settings(args),
            run_folder.read_json(reports / run_folder.VALIDATION_REPORT),
            config.overridden(args, gate.GateParams.settings().values()),
        )
        run_folder.save_card(out, card, card_page.render(card))
        run_folder.save_artifacts(out, model_bytes, metrics)
        run_folder.write_report(reports, run_folder.GATE_REPORT, verdict.to_dict())
        for note in verdict.notes:
            log.info("%s", note)
        run_id = metrics["run_id"]
        if not verdict.passed:
            raise PipelineError(f"candidate {run_id} held back: {'; '.join(verdict.reasons)}")
        scores = verdict.candidate
        live = (verdict.champion or {}).get("run_id") or "none"
        log.info(
            "candidate %s passed: roc_auc %.4f, val_acc %.4f (live %s)",
            *(run_id, scores["roc_auc"], scores["val_acc"], live),
        )

    return run("gate", body)


if __name__ == "__main__":
    raise SystemExit(main())
