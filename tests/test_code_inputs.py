"""Rule inputs for package code come from the scripts' real imports; a model's jobs add its own module's."""

import ast
import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mmnar.code_inputs import import_closure
from mmnar.modalities.registry import names as modality_names
from mmnar.models.registry import get, specs

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "mmnar"
SCRIPTS = sorted((REPO / "workflow" / "scripts").glob("*.py"))
REGISTRY = "mmnar.models.registry"
MODEL_SCRIPTS = sorted(set(re.findall(r'model_code\("(\w+)"\)', "".join(p.read_text() for p in (REPO / "rules").glob("*.smk")))))
"""The scripts of the rules whose jobs run one model (``code=model_code(...)``)."""
MODEL_MODULES = sorted({spec.module for spec in specs().values()})


def closure(script: str, **kwargs) -> set[str]:
    return {p.relative_to(PACKAGE).as_posix()
            for p in import_closure(REPO / "workflow/scripts" / f"{script}.py", PACKAGE, **kwargs)}


def model_closure(script: str, model: str) -> set[str]:
    """The code inputs of ``script``'s job of ``model`` (rules/common.smk, ``model_code``)."""
    return closure(script, modules=(get(model).module,), leave_out=(REGISTRY,))


def test_closure_follows_imports_through_modules_and_packages():
    train = closure("train")
    assert {"__init__.py", "training/trainer.py", "metrics.py", "models/losses.py", "device.py",
            "models/__init__.py", "models/registry.py"} <= train
    assert "modalities/frame.py" in closure("embed_structured")
    assert "modalities/image.py" not in closure("embed_text") and "modalities/cache.py" in closure("embed_text")
    assert "data/sources/bigquery.py" in closure("extract_cohort")   # imported lazily, inside a function


def test_a_models_jobs_run_its_own_module_and_no_other_models():
    assert MODEL_SCRIPTS == ["predict", "predict_scenarios", "train", "train_scenario"]
    drfuse = model_closure("train", "drfuse")
    assert {"models/drfuse.py", "models/components.py", "models/series_encoders.py", "training/trainer.py"} <= drfuse
    assert not {"models/crl_mmnar.py", "models/sklearn_references.py", "models/registry.py"} & drfuse
    logreg = model_closure("train", "logreg_s_delta")
    assert "models/sklearn_references.py" in logreg and not {"models/drfuse.py", "models/components.py"} & logreg
    assert "models/crl_mmnar.py" in model_closure("predict", "mmnar_fusion")  # the ablation builds CRL-MMNAR's network
    module_files = {f"models/{module.rsplit('.', 1)[1]}.py" for module in MODEL_MODULES}
    for script in SCRIPTS:  # only the registry's module names lead to a model's code
        assert not module_files & closure(script.stem), script.stem


def test_modules_are_added_and_left_out_with_their_imports_and_type_checking_imports_are_not_followed(tmp_path):
    package = tmp_path / "mmnar"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mmnar import b\nelse:\n    import mmnar.c\n")
    (package / "b.py").write_text("")
    (package / "c.py").write_text("import mmnar.d\n")
    (package / "d.py").write_text("")
    script = tmp_path / "script.py"
    script.write_text("import mmnar.a\n")
    names = lambda paths: {p.name for p in paths}  # noqa: E731
    assert names(import_closure(script, package)) == {"__init__.py", "a.py", "c.py", "d.py"}
    assert names(import_closure(script, package, modules=("mmnar.b",))) == {"__init__.py", "a.py", "b.py", "c.py", "d.py"}
    assert names(import_closure(script, package, leave_out=("mmnar.c",))) == {"__init__.py", "a.py"}


def test_a_models_registry_entry_is_plain_data_that_follows_its_declaration():
    """The entry is a rule parameter (snakemake compares its repr): builtins only, and it changes with a default."""
    spec = get("drfuse")
    entry = spec.job_entry(modality_names())
    assert eval(repr(entry)) == entry
    assert entry["module"] == "mmnar.models.drfuse" and entry["reads"]["S"] == "sequence"
    changed = dataclasses.replace(spec, params={**spec.params, "rank_margin": dataclasses.replace(spec.params["rank_margin"],
                                                                                                   default=0.5)})
    assert changed.job_entry(modality_names()) != entry
    assert get("drfuse").job_entry(modality_names(), {"n_layers": 2})["reads"] == entry["reads"]


PROBE = """
import json, sys

def loaded_by(statements):
    for name in [n for n in sys.modules if n.split(".")[0] == "mmnar"]:
        del sys.modules[name]
    exec(statements, {})
    return sorted({m.__file__ for n, m in sys.modules.items() if n.split(".")[0] == "mmnar" and getattr(m, "__file__", None)})

print(json.dumps({name: loaded_by(statements) for name, statements in json.loads(sys.argv[1]).items()}))
"""


@pytest.fixture(scope="module")
def really_loaded() -> dict[str, set[str]]:
    """The ``mmnar`` module files that importing each script's imports, and each model module, loads.

    One interpreter for all, the package re-imported afresh each time: torch and the other heavy
    imports stay loaded in between, which one process per script would pay again every time."""
    probes = {script.stem: "\n".join(ast.unparse(node) for node in ast.parse(script.read_text()).body
                                     if isinstance(node, (ast.Import, ast.ImportFrom)))
              for script in SCRIPTS}  # a script runs only inside a job (it needs snakemake's object); its imports do not
    probes.update({module: f"import {module}" for module in MODEL_MODULES})
    result = subprocess.run([sys.executable, "-c", PROBE, json.dumps(probes)], capture_output=True, text=True, check=True)
    return {name: {str(Path(f).resolve()) for f in files} for name, files in json.loads(result.stdout.splitlines()[-1]).items()}


def resolved(paths) -> set[str]:
    return {str(Path(p).resolve()) for p in paths}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_closure_contains_every_module_the_script_really_imports(script, really_loaded):
    assert really_loaded[script.stem] <= resolved(import_closure(script, PACKAGE))


@pytest.mark.parametrize("module", MODEL_MODULES)
@pytest.mark.parametrize("script", MODEL_SCRIPTS)
def test_a_model_jobs_code_inputs_are_what_it_runs_but_the_registry(script, module, really_loaded):
    """The job runs its script and the model's module (imported by name when the model is built); of
    those only the registry is no code input, the job's own entry being a rule parameter instead."""
    declared = resolved(import_closure(REPO / "workflow/scripts" / f"{script}.py", PACKAGE, modules=(module,),
                                       leave_out=(REGISTRY,)))
    runs = really_loaded[script] | really_loaded[module]
    assert runs - declared == {str(PACKAGE / "models" / "registry.py")}
