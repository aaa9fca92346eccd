"""The one definition of "the version before": a table of archives and what precedes what."""

from __future__ import annotations

import pytest

from heartml.store import registry


def _version(run_id: str, day: int, passed: bool = True) -> dict:
    return {
        "run_id": run_id,
        "timestamp": f"2026-01-{day:02d}T08:00:00Z",
        "gate": {"passed": passed},
    }


VERSIONS = [
    _version("a", 1),
    _version("b", 2, passed=False),
    _version("c", 3),
    _version("d", 4, passed=False),
    _version("e", 5),
    _version("f", 5),  # the same second as e: run id breaks the tie, as history sorts
]


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("a", None),  # the first version has nothing before it
        ("b", "a"),
        ("c", "a"),  # b was held back
        ("e", "c"),  # d was held back
        ("f", "e"),
    ],
)
def test_the_version_before_is_the_newest_gate_passed_one_trained_earlier(
    version, expected
) -> None:
    target = next(m for m in VERSIONS if m["run_id"] == version)
    previous = registry.promoted_before(VERSIONS, target)
    assert (previous or {}).get("run_id") == expected


def test_a_version_not_yet_listed_is_placed_by_its_time() -> None:
    new = _version("g", 4)
    assert registry.promoted_before(VERSIONS, new)["run_id"] == "c"
