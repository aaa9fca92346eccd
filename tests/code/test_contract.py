"""A model file carries its contract, and the served function reads requests by it alone.

The function reads no project file: what it accepts, how it names its answers and what
it counts are the model file's own. Files written before contracts were recorded derive
theirs from what they kept (their feature names, the fast path's codes).
"""

from __future__ import annotations

import json
import pickle

import pytest

from heartml.contract import LEGACY_ANSWERS, Contract
from heartml.errors import ModelLoadError, RequestError
from heartml.features import CONTRACT, FEATURES
from heartml.serving import api, served_model
from heartml.store.model_file import ModelFile
from tests.helpers import SAMPLE_RECORD


@pytest.fixture(scope="module")
def model_bytes(trained_artifacts) -> bytes:
    return (trained_artifacts / "pipeline.joblib").read_bytes()


@pytest.fixture(scope="module")
def model(trained_artifacts) -> served_model.LoadedModel:
    return served_model.load_trained(trained_artifacts)


def _rewritten(model_bytes: bytes, change, *, whole: bool = False) -> served_model.LoadedModel:
    """The trained file with its metadata (or ``whole`` payload) changed, loaded as verified."""
    payload = ModelFile.read(model_bytes, "trained").to_payload()
    change(payload if whole else payload["metadata"])
    return served_model.model_from_bytes(pickle.dumps(payload), "rewritten", verified=True)


def _answer(model: served_model.LoadedModel, body: dict) -> dict:
    return api.predict(model, api.parse_request(body, model.contract))


def test_training_records_the_contract_it_trained_for(model_bytes) -> None:
    metadata = ModelFile.read(model_bytes, "trained").metadata
    assert json.loads(json.dumps(metadata["contract"])) == CONTRACT.to_record()
    read = Contract.from_record(metadata["contract"])
    assert read.names == FEATURES
    for spec in CONTRACT.features:
        got = read.specs[spec.name]
        assert (got.role, got.codes, got.low, got.high, got.unknown_code, got.description) == (
            spec.role, spec.codes, spec.low, spec.high, spec.unknown_code, spec.description,
        )  # fmt: skip
    assert read.answers == CONTRACT.answers and read.means == CONTRACT.means


def test_the_function_words_and_checks_answers_by_the_files_contract(model_bytes) -> None:
    """A file whose contract says other words and a narrower range is served by those."""

    def other_words(metadata: dict) -> None:
        label = metadata["contract"]["label"]
        label["answers"] = {"negative": "no", "positive": "yes"}
        metadata["label_coding"] = {**metadata["label_coding"], "class_1": "yes"}
        first = metadata["contract"]["features"][0]
        first["range"] = [30.0, 40.0]

    model = _rewritten(model_bytes, other_words)
    name = model.contract.names[0]
    answer = _answer(model, {**SAMPLE_RECORD, name: 35})
    assert answer["diagnosis"] in {"yes", "no"}
    with pytest.raises(RequestError) as refused:
        api.parse_request({**SAMPLE_RECORD, name: 50}, model.contract)
    assert refused.value.field == name
    assert "between 30 and 40" in refused.value.problem


def test_a_request_in_columns_the_model_was_not_built_for_is_a_400_naming_one(
    model_bytes,
) -> None:
    first = FEATURES[0]

    def renamed(payload: dict) -> None:
        """The first feature called "years" wherever the file names it."""
        metadata, linear = payload["metadata"], payload["linear"]
        metadata["contract"]["features"][0]["name"] = "years"
        metadata["features"][0] = "years"
        for table in (metadata["monitoring_bins"], metadata["feature_ranges"]):
            table["years"] = table.pop(first)
        part = "numeric" if first in linear["numeric"] else "coded"
        linear[part]["years"] = linear[part].pop(first)

    model = _rewritten(model_bytes, renamed, whole=True)
    assert _answer(model, {**{k: v for k, v in SAMPLE_RECORD.items() if k != first}, "years": 50})
    with pytest.raises(RequestError) as refused:
        api.parse_request(SAMPLE_RECORD, model.contract)
    fields = {field for field, _ in refused.value.problems}
    assert "years" in fields and first in fields


def test_a_fast_path_for_other_features_than_the_contracts_is_refused(model_bytes) -> None:
    def dropped(payload: dict) -> None:
        payload["linear"]["numeric"].pop(next(iter(payload["linear"]["numeric"])))

    with pytest.raises(ModelLoadError, match="fast path's features are not its contract's"):
        _rewritten(model_bytes, dropped, whole=True)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda m: m.__setitem__("contract", "columns"), "its contract has no list of features"),
        (lambda m: m["contract"]["features"][0].pop("role"), "no role"),
        (lambda m: m["contract"]["features"][-1].__setitem__("codes", []), "neither codes nor"),
        (lambda m: m["contract"]["label"].pop("answers"), "no two answer words"),
        (lambda m: m["contract"]["features"].append(m["contract"]["features"][0]), "repeat"),
    ],
)
def test_a_file_with_an_unusable_contract_is_refused_with_its_reason(
    model_bytes, change, reason
) -> None:
    with pytest.raises(ModelLoadError, match=reason):
        _rewritten(model_bytes, change)


def test_a_file_from_before_contracts_serves_as_before(model, model_bytes) -> None:
    """Its contract comes from its feature names, the fast path's codes and training's."""
    legacy = _rewritten(model_bytes, lambda metadata: metadata.pop("contract"))
    assert legacy.contract.names == FEATURES
    assert legacy.contract.answers == LEGACY_ANSWERS == CONTRACT.answers
    assert _answer(legacy, SAMPLE_RECORD) == _answer(model, SAMPLE_RECORD)
    coded = [s.name for s in CONTRACT.features if s.codes is not None]
    for name in coded:  # every coded feature keeps its codes (from training or the fast path)
        assert legacy.contract.specs[name].codes is not None, name
        with pytest.raises(RequestError):
            api.parse_request({**SAMPLE_RECORD, name: 99}, legacy.contract)
    # It kept no plausible ranges: a measurement beyond them is answered, flagged out of range.
    measured = next(s for s in CONTRACT.features if s.codes is None)
    answer = _answer(legacy, {**SAMPLE_RECORD, measured.name: measured.high * 10})
    assert measured.name in answer["out_of_range"]
