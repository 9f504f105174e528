"""model/ imports only torch; pruning/ only torch and model/ (DESIGN: imports flow model ← pruning ← orchestrator)."""
import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ALLOWED = {"model": {"torch", "model"}, "pruning": {"torch", "model", "pruning"}}


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_it_may(package):
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    for path in sorted((REPO / package).rglob("*.py")):
        extra = _imported_roots(path) - stdlib - ALLOWED[package]
        assert not extra, f"{path.relative_to(REPO)} imports {sorted(extra)}"
