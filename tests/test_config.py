"""Configuration mistakes fail at parse time in one line that names the key (mmnar.config, rules/common.smk)."""

from __future__ import annotations

import copy
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from mmnar.config import (COMMON_ARCHS, ConfigError, check_config, error_line, fill_defaults, job_context,
                          load_schema, validate_config)
from mmnar.models.registry import specs
from workflow_runner import REPO, TINY_CONFIG, snakemake, write_config

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
UNCACHED_HUB_ID = "no-such-org/no-such-model-xyz"


def merged(base: dict, override: dict) -> dict:
    """``override`` merged into a copy of ``base`` the way snakemake merges --configfile files."""
    result = copy.deepcopy(base)
    for key, value in override.items():
        result[key] = merged(result[key], value) if isinstance(value, dict) and isinstance(result.get(key), dict) \
            else copy.deepcopy(value)
    return result


@pytest.fixture(scope="module")
def schema() -> dict:
    return load_schema(SCHEMA)


@pytest.fixture(scope="module")
def workflow_config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


@pytest.fixture
def config(workflow_config) -> dict:
    """config.yaml + tests/configs/tiny.yaml, as the tests' workflow runs see it."""
    return merged(workflow_config, yaml.safe_load(TINY_CONFIG.read_text()))


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a configuration check tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def schema_error(config: dict, schema: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        validate_config(config, schema)
    return one_line(caught.value)


def check_error(config: dict, **context) -> str:
    with pytest.raises(ConfigError) as caught:
        check_config(config, **context)
    return one_line(caught.value)


def one_line(error: ConfigError) -> str:
    message = str(error)
    assert "\n" not in message and message == message.strip(), message
    assert "'$schema'" not in message and "Failed validating" not in message, message
    return message


def cuda_visible() -> bool:
    import torch

    return torch.cuda.is_available()


# -- schema ----------------------------------------------------------------------------------------


def test_workflow_config_and_tiny_config_pass(workflow_config, config, schema):
    for candidate in (copy.deepcopy(workflow_config), config):
        validate_config(candidate, schema)
        check_config(candidate)


def test_validate_config_reads_the_schema_file(config):
    validate_config(config, SCHEMA)


def test_bad_enum_is_one_line_with_dotted_key(config, schema):
    config["cohort"]["window"] = "bogus"
    assert schema_error(config, schema) == "config 'cohort.window': 'bogus' is not one of ['paper', 'early']"


def test_unknown_top_level_key_lists_allowed_keys_not_the_schema(config, schema):
    config["foo"] = 1
    message = schema_error(config, schema)
    assert message.startswith("config 'foo': unknown key (allowed: source, synthetic, ")
    assert "reporting" in message and "description" not in message and len(message) < 300


def test_unknown_nested_key_suggests_the_close_one(config, schema):
    config["training"]["batch_sise"] = 4
    message = schema_error(config, schema)
    assert message.startswith("config 'training.batch_sise': unknown key (did you mean 'batch_size'? allowed: init_seeds, ")


def test_model_params_are_checked_against_the_models_own_parameters(config, schema):
    config["model_params"] = {"crl_mmnar": {"n_head": 4}}
    message = schema_error(config, schema)
    assert message.startswith("config 'model_params.crl_mmnar.n_head': unknown key (did you mean 'n_heads'? allowed: hidden_dim")
    config["model_params"] = {"drfuse": {"lambda_jsd": -1}}
    assert schema_error(config, schema).startswith("config 'model_params.drfuse.lambda_jsd': -1 is less than the minimum")
    config["model_params"] = {"gru_d": {}}
    assert "model_params" in schema_error(config, schema) and "gru_d" in schema_error(config, schema)


def test_model_names_come_from_the_registry(config, schema):
    config["models"] = ["crl_mmnar", "gru_d"]
    assert schema_error(config, schema).startswith("config 'models[1]': 'gru_d' is not one of ['crl_mmnar', ")
    config["models"] = ["crl_mmnar"]
    config["rectifier"]["models"] = ["crl_mnar"]
    assert "rectifier.models[0]" in schema_error(config, schema)


def test_models_all_is_every_registered_model_in_registry_order(config, schema):
    config["models"] = "all"
    validate_config(config, schema)
    assert config["models"] == list(specs())
    paper = yaml.safe_load((REPO / "configs" / "paper.yaml").read_text())
    assert paper["models"] == "all"


def test_wrong_type(config, schema):
    config["training"]["lr"] = "fast"
    assert schema_error(config, schema) == "config 'training.lr': 'fast' is not of type 'number'"


def test_wrong_type_in_a_list_names_the_item(config, schema):
    config["split"]["seeds"] = [0, "one"]
    assert schema_error(config, schema) == "config 'split.seeds[1]': 'one' is not of type 'integer'"


@pytest.mark.parametrize("path", [("quality",), ("training", "lr")])
def test_missing_required_key_is_named(config, schema, path):
    parent = config
    for part in path[:-1]:
        parent = parent[part]
    del parent[path[-1]]
    message = schema_error(config, schema)
    assert message.startswith(f"config '{'.'.join(path)}': required key is missing: add it")


def test_pattern_violation(config, schema):
    config["embeddings"]["device"] = "gpu"
    message = schema_error(config, schema)
    assert message.startswith("config 'embeddings.device': 'gpu' does not match ")


def test_schema_defaults_are_filled_in_nested_objects(config, schema):
    config["bigquery"] = {"project": "p", "datasets": {"icu": "mine.icu"}}
    validate_config(config, schema)
    assert config["bigquery"]["location"] == "US" and config["bigquery"]["anonymous"] is False
    assert config["bigquery"]["datasets"] == {"icu": "mine.icu", "hosp": "physionet-data.mimiciv_3_1_hosp",
                                              "note": "physionet-data.mimiciv_note"}


def test_fill_defaults_copies_and_leaves_absent_optional_objects_absent():
    schema = {"properties": {
        "a": {"type": "object", "properties": {"b": {"type": "object", "properties": {"c": {"default": [1]}}}}},
        "opt": {"type": "object", "properties": {"x": {"default": 1}}},
        "top": {"default": {"k": 1}},
    }}
    first, second = fill_defaults({"a": {"b": {}}}, schema), fill_defaults({"a": {"b": {}}}, schema)
    assert first == {"a": {"b": {"c": [1]}}, "top": {"k": 1}}
    first["a"]["b"]["c"].append(2)
    assert second["a"]["b"]["c"] == [1] and schema["properties"]["top"]["default"] == {"k": 1}


def test_schema_yaml_error_names_file_and_line(tmp_path):
    broken = tmp_path / "schema.yaml"
    broken.write_text("type: object\nproperties:\n  a: {type: string, description: x: y}\n")
    with pytest.raises(ConfigError) as caught:
        load_schema(broken)
    assert f"{broken} line 3" in one_line(caught.value)


def test_error_line_is_one_line():
    assert error_line(ConfigError("a\nb")) == "configuration error: a b"


# -- text encoder ----------------------------------------------------------------------------------


def test_hub_id_not_in_cache_while_offline(config):
    config["embeddings"]["text"]["encoder"] = UNCACHED_HUB_ID
    message = check_error(config)
    assert message.startswith(f"config 'embeddings.text.encoder': '{UNCACHED_HUB_ID}' is not a local folder, "
                              "is not in the local Hugging Face cache")
    assert "HF_HUB_OFFLINE=1" in message and f"huggingface-cli download {UNCACHED_HUB_ID}" in message


def test_transformers_offline_counts_as_offline(config, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "yes")
    config["embeddings"]["text"]["encoder"] = UNCACHED_HUB_ID
    assert "TRANSFORMERS_OFFLINE=yes" in check_error(config)


def test_hub_id_online_is_left_to_the_job_without_network(config, monkeypatch, no_network):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    config["embeddings"]["text"]["encoder"] = UNCACHED_HUB_ID
    check_config(config)


def test_missing_encoder_folder(config, tmp_path):
    config["embeddings"]["text"]["encoder"] = str(tmp_path / "models" / "bert")
    message = check_error(config)
    assert message.startswith("config 'embeddings.text.encoder': ")
    assert "is neither an existing folder nor a valid Hugging Face hub id" in message


def test_encoder_folder_without_config_json(config, tmp_path):
    config["embeddings"]["text"]["encoder"] = str(tmp_path)
    assert f"folder {tmp_path} has no config.json" in check_error(config)


def test_encoder_folder_with_config_json_passes(config, tmp_path):
    (tmp_path / "config.json").write_text("{}")
    config["embeddings"]["text"]["encoder"] = str(tmp_path)
    check_config(config)


# -- image encoder ---------------------------------------------------------------------------------


def test_common_architectures_are_torchvision_classification_models():
    """Their random or file weights are accepted without asking torchvision, so they must all be there."""
    import torchvision

    assert set(COMMON_ARCHS) <= set(torchvision.models.list_models(module=torchvision.models))


def test_unknown_architecture_lists_choices(config):
    config["embeddings"]["image"]["arch"] = "resnet9999"
    message = check_error(config)
    assert message.startswith("config 'embeddings.image.arch': 'resnet9999' is not a torchvision classification "
                              "model: use e.g. resnet")


def test_weights_path_that_does_not_exist(config, tmp_path):
    missing = tmp_path / "cxr_resnet18.pth"
    config["embeddings"]["image"]["weights"] = str(missing)
    assert check_error(config) == (
        f"config 'embeddings.image.weights': {missing} does not exist: give an existing state_dict file, "
        "'random', or a torchvision weights name (DEFAULT, IMAGENET1K_V1)")


def test_existing_weights_file_passes(config, tmp_path):
    (tmp_path / "weights.pt").write_bytes(b"")
    config["embeddings"]["image"]["weights"] = str(tmp_path / "weights.pt")
    check_config(config)


def test_unknown_weights_name_lists_the_valid_ones(config):
    config["embeddings"]["image"]["weights"] = "IMAGENET"
    message = check_error(config)
    assert message.startswith("config 'embeddings.image.weights': 'IMAGENET' is not a weights name of resnet18: "
                              "use DEFAULT, IMAGENET1K_V1, 'random'")


def test_weights_enum_not_in_torch_hub_cache_while_offline(config, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    config["embeddings"]["image"]["weights"] = "IMAGENET1K_V1"
    message = check_error(config)
    assert message.startswith("config 'embeddings.image.weights': IMAGENET1K_V1 (resnet18) needs "
                              "https://download.pytorch.org/models/resnet18-")
    assert str(tmp_path / "hub" / "checkpoints") in message and "HF_HUB_OFFLINE=1" in message
    assert "local state_dict path" in message


def test_weights_enum_in_torch_hub_cache_passes_offline(config, tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    url = torchvision.models.get_model_weights("resnet18")["DEFAULT"].url
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / Path(url).name).write_bytes(b"")
    config["embeddings"]["image"]["weights"] = "DEFAULT"
    check_config(config)


def test_weights_enum_online_is_left_to_the_job_without_network(config, tmp_path, monkeypatch, no_network):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    config["embeddings"]["image"]["weights"] = "IMAGENET1K_V1"
    check_config(config)


# -- devices and where the workflow is parsed ------------------------------------------------------


@pytest.mark.skipif("cuda_visible()", reason="this machine has a CUDA device")
@pytest.mark.parametrize("key", ["training.device", "embeddings.device"])
def test_cuda_without_cuda_device(config, key):
    section, name = key.split(".")
    config[section][name] = "cuda:0"
    assert check_error(config) == f"config '{key}': 'cuda:0' but this machine has no CUDA device: use 'auto' or 'cpu'"


@pytest.mark.skipif("cuda_visible()", reason="this machine has a CUDA device")
def test_cuda_is_not_checked_when_jobs_run_elsewhere(config):
    config["training"]["device"] = "cuda:0"
    check_config(config, local_jobs=False)


def test_jobs_skip_the_expensive_checks_but_not_the_cheap_ones(config):
    config["embeddings"]["text"]["encoder"] = UNCACHED_HUB_ID
    config["embeddings"]["image"]["arch"] = "resnet9999"
    config["training"]["device"] = "cuda:99"
    check_config(config, main_process=False, local_jobs=True)
    config["model_params"] = {"crl_mmnar": {"hidden_dim": 64, "n_heads": 3}}
    assert "model_params.crl_mmnar.n_heads" in check_error(config, main_process=False)


def test_job_context_reads_the_workflow():
    def plugin(local: bool):
        return SimpleNamespace(common_settings=SimpleNamespace(local_exec=local))

    assert job_context(SimpleNamespace(is_main_process=False, executor_plugin=plugin(True))) == {
        "main_process": False, "local_jobs": True}
    assert job_context(SimpleNamespace(is_main_process=True, executor_plugin=plugin(False))) == {
        "main_process": True, "local_jobs": False}
    # Neither an executor plugin nor snakemake's command line on the stack: do not claim local jobs.
    assert job_context(SimpleNamespace(is_main_process=True, executor_plugin=None)) == {
        "main_process": True, "local_jobs": False}


# -- through snakemake -----------------------------------------------------------------------------


def test_snakemake_stops_before_any_job_with_one_line(tmp_path):
    device = "cuda:0"
    if cuda_visible():
        import torch

        device = f"cuda:{torch.cuda.device_count()}"
    cuda = write_config(tmp_path / "cuda.yaml", {"training": {"device": device}})
    workdir = tmp_path / "run"
    result = snakemake(workdir, "--cores", "1", "results/table1.csv", configs=(TINY_CONFIG, cuda), check=False)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if "configuration error" in line]
    assert len(lines) == 1 and lines[0].startswith(f"configuration error: config 'training.device': '{device}' but")
    assert "Traceback" not in result.stderr and "WorkflowError" not in result.stderr
    assert not (workdir / "data").exists() and not (workdir / "results").exists()

    enum = write_config(tmp_path / "enum.yaml", {"cohort": {"window": "bogus"}})
    result = snakemake(workdir, "-n", "results/table1.csv", configs=(TINY_CONFIG, enum), check=False)
    assert result.returncode != 0
    condensed = "configuration error: config 'cohort.window': 'bogus' is not one of ['paper', 'early']"
    assert result.stderr.splitlines().count(condensed) == 1
    assert "Failed validating" not in result.stderr and "description" not in result.stderr


def test_split_seeds_picking_the_same_fold_fail_naming_the_key(config):
    config["split"].update(scheme="folds", seeds=[0, 5], test_fraction=0.2)
    assert check_error(config).startswith("config 'split.seeds': seeds 0 and 5 test the same fold of the 5 folds")


# -- tasks -----------------------------------------------------------------------------------------


def test_a_task_outside_its_window_fails_in_one_line(config):
    config["tasks"] = ["mortality_inhosp", "los_remaining"]
    config["cohort"]["window"] = "paper"
    assert check_error(config) == (
        "config 'tasks': los_remaining is predicted cohort.early_hours into the ICU stay, so it needs "
        "'cohort.window: early' (it is 'paper'); set cohort.window or remove the task")
    config["cohort"]["window"] = "early"
    config["cohort"]["early_hours"] = 24
    assert check_error(config).startswith("config 'cohort.early_hours': los_remaining's classes start at 48 h")
    config["cohort"]["early_hours"] = 48
    check_config(config)


def test_one_loss_weight_per_task(config):
    config["tasks"] = ["readmit_30d", "icu_90d"]
    config["training"]["lambda_pred"] = [1.0, 1.0, 1.0]
    assert check_error(config).startswith("config 'training.lambda_pred': 3 weights for 2 tasks")
    config["training"]["lambda_pred"] = None
    check_config(config)


def test_an_unknown_task_is_named_with_the_registered_ones(config, schema):
    config["tasks"] = ["readmission"]
    assert "'readmission' is not one of ['readmit_30d'" in schema_error(config, schema)
