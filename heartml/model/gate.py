"""Decide whether a candidate model may replace the live one.

A candidate is "blessed" when it clears absolute floors (overall, per slice, and a
Brier ceiling, on point estimates), is not shown worse than the live model (the
champion) beyond a tolerance by the paired interval on rows neither trained on, and
passes behavioural checks every deployable model must pass. With no live model, or
one that cannot be loaded here or was split before the content-hash rule, the
comparison is skipped and the rest decide.

Models are judged as classifiers whose class 1 is heart disease, the positive class
of every score here: ``y`` comes from ``training.split`` (through the evaluation rows
``steps.train`` writes) and a published version is passed as a ``serving.LoadedModel``,
which answers that way whatever its label coding. Scoring needs no scikit-learn
(``heartml.model.scores``): a fast-path model is judged without importing it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from heartml import config
from heartml.data.dataset import read_evaluation
from heartml.errors import ModelLoadError, ObjectNotFound
from heartml.model import model_card, scores
from heartml.model.behaviour import behavioural_checks
from heartml.serving import served_model
from heartml.store import registry, run_folder
from heartml.store.backends import Store, parse_stored

# The name its log lines carried before the package had wings: log queries keep working.
log = logging.getLogger("heartml.gate")


# Each GateParams field and the setting it comes from (see config.SETTINGS).
@dataclass(frozen=True)
class GateParams(config.SettingsGroup):
    """Thresholds of the promotion gate.

    Floors and the Brier ceiling judge the point estimate (an interval's low end on a
    few dozen rows would fail any useful floor); the comparison with the champion
    judges the interval: a candidate is held back only when the whole interval on
    candidate minus champion lies below minus the tolerance.

    Parameters
    ----------
    min_roc_auc : float, default=0.80
        Floor on ROC AUC over the held-out rows.
    min_accuracy : float, default=0.75
        Floor on accuracy over the held-out rows.
    max_roc_auc_drop : float, default=0.02
        How far the candidate's ROC AUC may be below the champion's on the same rows.
    max_accuracy_drop : float, default=0.05
        How far its accuracy may be below the champion's on the same rows.
    confidence : float, default=0.95
        Two-sided confidence of every interval, the comparison's included.
    max_brier : float, default=0.25
        Ceiling on the Brier score: 0.25 is what always answering 0.5 scores.
    min_slice_roc_auc : float, default=0.70
        Floor on ROC AUC in each slice (the project file's [[slices]]) large enough to judge.
    min_slice_rows : int, default=30
        Fewest rows (of both classes) a slice needs to be judged; smaller ones are listed.
    """

    min_roc_auc: float = config.setting("GATE_MIN_ROC_AUC")
    min_accuracy: float = config.setting("GATE_MIN_ACCURACY")
    max_roc_auc_drop: float = config.setting("GATE_MAX_ROC_AUC_DROP")
    max_accuracy_drop: float = config.setting("GATE_MAX_ACCURACY_DROP")
    confidence: float = config.setting("GATE_CONFIDENCE")
    max_brier: float = config.setting("GATE_MAX_BRIER")
    min_slice_roc_auc: float = config.setting("GATE_MIN_SLICE_ROC_AUC")
    min_slice_rows: int = config.setting("GATE_MIN_SLICE_ROWS")


@dataclass
class Verdict:
    """The gate's decision and everything it was based on."""

    passed: bool
    reasons: list[str]
    candidate: dict[str, Any]
    champion: dict[str, Any] | None
    behaviour: list[dict[str, Any]]
    params: dict[str, float]
    rows: int
    notes: list[str] = field(default_factory=list)
    # Candidate minus champion on the same rows, with paired intervals (None: no champion).
    comparison: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge(
    candidate: Any,
    val_x: pd.DataFrame,
    val_y: pd.Series,
    *,
    candidate_run_id: str,
    champion: Any | None = None,
    champion_run_id: str | None = None,
    champion_problem: str | None = None,
    params: GateParams | None = None,
) -> Verdict:
    """Judge ``candidate`` against the floors, the champion (if any) and the behaviour checks."""
    params = params or GateParams()
    reasons: list[str] = []
    notes: list[str] = []
    p_candidate = candidate.predict_proba(val_x)[:, 1]
    cand = _model_scores(candidate_run_id, val_x, val_y, p_candidate, params)
    reasons += _floor_reasons(cand, params)

    champ = comparison = None
    if champion is not None:
        p_champion = champion.predict_proba(val_x)[:, 1]
        champ = _model_scores(champion_run_id, val_x, val_y, p_champion, params)
        comparison = scores.paired_difference(val_y, p_candidate, p_champion, params.confidence)
        reasons += _comparison_reasons(comparison, champion_run_id, params)
    elif champion_problem:
        notes.append(f"live model not comparable ({champion_problem}); judged on floors alone")
    else:
        notes.append("no live model yet; judged on floors alone")

    behaviour = behavioural_checks(candidate, val_x)
    reasons += [
        f"behaviour '{b['check']}' failed: {b['detail']}" for b in behaviour if not b["passed"]
    ]
    return Verdict(
        passed=not reasons,
        reasons=reasons,
        candidate=cand,
        champion=champ,
        behaviour=behaviour,
        params=asdict(params),
        rows=len(val_x),
        notes=notes,
        comparison=comparison,
    )


def _model_scores(
    run_id: str | None,
    val_x: pd.DataFrame,
    val_y: pd.Series,
    p_disease: np.ndarray,
    params: GateParams,
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        **scores.summary(val_y, p_disease, params.confidence),
        "slices": scores.slice_summaries(
            val_x, val_y, p_disease, params.confidence, params.min_slice_rows
        ),
    }


def _floor_reasons(cand: dict[str, Any], params: GateParams) -> list[str]:
    """The floors and the ceiling, on point estimates, overall and per judged slice."""
    reasons = []
    if cand["roc_auc"] < params.min_roc_auc:
        reasons.append(f"roc_auc {cand['roc_auc']:.4f} < floor {params.min_roc_auc}")
    if cand["val_acc"] < params.min_accuracy:
        reasons.append(f"val_acc {cand['val_acc']:.4f} < floor {params.min_accuracy}")
    if cand["brier"] > params.max_brier:
        reasons.append(f"brier {cand['brier']:.4f} > ceiling {params.max_brier}")
    for part in cand["slices"]:
        if part["judged"] and part["roc_auc"] < params.min_slice_roc_auc:
            reasons.append(
                f"slice '{part['slice']}': roc_auc {part['roc_auc']:.4f} < slice floor "
                f"{params.min_slice_roc_auc} ({part['rows']} rows)"
            )
    return reasons


def _comparison_reasons(
    comparison: dict[str, Any], champion_run_id: str | None, params: GateParams
) -> list[str]:
    """Hold back only when the whole interval on candidate minus champion is below -tolerance.

    Without an interval (fewer than two rows of a class) the point estimate decides.
    """
    reasons = []
    for metric, tolerance in (
        ("roc_auc", params.max_roc_auc_drop),
        ("val_acc", params.max_accuracy_drop),
    ):
        difference, interval = (comparison[metric][k] for k in ("difference", "interval"))
        upper = interval[1] if interval is not None else difference
        if upper < -tolerance:
            shown = (
                f"{params.confidence:.0%} interval {interval[0]:+.4f} to {interval[1]:+.4f}"
                if interval is not None
                else "no interval"
            )
            reasons.append(
                f"{metric} is worse than live {champion_run_id}'s beyond the tolerance "
                f"{tolerance}: candidate - live {difference:+.4f} ({shown}, "
                f"{comparison['rows']} rows)"
            )
    return reasons


def load_champion(store: Store) -> tuple[served_model.LoadedModel | None, str | None]:
    """Return the promoted model and, if it cannot be judged, why not.

    No promoted model yet gives ``(None, None)``; one that cannot be loaded here (another
    scikit-learn, a foreign or planted file, one that would need unpickling from a
    bucket) gives ``(None, reason)``: the floors alone decide then. Nothing read here
    is unpickled: the champion is scored through its linear parameters.
    """
    try:
        live = served_model.load_from_store(store)
    except ModelLoadError as exc:
        return None, str(exc)
    except ObjectNotFound:
        return None, None
    return live, None


def split_problem(champion: served_model.LoadedModel, candidate_split: Any) -> str | None:
    """Say why the champion may have trained on the candidate's evaluation rows, if it may.

    Under the content-hash rule a row is held out when its hash is below the share, so
    a champion split with the same salt and at least the candidate's share held out
    every row the candidate is scored on. A version archived before the rule (split
    by a seeded shuffle, no ``split`` in its file) cannot promise that: it is not
    compared, and the floors alone judge the candidate that replaces it.
    """
    theirs = champion.metadata.get("split")
    if not isinstance(theirs, dict) or not isinstance(candidate_split, dict):
        return (
            f"live {champion.run_id} was split before rows were assigned by content hash, "
            "so it may have trained on these evaluation rows"
        )
    if theirs.get("rule") != candidate_split.get("rule") or theirs.get(
        "salt"
    ) != candidate_split.get("salt"):
        return f"live {champion.run_id} was split by another rule or salt"
    if float(theirs.get("evaluation_share", 0)) < float(candidate_split["evaluation_share"]):
        return (
            f"live {champion.run_id} held out {theirs.get('evaluation_share')} of rows, less "
            f"than the candidate's {candidate_split['evaluation_share']}: it trained on some "
            "of the candidate's evaluation rows"
        )
    return None


def evaluate(
    candidate: served_model.LoadedModel,
    val_x: pd.DataFrame,
    val_y: pd.Series,
    candidate_run_id: str,
    store: Store,
    params: GateParams | None = None,
) -> Verdict:
    """Judge a trained candidate against the store's live model on the candidate's held-out rows."""
    champion, problem = load_champion(store)
    if champion is not None:
        problem = split_problem(champion, candidate.metadata.get("split"))
        if problem:
            champion = None
    verdict = judge(
        candidate,
        val_x,
        val_y,
        candidate_run_id=candidate_run_id,
        champion=champion,
        champion_run_id=champion.run_id if champion is not None else None,
        champion_problem=problem,
        params=params,
    )
    return verdict


class Judgement(NamedTuple):
    """What the gate found, for the step to write: nothing here is written by the gate."""

    verdict: Verdict
    model_bytes: bytes
    metrics: dict[str, Any]  # the candidate's, with the verdict and data checks added
    card: dict[str, Any]  # the version's model card (data; ``views.card_page`` renders it)


def judge_trained(
    artifacts_dir: Path,
    store: Store,
    params: GateParams | None = None,
    validation_report: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Judgement:
    """Judge the candidate ``steps.train`` left in ``artifacts_dir`` against the live model.

    It is scored on the held-out rows training wrote beside it (checked against the
    sha256 in its metrics), so the dataset is neither parsed nor split again, and the
    model and metrics files are read once. The metrics come back with the verdict (and a
    summary of the data checks, so history shows what the data was like) added, and
    with the model card: the step writes them back, and they are archived with the version.
    """
    model_bytes, metrics = run_folder.read_artifacts(artifacts_dir)
    candidate = served_model.trained_model(
        model_bytes, metrics, str(artifacts_dir / run_folder.MODEL_FILE)
    )
    evaluation = run_folder.read_evaluation(artifacts_dir, metrics)
    val_x, val_y = read_evaluation(evaluation, str(artifacts_dir / run_folder.EVALUATION_FILE))
    verdict = evaluate(candidate, val_x, val_y, metrics["run_id"], store, params)
    metrics = {**metrics, "gate": verdict.to_dict()}
    if overrides:  # the gate's settings this run took from a flag or the environment
        metrics["overrides"] = {**metrics.get("overrides", {}), **overrides}
    if validation_report is not None:
        metrics["data_checks"] = data_checks_summary(validation_report)
    keys = registry.card_keys(metrics["run_id"])
    metrics["model_card"] = keys
    card = model_card.build(
        metrics, candidate.scorer.params if candidate.scorer is not None else None, keys
    )
    live_id, live_card, card_problem = live_card_of(store)
    if live_id is not None:
        card["live_run_id"] = live_id
        card["differences_from_live"] = (
            None if live_card is None else model_card.differences(card, live_card)
        )
        if card_problem:
            card["live_card_problem"] = card_problem
    return Judgement(verdict, model_bytes, metrics, card)


def live_card_of(store: Store) -> tuple[str | None, dict[str, Any] | None, str | None]:
    """The live version's run id, its model card, and why the card is not compared, if not.

    The card is None for a version archived without one, or one that is malformed (the
    third value names the field). Only parsed as JSON, never executed, and checked field by
    field (``model_card.live_card_problem``); what reaches a report is cut to inert cells.
    """
    run_id = registry.live_run_id(store)  # the pointer's run id, checked like any other
    if run_id is None:
        return None, None, None
    key = registry.card_keys(run_id)["json"]
    try:
        card = parse_stored(store.read_bytes(key))
    except ObjectNotFound:
        return run_id, None, None
    except (ValueError, UnicodeDecodeError) as exc:
        problem = f"not JSON: {exc}"[:120]
    else:
        problem = model_card.live_card_problem(card)
        if problem is None:
            return run_id, card, None
    log.warning("%s is malformed (%s): compared without it", store.url(key), problem)
    return run_id, None, problem


def data_checks_summary(validation_report: dict[str, Any]) -> dict[str, Any]:
    """Shrink steps.validate's report to what is archived with the version, for history."""
    return {
        "passed": validation_report.get("passed"),
        "duplicates": validation_report.get("duplicates"),
        "duplicate_share": validation_report.get("duplicate_share"),
        "warnings": [w.get("message") for w in validation_report.get("warnings", [])],
        "drifted": (validation_report.get("drift") or {}).get("drifted"),
        "drift_reference": (validation_report.get("drift") or {}).get("reference_run_id"),
    }
