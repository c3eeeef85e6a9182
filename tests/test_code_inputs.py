"""Rule inputs for package code come from the scripts' real imports."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mmnar.code_inputs import import_closure

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "mmnar"
SCRIPTS = sorted((REPO / "workflow" / "scripts").glob("*.py"))


def closure(script: str) -> set[str]:
    return {p.relative_to(PACKAGE).as_posix() for p in import_closure(REPO / "workflow/scripts" / f"{script}.py", PACKAGE)}


def test_closure_follows_imports_through_modules_and_packages():
    train = closure("train")
    assert {"__init__.py", "training/trainer.py", "metrics.py", "models/losses.py", "device.py",
            "models/__init__.py", "models/drfuse.py"} <= train
    assert "modalities/frame.py" in closure("embed_structured")
    assert "modalities/image.py" not in closure("embed_text") and "modalities/cache.py" in closure("embed_text")
    assert "data/sources/bigquery.py" in closure("extract_cohort")   # imported lazily, inside a function


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_closure_contains_every_module_the_script_really_imports(script):
    """Import what the script imports (it needs Snakemake's object to run) and compare sys.modules."""
    tree = ast.parse(script.read_text())
    imports = [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    probe = "\n".join(imports + [
        "import json, sys",
        "print(json.dumps(sorted(m.__file__ for n, m in sys.modules.items()"
        " if n.split('.')[0] == 'mmnar' and getattr(m, '__file__', None))))"])
    loaded = json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                       check=True).stdout.splitlines()[-1])
    declared = {str(p.resolve()) for p in import_closure(script, PACKAGE)}
    assert {str(Path(f).resolve()) for f in loaded} <= declared
