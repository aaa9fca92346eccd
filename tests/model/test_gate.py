"""The promotion gate: floors, the champion comparison and behavioural checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from heartml.data.dataset import read_dataset
from heartml.features import DIAGNOSES, has_disease
from heartml.model import behaviour, gate, training
from heartml.serving import served_model
from tests.cases import resampled
from tests.helpers import DATASET, legacy_model


@pytest.fixture(scope="module")
def data():
    frame = read_dataset(DATASET)
    params = training.TrainParams()
    _, val_x, _, val_y = training.split(frame, params)
    return frame, val_x, val_y


@pytest.fixture(scope="module")
def champion(data):
    return training.train(data[0]).pipeline


def _names(verdict: gate.Verdict) -> dict[str, bool]:
    return {b["check"]: b["passed"] for b in verdict.behaviour}


def test_the_first_model_is_judged_on_floors_and_behaviour(data, champion) -> None:
    _, val_x, val_y = data
    verdict = gate.judge(champion, val_x, val_y, candidate_run_id="first")
    assert verdict.passed, verdict.reasons
    assert verdict.champion is None
    assert verdict.notes == ["no live model yet; judged on floors alone"]
    assert all(_names(verdict).values())


def test_a_comparable_candidate_passes_with_both_scored_on_the_same_rows(data, champion) -> None:
    frame, val_x, val_y = data
    # Another regularisation strength: a different model of the same quality.
    candidate = training.train(
        frame, training.TrainParams(model_params={"C": 0.3, "max_iter": 1000})
    ).pipeline
    verdict = gate.judge(
        candidate, val_x, val_y, candidate_run_id="b", champion=champion, champion_run_id="a"
    )
    assert verdict.passed, verdict.reasons
    assert verdict.rows == len(val_x) == verdict.comparison["rows"]
    for name, model in (("candidate", candidate), ("champion", champion)):
        expected = roc_auc_score(val_y, model.predict_proba(val_x)[:, 1])
        assert getattr(verdict, name)["roc_auc"] == pytest.approx(expected, abs=1e-12)
    assert verdict.candidate["roc_auc"] != verdict.champion["roc_auc"]


@pytest.fixture(scope="module")
def big():
    """3000 rows resampled from the shipped data: about 590 evaluation rows, slices to judge."""
    frame = resampled(3000, seed=7)
    params = training.TrainParams()
    train_x, val_x, train_y, val_y = training.split(frame, params)
    live = training.fit(train_x, val_x, train_y, val_y, params).pipeline
    return frame, train_x, train_y, val_x, val_y, live


def _without_cp_and_thal(big):
    """A real, somewhat worse model: trained with chest pain type and thal unrecorded."""
    _, train_x, train_y, val_x, val_y, _ = big
    blank = train_x.assign(cp=np.nan, thal=np.nan)
    return training.fit(blank, val_x, train_y, val_y, training.TrainParams()).pipeline


# The imputer says so of cp and thal in the model trained without them, at every transform.
@pytest.mark.filterwarnings("ignore:Skipping features without any observed values")
def test_a_candidate_worse_beyond_the_tolerance_with_confidence_is_held_back(big) -> None:
    _, _, _, val_x, val_y, live = big
    worse = _without_cp_and_thal(big)
    params = gate.GateParams(max_roc_auc_drop=0.005)
    verdict = gate.judge(
        worse,
        val_x,
        val_y,
        candidate_run_id="w",
        champion=live,
        champion_run_id="live",
        params=params,
    )
    low, high = verdict.comparison["roc_auc"]["interval"]
    assert high < -0.005
    assert verdict.reasons == [
        f"roc_auc is worse than live live's beyond the tolerance 0.005: candidate - live "
        f"{verdict.comparison['roc_auc']['difference']:+.4f} (95% interval {low:+.4f} to "
        f"{high:+.4f}, {len(val_x)} rows)"
    ]


@pytest.mark.filterwarnings("ignore:Skipping features without any observed values")
def test_a_drop_beyond_the_tolerance_that_the_rows_cannot_confirm_passes(big) -> None:
    """The point estimate alone would hold this candidate back; the paired interval does not."""
    _, _, _, val_x, val_y, live = big
    worse = _without_cp_and_thal(big)
    verdict = gate.judge(
        worse, val_x, val_y, candidate_run_id="w", champion=live, champion_run_id="live"
    )
    difference = verdict.comparison["roc_auc"]["difference"]
    low, high = verdict.comparison["roc_auc"]["interval"]
    assert difference < -0.02 < high  # worse than the tolerance, yet not with 95 % confidence
    assert verdict.passed, verdict.reasons
    # Pairing: the interval on the difference is narrower than either model's own interval.
    own = verdict.candidate["intervals"]["roc_auc"]
    assert high - low < own[1] - own[0]


def test_a_model_fine_overall_but_poor_for_women_is_held_back_by_the_slice_floor(big) -> None:
    """An export where 30 % of women's diagnoses are flipped: men's answers stay good."""
    frame = big[0].copy()
    rng = np.random.default_rng(3)
    flip = (frame["sex"] == 0) & (rng.random(len(frame)) < 0.3)
    frame.loc[flip, "target"] = 1 - frame.loc[flip, "target"]
    params = training.TrainParams()
    train_x, val_x, train_y, val_y = training.split(frame, params)
    model = training.fit(train_x, val_x, train_y, val_y, params).pipeline
    verdict = gate.judge(model, val_x, val_y, candidate_run_id="c")

    slices = {s["slice"]: s for s in verdict.candidate["slices"]}
    assert all(s["judged"] for s in slices.values()), slices  # every slice clears 30 rows
    women = slices["sex female"]
    assert verdict.candidate["roc_auc"] >= 0.80 and slices["sex male"]["roc_auc"] >= 0.70
    assert verdict.reasons == [
        f"slice 'sex female': roc_auc {women['roc_auc']:.4f} < slice floor 0.7 "
        f"({women['rows']} rows)"
    ]


def test_small_slices_are_listed_but_not_judged(data, champion) -> None:
    _, val_x, val_y = data
    verdict = gate.judge(
        champion, val_x, val_y, candidate_run_id="c", params=gate.GateParams(min_slice_rows=40)
    )
    listed = {s["slice"]: s for s in verdict.candidate["slices"]}
    assert set(listed) == {
        "sex female",
        "sex male",
        "age under 45",
        "age 45-54",
        "age 55-64",
        "age 65 and over",
    }
    for entry in listed.values():
        assert entry["judged"] == (entry["rows"] >= 40), entry
        if not entry["judged"]:
            assert entry["note"] == "fewer than 40 rows" and "roc_auc" not in entry
    assert sum(listed[s]["rows"] for s in ("sex female", "sex male")) == len(val_x)


def test_the_brier_ceiling_holds_back_a_badly_calibrated_model(data, champion) -> None:
    _, val_x, val_y = data
    verdict = gate.judge(
        champion, val_x, val_y, candidate_run_id="c", params=gate.GateParams(max_brier=0.05)
    )
    assert verdict.reasons == [f"brier {verdict.candidate['brier']:.4f} > ceiling 0.05"]
    table = verdict.candidate["reliability"]
    assert len(table) == 10 and sum(b["rows"] for b in table) == len(val_x)


def test_floors_hold_back_a_model_that_is_bad_on_its_own(data) -> None:
    _, val_x, val_y = data
    dummy = DummyClassifier(strategy="prior").fit(val_x, val_y)
    verdict = gate.judge(dummy, val_x, val_y, candidate_run_id="dummy")
    assert "roc_auc 0.5000 < floor 0.8" in verdict.reasons
    assert not _names(verdict)["clear-cut cases"]


def test_a_model_that_cannot_impute_fails_behaviour(data) -> None:
    _, val_x, val_y = data
    bare = LogisticRegression(max_iter=1000).fit(val_x, val_y)  # no imputer in front
    verdict = gate.judge(bare, val_x, val_y, candidate_run_id="bare")
    assert not _names(verdict)["missing values imputed"]
    assert any("missing values imputed" in reason for reason in verdict.reasons)


def test_thresholds_are_parameters(data, champion) -> None:
    _, val_x, val_y = data
    strict = gate.GateParams(min_roc_auc=0.99)
    verdict = gate.judge(champion, val_x, val_y, candidate_run_id="x", params=strict)
    assert not verdict.passed
    assert verdict.params["min_roc_auc"] == 0.99


def test_an_unreadable_champion_is_noted_and_floors_decide(data, champion) -> None:
    _, val_x, val_y = data
    verdict = gate.judge(
        champion, val_x, val_y, candidate_run_id="c", champion_problem="refusing: sklearn 0.1"
    )
    assert verdict.passed
    assert "live model not comparable (refusing: sklearn 0.1)" in verdict.notes[0]


def test_the_behaviour_cases_are_real_rows_of_the_dataset() -> None:
    lines = DATASET.read_text(encoding="utf-8-sig").splitlines()
    header = lines[0].split(",")
    for case in behaviour.behaviour_cases():
        values = dict(zip(header, lines[case.line - 1].split(","), strict=True))
        assert case.name == f"line {case.line}"
        assert case.answer == DIAGNOSES[has_disease(int(values.pop("target")))]
        assert {k: float(v) for k, v in values.items()} == case.record


def test_a_model_that_answers_backwards_fails_the_clear_cut_cases(data) -> None:
    # The tutorial's reading of the label: trained to call the healthy class "disease".
    frame, val_x, val_y = data
    backwards = training.train(frame.assign(target=1 - frame["target"])).pipeline
    verdict = gate.judge(backwards, val_x, val_y, candidate_run_id="backwards")
    assert not verdict.passed
    assert not _names(verdict)["clear-cut cases"]
    assert not _names(verdict)["directions from the data"]
    assert verdict.candidate["roc_auc"] < 0.2


def test_a_live_model_of_the_old_label_coding_is_compared_as_p_disease(data, champion) -> None:
    _, val_x, val_y = data
    legacy = served_model.model_from_bytes(legacy_model(data[0])[0], "legacy", verified=True)
    verdict = gate.judge(
        champion, val_x, val_y, candidate_run_id="new", champion=legacy, champion_run_id="old"
    )
    assert verdict.passed, verdict.reasons
    # The same rows and nearly the same model, one-hot ca aside: read backwards it would be ~0.09.
    assert verdict.champion["roc_auc"] == pytest.approx(verdict.candidate["roc_auc"], abs=0.02)


class _BatchScaled:
    """Broken on purpose: centres each batch on its own mean, as a leaky preprocessor would."""

    def __init__(self, model, reference) -> None:
        self.model, self.reference = model, reference.mean()

    def predict_proba(self, x):
        return self.model.predict_proba(x - x.mean() + self.reference)


class _Positional:
    """Broken on purpose: fitted on bare arrays, so it reads columns by position, not name."""

    def __init__(self, x, y) -> None:
        self.model = training.build_pipeline(training.TrainParams())
        self.model.fit(x, y)
        self.columns = list(x.columns)

    def predict_proba(self, x):
        return self.model.predict_proba(pd.DataFrame(x.to_numpy(), columns=self.columns))


class _OrderDependent:
    """Broken on purpose: answers drift with a row's place in the batch."""

    def __init__(self, model) -> None:
        self.model = model

    def predict_proba(self, x):
        p = self.model.predict_proba(x)[:, 1]
        p = np.clip(p + np.linspace(0, 0.01, len(p)), 0, 1)
        return np.column_stack([1 - p, p])


@pytest.mark.parametrize(
    ("broken", "finding"),
    [
        ("batch-centred", "a duplicate row moves answers"),
        ("positional", "column order moves answers"),
        ("order-dependent", "batch order moves answers"),
    ],
)
def test_a_model_whose_answer_depends_on_more_than_the_record_fails(
    data, champion, broken, finding
) -> None:
    frame, val_x, _ = data
    train_x, _, train_y, _ = training.split(frame, training.TrainParams())
    model = {
        "batch-centred": lambda: _BatchScaled(champion, train_x),
        "positional": lambda: _Positional(train_x, train_y),
        "order-dependent": lambda: _OrderDependent(champion),
    }[broken]()
    check = next(
        b
        for b in behaviour.behavioural_checks(model, val_x)
        if b["check"] == "answers depend on the record alone"
    )
    assert not check["passed"]
    assert finding in check["detail"], check["detail"]


def test_the_gate_reads_the_candidate_once_and_returns_the_card_for_the_step_to_write(
    artifacts_copy, tmp_path, monkeypatch
) -> None:
    """Issue 27: the candidate's model and metrics files are read once (they were read twice,
    in the gate and in the served-model loader), and the gate writes nothing: the card is data."""
    from collections import Counter
    from pathlib import Path

    from heartml.store import run_folder
    from heartml.store.backends import open_store

    for name in (run_folder.CARD_JSON_FILE, run_folder.CARD_MARKDOWN_FILE):
        (artifacts_copy / name).unlink()
    reads: Counter[str] = Counter()
    read_bytes, read_text = Path.read_bytes, Path.read_text

    def counted_bytes(self: Path) -> bytes:
        reads[self.name] += 1
        return read_bytes(self)

    def counted_text(self: Path, *args, **kwargs) -> str:
        reads[self.name] += 1
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_bytes", counted_bytes)
    monkeypatch.setattr(Path, "read_text", counted_text)
    judgement = gate.judge_trained(artifacts_copy, open_store(tmp_path / "empty-store"))

    assert reads[run_folder.MODEL_FILE] == 1
    assert reads[run_folder.METRICS_FILE] == 1
    assert judgement.verdict.passed
    assert judgement.card["run_id"] == judgement.metrics["run_id"] == "fixture-run"
    assert not (artifacts_copy / run_folder.CARD_JSON_FILE).exists()
    assert not (artifacts_copy / run_folder.CARD_MARKDOWN_FILE).exists()
