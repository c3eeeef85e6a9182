# Config validation, shared paths and input functions. Runs before any job is scheduled.

import functools
import os
import sys
from pathlib import Path

from mmnar.modalities import registry as modality_registry
from mmnar.models import registry as model_registry
from mmnar.code_inputs import import_closure
from mmnar.data.sql import referenced_tables
from mmnar.config import ConfigError, check_config, error_line, job_context, validate_config
from mmnar.data import feature_groups
from mmnar.data import tasks as task_registry
from mmnar.data.sources import local_folders

# Schema (with its defaults filled in) and the checks beyond it; one line and exit 1 on a mistake
# (a WorkflowError would add snakemake's "in file …, line …" header and a traceback line).
try:
    validate_config(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")
    check_config(config, **job_context(workflow))
except ConfigError as error:
    print(error_line(error), file=sys.stderr)
    sys.exit(1)

def workflow_path(path):
    """A file of the workflow, as an input of a job; relative when it lies inside the working directory
    (a clone run in place and then copied elsewhere keeps the same inputs), absolute otherwise
    (a separate working directory copied elsewhere still points at the same workflow)."""
    path = Path(path).resolve()
    return os.path.relpath(path) if path.is_relative_to(Path.cwd().resolve()) else str(path)


WORKFLOW_FILES = sorted(workflow_path(p) for pattern in ("Snakefile", "config.yaml", "rules/*.smk", "rules/sql/*.sql",
                                                          "workflow/scripts/*.py", "workflow/schemas/*.yaml",
                                                          "src/mmnar/**/*.py")
                        for p in Path(workflow.basedir).glob(pattern))
"""Everything a nested run of this workflow executes (a sweep setting, CareBench's tasks): any change
reruns the nested run's job, whose inner run then recomputes only what the change touches."""


PACKAGE = Path(workflow.basedir) / "src" / "mmnar"
SCRIPTS = Path(workflow.basedir) / "workflow" / "scripts"
SQL = Path(workflow.basedir) / "rules" / "sql"
SPLIT_SEEDS = config["split"]["seeds"]
INIT_SEEDS = config["training"]["init_seeds"]
RUNS = {"split": [s for s in SPLIT_SEEDS for _ in INIT_SEEDS], "init": [i for _ in SPLIT_SEEDS for i in INIT_SEEDS]}
"""Every (split seed, initialisation seed) pair, zipped for expand(..., zip, **RUNS)."""
MODELS = config["models"]
RECTIFIED = [m for m in config["rectifier"]["models"] if m in MODELS]
MODALITIES = modality_registry.names()
SYNTHETIC = config["source"] == "synthetic"
FEATURE_GROUPS = feature_groups.selected(config["features"]["groups"], config["cohort"]["window"], tuple(config["tasks"]))
"""The groups of S this run builds (``features.groups``, or all that the window allows)."""
SQL_FEATURE_GROUPS = feature_groups.sql_groups(FEATURE_GROUPS)
SYNTHETIC_DIR = config["synthetic"]["out_dir"]
TEXT_KIND = {"T": "discharge", "R": "radiology"}
# One GPU for encoders and training unless the config pins them to the CPU (the SLURM plugin turns
# `gpu` into --gpus; locally it only limits how many such jobs run at once under --resources gpu=N).
EMBED_GPUS = 0 if config["embeddings"]["device"] == "cpu" else 1
TRAIN_GPUS = 0 if config["training"]["device"] == "cpu" else 1


def code(script):
    """The package modules ``workflow/scripts/<script>.py`` runs (its import closure), declared as
    inputs so that editing one reruns exactly the stages that import it, and what follows."""
    return [workflow_path(path) for path in import_closure(SCRIPTS / f"{script}.py", PACKAGE)]


def model_code(script):
    """Input function: the code a job of one model runs, ``script``'s closure plus that model's own
    module's (the registry names it; see :func:`model_code_files`)."""
    return lambda wildcards: model_code_files(script, model_registry.get(wildcards.model).module)


@functools.cache
def model_code_files(script, module):
    """``script``'s closure without the model registry, plus ``module``'s closure: editing a model's
    module reruns that model's jobs, editing a component reruns the models that import it. The
    registry is left out because the job's registry entry is a job parameter (see registry_entry):
    otherwise adding a model or tuning one's defaults would rerun every model."""
    return [workflow_path(path) for path in import_closure(SCRIPTS / f"{script}.py", PACKAGE, modules=(module,),
                                                           leave_out=(model_registry.__name__,))]


def registry_entry(wildcards):
    """The model's registry entry as its train and predict jobs use it (code, parameter defaults and
    search spaces, what it reads, whom it is restricted to): a rule parameter, so a change to it reruns
    that model's jobs although registry.py is none of their code inputs (:func:`model_code`)."""
    return model_registry.get(wildcards.model).job_entry(MODALITIES, config["model_params"].get(wildcards.model))


def sql(name):
    return workflow_path(SQL / name)


def source_inputs(wildcards):
    """Files the extraction reads: the generator's manifest, or the local PhysioNet tables used."""
    if SYNTHETIC:
        return [f"{SYNTHETIC_DIR}/manifest.json"]
    if config["source"] == "bigquery":
        return []
    folders = local_folders(config)
    return [str(folders["mimiciv"] / t) for t in (
        "hosp/admissions.csv.gz", "hosp/patients.csv.gz", "hosp/labevents.csv.gz",
        "icu/icustays.csv.gz", "icu/chartevents.csv.gz")]


def feature_group_inputs(wildcards):
    """The local PhysioNet tables one feature group's query reads (the manifest for synthetic data)."""
    if config["source"] != "local":
        return source_inputs(wildcards)
    folders = local_folders(config)
    query = (SQL / feature_groups.get(wildcards.group).sql).read_text()
    return [str(folders["mimiciv"] / dataset / f"{table}.csv.gz") for dataset, table in referenced_tables(query)]


def phenotype_inputs(wildcards):
    """The local diagnoses table phenotype_25's labels read (the manifest for synthetic data)."""
    if config["source"] != "local":
        return source_inputs(wildcards)
    return [str(local_folders(config)["mimiciv"] / "hosp" / "diagnoses_icd.csv.gz")]


def note_inputs(wildcards):
    folders = local_folders(config)
    if config["source"] != "local" or folders["note"] is None:
        return source_inputs(wildcards)
    return source_inputs(wildcards) + [str(folders["note"] / "note" / f"{wildcards.kind}.csv.gz")]


def cxr_folder():
    """Folder of MIMIC-CXR-JPG for this run, or None (then every I bit is 0)."""
    return local_folders(config)["cxr"]


def cxr_inputs(wildcards):
    folder = cxr_folder()
    if SYNTHETIC:
        return source_inputs(wildcards)
    return [str(folder / "mimic-cxr-2.0.0-metadata.csv.gz")] if folder else []


def model_params(name):
    """The model's hyperparameters, defaults filled in: a rule parameter, so changing one model's
    ``model_params`` reruns that model only."""
    return model_registry.get(name).resolve(config["model_params"].get(name))


def model_arrays(wildcards):
    """The model-input arrays the model reads (its ``reads`` under its parameters)."""
    spec = model_registry.get(wildcards.model)
    reads = spec.reads(MODALITIES, model_params(wildcards.model))
    return [f"data/model_input/{m}_series.npy" if form == "sequence" else f"data/model_input/{m}.npy"
            for m, form in reads.items()]


def evaluation_inputs(wildcards):
    """Prediction files of every run and variant of one model, for the observed scenario."""
    files = {"raw": expand(f"data/predictions/{wildcards.model}/observed/split{{split}}_init{{init}}.parquet", zip, **RUNS)}
    if wildcards.model in RECTIFIED:
        files["rectified"] = expand(f"data/predictions/{wildcards.model}/observed/split{{split}}_init{{init}}.rectified.parquet",
                                    zip, **RUNS)
        if config["rectifier"]["paper_crossfit_test"]:
            files["paper_crossfit_test"] = expand(
                f"data/predictions/{wildcards.model}/observed/split{{split}}_init{{init}}.rectified_paper_crossfit_test.parquet",
                zip, **RUNS)
    return files


def metric_files(wildcards=None):
    files = expand("results/models/{model}/metrics.csv", model=MODELS)
    if SYNTHETIC:
        files.append("results/oracle/metrics.csv")
    return files
