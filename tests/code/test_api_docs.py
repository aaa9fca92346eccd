"""The API's documents are written from the project file, and the committed ones are current."""

from __future__ import annotations

import json

import yaml

from heartml.features import CONTRACT, PROJECT
from heartml.views import api_docs
from tests.helpers import REPO


def test_the_committed_openapi_is_what_the_project_file_generates() -> None:
    committed = (REPO / api_docs.OPENAPI_FILE).read_text()
    assert committed == api_docs.openapi(), "openapi.yaml is stale: run make api-docs"
    assert committed.startswith("# Generated from project.toml by `make api-docs`")
    assert "{{" not in committed


def test_the_committed_sample_request_is_what_the_project_file_generates() -> None:
    committed = (REPO / api_docs.SAMPLE_FILE).read_text()
    assert committed == api_docs.sample_json(), "the sample request is stale: run make api-docs"
    assert list(json.loads(committed)) == [
        c.name for c in PROJECT.columns if c.name in CONTRACT.specs
    ]


def test_the_record_schema_states_each_features_limits_and_the_answer_words() -> None:
    document = yaml.safe_load(api_docs.openapi())
    schemas = document["components"]["schemas"]
    record = schemas["Record"]
    assert set(record["required"]) == set(CONTRACT.names) == set(record["properties"])
    for spec in CONTRACT.features:
        shown = record["properties"][spec.name]
        if spec.codes is not None:
            assert shown["enum"] == [*sorted(spec.codes), None]
        else:
            assert (shown["minimum"], shown["maximum"]) == (spec.low, spec.high)
        assert shown["description"] == spec.description
    assert schemas["Diagnosis"]["enum"] == [CONTRACT.answers[0], CONTRACT.answers[1]]
    assert document["info"]["title"].startswith(PROJECT.title)


def test_writing_checks_or_writes_only_what_is_stale(tmp_path) -> None:
    names = ["openapi.yaml", "datasets/sample_request.json"]
    assert [
        p.relative_to(tmp_path).as_posix() for p in api_docs.write(tmp_path, check=True)
    ] == names
    assert not (tmp_path / "openapi.yaml").exists()  # a check writes nothing
    assert [p.relative_to(tmp_path).as_posix() for p in api_docs.write(tmp_path)] == names
    assert (tmp_path / "openapi.yaml").read_text() == api_docs.openapi()
    assert api_docs.write(tmp_path, check=True) == []  # now current
