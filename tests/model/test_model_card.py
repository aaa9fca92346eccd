"""The model card: built from a gated version, its odds ratios true to the model."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from heartml.data.dataset import read_dataset
from heartml.features import FEATURES
from heartml.model import model_card
from heartml.serving import served_model
from heartml.store.run_folder import read_card
from heartml.views import card_page
from tests.helpers import DATASET
from tests.markdown import rendered


@pytest.fixture(scope="module")
def card(trained_artifacts) -> dict:
    card_json, _ = read_card(trained_artifacts)
    return json.loads(card_json)


def _odds(model: served_model.LoadedModel, frame: pd.DataFrame) -> np.ndarray:
    p = model.predict_proba(frame)[:, 1]
    return p / (1 - p)


def test_the_odds_ratios_are_the_models_own(card, trained_artifacts) -> None:
    """Each ratio is what the model answers: odds with the feature moved over odds without."""
    model = served_model.load_trained(trained_artifacts)
    base = read_dataset(DATASET)[list(FEATURES)].astype(float).iloc[[5]]
    ratios = {row["feature"]: row for row in card["odds_ratios"]}
    assert set(ratios) == set(FEATURES)
    for name in ("age", "chol", "thalach", "ca", "oldpeak"):
        moved = base.assign(**{name: base[name] + 1})
        observed = _odds(model, moved)[0] / _odds(model, base)[0]
        assert observed == pytest.approx(ratios[name]["per_unit"], rel=1e-9), name
        sd = ratios[name]["sd"]
        assert ratios[name]["per_sd"] == pytest.approx(ratios[name]["per_unit"] ** sd)
    for name in ("cp", "thal", "sex"):
        reference = float(ratios[name]["kind"].split("=")[1])
        for code, ratio in ratios[name]["codes"].items():
            observed = (
                _odds(model, base.assign(**{name: float(code)}))[0]
                / _odds(model, base.assign(**{name: reference}))[0]
            )
            assert observed == pytest.approx(ratio, rel=1e-9), (name, code)
    strengths = [row["strength"] for row in card["odds_ratios"]]
    assert strengths == sorted(strengths, reverse=True)


def test_the_card_holds_what_the_issue_lists(card, trained_artifacts) -> None:
    metrics = json.loads((trained_artifacts / "metrics.json").read_text())
    assert card["format"] == "heartml-model-card/1"
    assert card["intended_use"] and card["not_intended_use"]
    assert card["data"]["rows"] == 303 and card["data"]["label_balance"] == {
        "heart-disease": 138,
        "clear": 165,
    }
    assert card["evaluation"]["rows"] == metrics["evaluation"]["rows"]
    assert (
        card["scores"]["roc_auc"]["interval"]
        == metrics["gate"]["candidate"]["intervals"]["roc_auc"]
    )
    assert len(card["slices"]) == 6 and len(card["calibration"]["reliability"]) == 10
    assert card["gate"]["passed"] is True
    assert card["versions"] == metrics["versions"] and card["git_commit"] == metrics["git_commit"]
    text = read_card(trained_artifacts)[1].decode()
    headings = [line[3:] for line in text.splitlines() if line.startswith("## ")]
    for heading in ("Intended use", "Not intended for", "Data", "Scores", "Gate", "Built with"):
        assert heading in headings, heading
    assert "Coefficients as odds ratios (association, not cause)" in headings


def test_differences_name_what_changed_and_stay_inert(card) -> None:
    live = json.loads(json.dumps(card))
    live["data"]["rows"] = 250
    live["git_commit"] = "abc|`<script>`\n::error::x"
    live["odds_ratios"][0]["strength"] = 0  # not compared
    rows = {d["field"]: d for d in model_card.differences(card, live)}
    assert set(rows) == {"dataset rows", "commit"}
    assert rows["dataset rows"]["live"] == "250"
    assert "\n" not in rows["commit"]["live"]  # one line of plain text in the card's JSON
    shown = rendered(
        card_page.render(card | {"live_run_id": "v0", "differences_from_live": list(rows.values())})
    )
    assert "<script>" not in shown and "<code>&lt;script" not in shown
    assert "abc|`&lt;script&gt;` ::error::x" in shown  # shown whole, as text, in its cell
    assert model_card.differences(card, card) == []
    moved = json.loads(json.dumps(card))
    first = next(r for r in moved["odds_ratios"] if "per_sd" in r)
    first["per_sd"] *= 1.5
    assert [d["field"] for d in model_card.differences(card, moved)] == [
        f"odds ratio {first['feature']}"
    ]


def test_a_model_without_linear_parameters_has_no_odds_ratios() -> None:
    assert model_card.odds_ratios(None) is None
    assert card_page.odds_ratio_table(None) == [
        "Not available: the model has no linear parameters."
    ]
