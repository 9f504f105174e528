"""Imports run one way (DESIGN): model ← pruning ← orchestrator, and inside orchestrator/
sweep → cell → {store, data, config, pruning, model} and study → store. Every import statement counts, lazy ones
inside functions too."""
import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ALLOWED = {"model": {"torch", "model"}, "pruning": {"torch", "model", "pruning"}}
PACKAGES = ("model", "pruning", "orchestrator", "hydra_plugins")

# The rooms of orchestrator/ and the rooms each may import (itself always). Top-level modules are rooms of their own.
ROOMS = {
    "model_size": {"model"},  # a preset's size and FLOPs, from its shape
    "config": {"model", "pruning", "model_size"},
    "launcher_config": set(),
    "data": set(),
    "store": {"config"},
    "cell": {"store", "data", "config", "pruning", "model", "model_size"},
    "study": {"store", "config", "pruning", "model", "model_size"},
    "sweep": {"cell", "store", "data", "config", "launcher_config", "study", "model_size"},
    "train": {"sweep"},  # python -m orchestrator.train: a re-export
    "scaling_law": {"study"},  # the stable path of the law fits: a re-export
}
STUDY_IMPORTERS = {"orchestrator.sweep.train", "orchestrator.scaling_law"}  # the end-of-sweep hook, the re-export
SWEEP_IMPORTERS = {"orchestrator.train", "hydra_plugins.ray_cells.ray_launcher"}
MAX_TOP_LEVEL_MODULES = 10


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The project modules that `name` imports (a `from package import module` counts as the module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            targets |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return {target for target in targets if target in MODULES and target != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _room(name: str) -> str:
    parts = name.split(".")
    if parts[0] != "orchestrator":
        return parts[0]
    return parts[1] if len(parts) > 1 else "orchestrator"


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_it_may(package):
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    for path in sorted((REPO / package).rglob("*.py")):
        extra = _imported_roots(path) - stdlib - ALLOWED[package]
        assert not extra, f"{path.relative_to(REPO)} imports {sorted(extra)}"


@pytest.mark.parametrize("room", sorted(ROOMS))
def test_each_room_of_orchestrator_imports_only_the_rooms_below_it(room):
    for name, targets in GRAPH.items():
        if not name.startswith("orchestrator.") or _room(name) != room:
            continue
        for target in targets:
            below = ROOMS[room] | {room}
            assert _room(target) in below, f"{name} imports {target} ({_room(target)} is not below {room})"


def test_only_the_hook_imports_study_and_only_entry_points_import_sweep():
    for name, targets in GRAPH.items():
        for target in targets:
            if _room(target) == "study" and _room(name) != "study":
                assert name in STUDY_IMPORTERS, f"{name} imports {target}"
            if _room(target) == "sweep" and _room(name) != "sweep":
                assert name in SWEEP_IMPORTERS, f"{name} imports {target}"


def test_ray_is_imported_by_the_sweep_only_and_never_beside_deepspeed():
    for name, path in MODULES.items():
        roots = _imported_roots(path)
        if "ray" in roots:
            assert name.startswith("orchestrator.sweep."), f"{name} imports ray"
            assert "deepspeed" not in roots, f"{name} imports both ray and deepspeed"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    assert _cycles(GRAPH) == []


def test_the_cycle_check_finds_a_planted_cycle():
    planted = {name: set(targets) for name, targets in GRAPH.items()}
    planted["orchestrator.store.files"].add("orchestrator.cell.run")
    assert any("orchestrator.cell.run" in cycle for cycle in _cycles(planted))


def test_orchestrator_keeps_few_top_level_modules():
    top = sorted(path.name for path in (REPO / "orchestrator").glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top
