"""Every outside call has one home: GitHub's dispatch, Slack's webhook and the deployed
function are each called from ``heartml/ops/downstream.py`` only, on its deadline helper."""

from __future__ import annotations

import re

import pytest

from tests.helpers import REPO

SOURCES = [
    path
    for folder in ("heartml", "steps", "dashboard")
    for path in sorted((REPO / folder).rglob("*.py"))
] + [REPO / "main.py"]
# What making an HTTP call (or naming GitHub's dispatch endpoint) looks like in code.
CALLS = re.compile(
    r"requests\.(get|post|put|patch|delete|request|Session)\b|urlopen\(|http\.client|/dispatches"
)


def test_the_sources_are_found() -> None:
    assert len(SOURCES) > 30 and REPO / "heartml" / "ops" / "downstream.py" in SOURCES


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_only_downstream_makes_http_calls(path) -> None:
    if path.name == "downstream.py":
        assert CALLS.search(path.read_text())  # the one home does make them
        return
    found = [line.strip() for line in path.read_text().splitlines() if CALLS.search(line)]
    assert found == [], f"{path.name} calls out itself: {found}"
