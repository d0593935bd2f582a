"""The shape docs/architecture.md promises: no import cycles, layers that do not reach up, mlflow only in tracking/.

Imports are read from the source (every `import`, also inside functions), so a lazy import cannot hide a cycle.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mlm_lab"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_names(path: Path) -> set[str]:
    """Every module name `path` imports: `from a.b import c` gives a.b.c when that is a module, else a.b."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                names.add(child if child in MODULES else node.module)
    return names


def internal_edges() -> dict[str, set[str]]:
    return {name: {n for n in imported_names(path) if n in MODULES and n != name} for name, path in MODULES.items()}


def component(module: str) -> str:
    """The package a module belongs to (`mlm_lab.data.lm_task` -> `mlm_lab.data`), or the top-level module itself."""
    parts = module.split(".")
    if len(parts) > 2 or (module in MODULES and MODULES[module].name == "__init__.py" and module != "mlm_lab"):
        return ".".join(parts[:2])
    return module


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_between_modules():
    cycle = find_cycle(internal_edges())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_import_cycle_between_packages():
    graph: dict[str, set[str]] = {}
    for module, targets in internal_edges().items():
        src = component(module)
        graph.setdefault(src, set()).update(component(t) for t in targets if component(t) != src and t != "mlm_lab")
    cycle = find_cycle(graph)
    assert cycle is None, "packages import each other: " + " -> ".join(cycle)


def test_mlflow_is_imported_only_under_tracking():
    outside = sorted(
        name
        for name, path in MODULES.items()
        if not name.startswith("mlm_lab.tracking") and any(n == "mlflow" or n.startswith("mlflow.") for n in imported_names(path))
    )
    assert outside == [], f"mlflow imported outside mlm_lab/tracking/: {outside}"


def test_hydra_instantiate_is_called_in_one_place():
    callers = sorted(name for name, path in MODULES.items() if "hydra.utils.instantiate" in path.read_text())
    assert callers == ["mlm_lab.instantiate"]


# (package, packages it must not import): the layers of docs/architecture.md
LAYERS = [
    (
        "mlm_lab.models",
        {"mlm_lab.data", "mlm_lab.training", "mlm_lab.tracking", "mlm_lab.hardware", "mlm_lab.runner", "mlm_lab.tokenizers"},
    ),
    ("mlm_lab.tokenizers", {"mlm_lab.models", "mlm_lab.data", "mlm_lab.training", "mlm_lab.tracking", "mlm_lab.runner"}),
    (
        "mlm_lab.data",
        {
            "mlm_lab.models",
            "mlm_lab.hardware",
            "mlm_lab.evaluation",
            "mlm_lab.training",
            "mlm_lab.tracking",
            "mlm_lab.runner",
            "mlm_lab.predictor",
        },
    ),
    ("mlm_lab.evaluation", {"mlm_lab.training", "mlm_lab.tracking", "mlm_lab.runner"}),
    ("mlm_lab.training", {"mlm_lab.tracking", "mlm_lab.runner", "mlm_lab.apps"}),
    ("mlm_lab.tracking", {"mlm_lab.instantiate", "mlm_lab.runner", "mlm_lab.apps", "mlm_lab.training.trainer"}),
    ("mlm_lab.export", {"mlm_lab.runner", "mlm_lab.apps", "mlm_lab.training.trainer", "mlm_lab.components"}),
    # statistics and scaling fits on plain numbers: no runs, no models
    ("mlm_lab.analysis", {"mlm_lab.tracking", "mlm_lab.training", "mlm_lab.runner", "mlm_lab.apps", "mlm_lab.models", "mlm_lab.data"}),
]


@pytest.mark.parametrize(("package", "forbidden"), LAYERS, ids=[p for p, _ in LAYERS])
def test_layers_do_not_reach_up(package, forbidden):
    reaching = sorted(
        f"{module} imports {target}"
        for module, targets in internal_edges().items()
        if module == package or module.startswith(package + ".")
        for target in targets
        if any(target == f or target.startswith(f + ".") for f in forbidden)
    )
    assert reaching == []


def test_nothing_below_the_apps_imports_them():
    users = sorted(
        m
        for m, targets in internal_edges().items()
        if not m.startswith("mlm_lab.apps") and any(t.startswith("mlm_lab.apps") for t in targets)
    )
    assert users == []


def test_no_two_modules_share_a_name_at_different_depths():
    by_name: dict[str, list[str]] = {}
    for name, path in MODULES.items():
        if path.name != "__init__.py":
            by_name.setdefault(path.stem, []).append(name)
    shared = {stem: names for stem, names in by_name.items() if len(names) > 1}
    assert shared == {}
