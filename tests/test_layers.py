"""The package's imports point one way: data → modalities → model input → models → training →
rectifier → evaluation → reporting, over a bottom of shared utilities; no module imports a workflow
script, and the workflow-facing modules (config checks, code inputs) are imported by no layer."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "mmnar"
LAYERS = ["errors", "io", "logs", "device", "metrics",  # shared utilities, importable from anywhere
          "data", "synth", "modalities", "model_input", "models", "training", "rectifier", "evaluation", "reporting",
          "config", "code_inputs", "sweep", "nested"]
RANK = {"errors": 0, "io": 0, "logs": 0, "device": 0, "metrics": 0, "data": 1, "synth": 1, "modalities": 2,
        "model_input": 3, "models": 4, "training": 5, "rectifier": 6, "evaluation": 7, "reporting": 8,
        "config": 9, "code_inputs": 9, "sweep": 9, "nested": 9}
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


def imported_modules(path: Path) -> set[str]:
    """Every ``mmnar.*`` module the file imports, at top level or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "mmnar":
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "mmnar")
    return found


def test_every_package_module_belongs_to_a_layer():
    assert {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in MODULES} <= set(LAYERS)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_imports_point_down_only(path):
    own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    for module in imported_modules(path):
        parts = module.split(".")[1:]
        if not parts:
            continue  # `import mmnar` (the version only)
        assert parts[0] in RANK, f"{path.name} imports {module}, which is no layer"
        assert RANK[parts[0]] <= RANK[own], f"{path.relative_to(PACKAGE)} ({own}) imports {module} from a higher layer"
