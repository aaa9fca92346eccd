"""The house's shape, read from the source: wings that import only downward, maps that
list every room, and entry points that only enter.

Read with ``ast`` (imports inside functions count too), so the rules hold for every
branch, not only for what one run happened to import.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.helpers import REPO, modules_reached_from

PACKAGE = REPO / "heartml"
# The order heartml/__init__.py gives: a wing imports the ground floor and the wings before it.
WINGS = ("store", "data", "serving", "model", "ops", "views")
GROUND = "ground floor"
MAX_MODULE_LINES = 400
MAX_STEP_LINES = 60
MAX_MAIN_LINES = 80


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (packages by their ``__init__``)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """The dotted names ``path`` imports, anywhere in it (``from a import b`` gives a and a.b)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _wing(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in WINGS) else GROUND


def _package_imports(path: Path) -> set[str]:
    """The package's modules ``path`` imports (a name that is an attribute counts as its module)."""
    return {name for name in _imports(path) if name in MODULES and name != "heartml"}


def _rank(wing: str) -> int:
    return -1 if wing == GROUND else WINGS.index(wing)


def test_every_module_stands_in_the_ground_floor_or_a_listed_wing() -> None:
    wings = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert wings == set(WINGS)
    assert not any(PACKAGE.glob("*/*/")), "a wing holds no sub-packages"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_run_downward_only(module: str) -> None:
    """A wing imports the ground floor, the wings before it and its own; the ground floor
    imports only itself."""
    own = _wing(module)
    upward = [
        imported
        for imported in _package_imports(MODULES[module])
        if _rank(_wing(imported)) > _rank(own)
    ]
    assert not upward, f"{module} ({own}) imports upward: {upward}"


def test_no_import_cycle_among_the_modules() -> None:
    graph = {m: _package_imports(p) - {m} for m, p in MODULES.items()}
    visiting: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> None:
        if module in done:
            return
        assert module not in visiting, f"cycle: {' -> '.join([*visiting, module])}"
        visiting.append(module)
        for imported in sorted(graph[module]):
            # A package's __init__ is a map, importing nothing: reaching it is no edge back.
            if imported in graph:
                visit(imported)
        visiting.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)


def test_the_package_never_imports_the_entry_points() -> None:
    outward = {
        module: sorted(
            name
            for name in _imports(path)
            if name.split(".")[0] in {"dashboard", "steps", "main", "tests", "benchmarks"}
        )
        for module, path in MODULES.items()
    }
    assert {m: names for m, names in outward.items() if names} == {}


def test_the_function_reaches_neither_the_project_file_nor_the_steps_contract() -> None:
    """It parses with its model file's own contract, so no project.toml needs to ship."""
    reached = modules_reached_from(REPO / "main.py")
    assert {"heartml.features", "heartml.project"} & reached == set()
    assert "heartml.contract" in reached


def test_only_the_store_wing_imports_google_cloud_storage() -> None:
    sources = [*PACKAGE.rglob("*.py"), REPO / "main.py", *(REPO / "steps").glob("*.py")]
    sources += [*(REPO / "dashboard").rglob("*.py")]
    importers = sorted(
        path.relative_to(REPO).as_posix()
        for path in sources
        if any(n.startswith("google.cloud.storage") or n == "google.cloud" for n in _imports(path))
    )
    assert importers and all(name.startswith("heartml/store/") for name in importers), importers


def _listed(init: Path) -> list[str]:
    """The module names a map lists: one ``- ``name``:`` line each."""
    return re.findall(r"^- ``(\w+)``:", ast.get_docstring(ast.parse(init.read_text())) or "", re.M)


@pytest.mark.parametrize("wing", WINGS)
def test_each_wing_map_lists_every_module_once(wing: str) -> None:
    listed = _listed(PACKAGE / wing / "__init__.py")
    present = sorted(p.stem for p in (PACKAGE / wing).glob("*.py") if p.stem != "__init__")
    assert sorted(listed) == present
    assert len(listed) == len(set(listed))


def test_the_package_map_lists_the_ground_floor_and_the_wings_in_rank_order() -> None:
    listed = _listed(PACKAGE / "__init__.py")
    ground = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
    assert sorted(name for name in listed if name not in WINGS) == ground
    assert [name for name in listed if name in WINGS] == list(WINGS)


def test_module_names_are_unique_across_the_package() -> None:
    stems = [p.stem for p in PACKAGE.rglob("*.py") if p.stem != "__init__"]
    assert sorted({s for s in stems if stems.count(s) > 1}) == []
    assert not set(stems) & set(WINGS), "no module is named like a wing"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_over_400_lines(module: str) -> None:
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{module}: {lines} lines"


def test_main_py_holds_the_handlers_and_no_global_state() -> None:
    source = (REPO / "main.py").read_text()
    tree = ast.parse(source)
    assert len(source.splitlines()) <= MAX_MAIN_LINES
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Global | ast.Nonlocal)]
    defined = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
    assert sorted(n.name for n in defined) == [
        "on_dataset_uploaded",
        "on_metrics_uploaded",
        "predict_handler",
    ]
    for handler in defined:  # each a decorated handler: anything else lives in the library
        decorators = [ast.unparse(d) for d in handler.decorator_list]
        assert [d.split(".")[0] for d in decorators] == ["functions_framework"], handler.name


STEPS = sorted(p for p in (REPO / "steps").glob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("step", STEPS, ids=lambda p: p.stem)
def test_every_step_is_at_most_60_lines(step: Path) -> None:
    lines = len(step.read_text().splitlines())
    assert lines <= MAX_STEP_LINES, f"{step.name}: {lines} lines"


def test_no_test_module_imports_from_another_test_module() -> None:
    """What two test modules share lives in a helper module, not in one of the tests."""
    borrowing = {
        path.relative_to(REPO).as_posix(): sorted(
            name for name in _imports(path) if re.search(r"(^|\.)test_\w+", name)
        )
        for path in (REPO / "tests").rglob("*.py")
    }
    assert {name: found for name, found in borrowing.items() if found} == {}


# How a module could reach the network itself, rather than through ops.downstream.
HTTP_CALLS = re.compile(
    r"\brequests\.(get|post|put|patch|delete|head|request|Session)\b|\burlopen\b|"
    r"\bhttp\.client\b|\bHTTPS?Connection\(|\burllib3\.PoolManager\b"
)


def test_every_outbound_call_is_made_in_one_module() -> None:
    """GitHub, Slack and the deployed function are called from ops.downstream only; the
    dispatch's event name is spelled there once."""
    sources = [*PACKAGE.rglob("*.py"), REPO / "main.py", *(REPO / "steps").glob("*.py")]
    sources += [*(REPO / "dashboard").rglob("*.py")]
    callers, spelled = set(), set()
    for path in sources:
        code = path.read_text()
        if HTTP_CALLS.search(code):
            callers.add(path.relative_to(REPO).as_posix())
        strings = [
            n.value
            for n in ast.walk(ast.parse(code))
            if isinstance(n, ast.Constant) and n.value == "dataset-updated"
        ]
        if strings:
            spelled.add(path.relative_to(REPO).as_posix())
    assert callers == {"heartml/ops/downstream.py"}
    assert spelled == {"heartml/ops/downstream.py"}
