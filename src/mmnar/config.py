"""Checks that need more than the JSON schema: paths that must exist, combinations that must agree.

Called at workflow start so a wrong setting fails in one line before any job runs.
"""

from __future__ import annotations

from pathlib import Path


class ConfigError(ValueError):
    """A configuration value that cannot work; the message names the key."""


def require_folder(key: str, value: str | None, children: tuple[str, ...] = ()) -> None:
    if not value:
        raise ConfigError(f"config '{key}' is required for this source")
    folder = Path(value)
    if not folder.is_dir():
        raise ConfigError(f"config '{key}': folder {folder} does not exist")
    for child in children:
        if not (folder / child).exists():
            raise ConfigError(f"config '{key}': {folder} has no {child} (expected the PhysioNet layout)")


def check_config(config: dict) -> None:
    """Raise ``ConfigError`` for the first setting that cannot work."""
    local = config.get("local") or {}
    if config["source"] == "local":
        require_folder("local.mimiciv", local.get("mimiciv"), ("hosp", "icu"))
        if local.get("note"):
            require_folder("local.note", local["note"], ("note",))
    if config["source"] in ("local", "bigquery") and local.get("cxr"):
        require_folder("local.cxr", local["cxr"], ("mimic-cxr-2.0.0-metadata.csv.gz", "files"))
    if config["source"] == "bigquery":
        from mmnar.sources.bigquery import preflight

        preflight(config)
    training = config["training"]
    if training["hidden_dim"] % training["n_heads"]:
        raise ConfigError("config 'training.n_heads' must divide 'training.hidden_dim'")
    split = config["split"]
    if split["val_fraction"] + split["test_fraction"] >= 0.8:
        raise ConfigError("config 'split.val_fraction' + 'split.test_fraction' leave under 20 % for training")
